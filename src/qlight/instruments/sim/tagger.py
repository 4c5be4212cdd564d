"""Twin backend of the HBT time tagger (:class:`~qlight.instruments.protocols.TimeTagger`).

``acquire(duration_s)`` generates exact photon streams of the emitters in the confocal
volume with :func:`qlight.physics.hbt.simulate_hbt`, in chunks of
``acquisition_chunk_s`` of simulated time. Per chunk, at its mid time:

* the focus (physical stage position) is mapped to the chip frame with the true transform
  and the drift (:meth:`TwinWorld.focus_chip_frame`), so drift during a long acquisition
  moves the emitter out of the focus;
* every emitter the confocal volume reaches becomes a
  :class:`~qlight.physics.hbt.PhotonSource`: its pump rate and photo-induced blink-off rate
  are scaled by the excitation-PSF factor E at its position (it sees the local intensity),
  ``eta`` = detection efficiency × detection-PSF factor D, and its runtime
  :class:`~qlight.physics.hbt.EmitterState` is passed so that bleaching and the blink state
  carry over between chunks and acquisitions;
* background spots and background PL at the focus enter as power-independent Poisson
  background per detector (half the detected background rate each).

Chunks are concatenated with their start offsets; a tag closer than the dead time to the
last tag of the previous chunk in the same channel is dropped (the detector was still dead).
An afterpulse pending across a chunk boundary is lost (probability ≈ p_ap × rate × chunk
edge effects, negligible). Pair correlations across boundaries are kept up to the emitter
being restarted from its stored state (level populations restart from the ground state:
an error of order τ/chunk ≈ 1e-8 of the pairs).

``count_rates(duration_s)`` is the cheap reading: Poisson counts around the expected
registered rate per detector (mean emission rate including blinking, dead time and
afterpulsing in closed form), and the emitters' budgets are consumed by their expected
emission.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from qlight._validation import check_positive
from qlight.errors import ParameterError
from qlight.instruments.protocols import (
    CancelToken,
    CountRates,
    ProgressCallback,
    TagData,
    check_cancel,
)
from qlight.instruments.sim.world import FocusEmitters, TwinWorld
from qlight.physics.detectors import registered_rate_per_s
from qlight.physics.hbt import (
    ChunkJoiner,
    HBTSetup,
    PhotonSource,
    detected_photon_rate_per_s,
    simulate_hbt,
)

__all__ = ["MAX_ACQUISITION_S", "SimTimeTagger", "expected_focus_rates"]

#: Longest single acquisition, s.
MAX_ACQUISITION_S = 3600.0


def expected_focus_rates(
    world: TwinWorld, fe: FocusEmitters, xc_m: float, yc_m: float, depth_m: float
) -> tuple[NDArray[np.float64], float, float]:
    """Expected emission per focus emitter, detected signal and background (both detectors).

    Returns ``(emitted_per_s[k], signal_per_s, background_per_s)``: the time-averaged emission
    rate of each emitter at its local power, CW or pulsed as the laser is set, blinking
    included (:func:`qlight.physics.hbt.detected_photon_rate_per_s` with η = 1: the exact
    stationary 4-state chain in CW, the pulsed model otherwise), the sum of η·D·emission
    over them, and the background rate at the focus.
    """
    excitation = world.laser.excitation()
    if excitation.power_w <= 0.0:
        return np.zeros(fe.index.size), 0.0, 0.0
    emitted = np.array(
        [
            detected_photon_rate_per_s(
                PhotonSource(world.local_photophysics(int(i), float(e)), eta=1.0), excitation
            )
            for i, e in zip(fe.index, fe.excitation, strict=True)
        ],
        dtype=np.float64,
    )
    signal = float(np.sum(emitted * fe.eta * fe.detection))
    return emitted, signal, world.background_rate_per_s(xc_m, yc_m, depth_m)


class SimTimeTagger:
    """The twin's two-channel HBT time tagger; see the module docstring."""

    def __init__(self, world: TwinWorld) -> None:
        self._world = world

    @property
    def n_channels(self) -> int:
        """Two detectors behind a 50:50 beam splitter."""
        return 2

    @property
    def resolution_ps(self) -> int:
        """Tagger resolution."""
        return int(self._world.tagger.resolution_ps)

    def _focus(self, t_s: float) -> tuple[float, float, float]:
        w = self._world
        x, y, z = w.stage.position_m
        xc, yc, dep = w.focus_chip_frame(x, y, z, t_s)
        return float(xc), float(yc), float(dep)

    def _chunks(self, duration_s: float) -> list[int]:
        d = check_positive("duration_s", duration_s)
        if d > MAX_ACQUISITION_S:
            raise ParameterError("duration_s", duration_s, f"must be <= {MAX_ACQUISITION_S}")
        res = self.resolution_ps
        total_ps = max(res, round(d * 1e12 / res) * res)
        chunk_ps = max(res, math.floor(self._world.acquisition_chunk_s * 1e12 / res) * res)
        sizes = [chunk_ps] * (total_ps // chunk_ps)
        if total_ps % chunk_ps:
            sizes.append(total_ps % chunk_ps)
        return sizes

    def acquire(
        self,
        duration_s: float,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> TagData:
        """Record time tags at the current focus for ``duration_s`` (progress per chunk)."""
        w = self._world
        sizes = self._chunks(duration_s)
        t_start = w.clock.now_s()
        setup_base = HBTSetup(detectors=(w.detector, w.detector), tagger=w.tagger)
        dead = int(w.detector.dead_time_ps)
        joiner = ChunkJoiner((dead, dead))
        offset = 0
        for k, size_ps in enumerate(sizes):
            check_cancel(cancel, "acquire", k, len(sizes))
            t_mid = w.clock.now_s() + 0.5 * size_ps * 1e-12
            xc, yc, dep = self._focus(t_mid)
            fe = w.focus_emitters(xc, yc, dep)
            excitation = w.laser.excitation()
            on = excitation.power_w > 0.0
            sources = (
                [
                    PhotonSource(
                        w.local_photophysics(int(i), float(e)),
                        eta=float(min(1.0, eta * d)),
                        state=w.emitter_states[int(i)],
                    )
                    for i, e, d, eta in zip(
                        fe.index, fe.excitation, fe.detection, fe.eta, strict=True
                    )
                ]
                if on
                else []
            )
            bg = w.background_rate_per_s(xc, yc, dep) if on else 0.0
            setup = HBTSetup(
                detectors=setup_base.detectors,
                tagger=setup_base.tagger,
                background_cps=0.5 * bg,
            )
            tags = simulate_hbt(sources, excitation, setup, size_ps * 1e-12, w.rngs.tagger)
            joiner.add(tags.t_ps, offset)
            offset += size_ps
            w.clock.advance(size_ps * 1e-12)
            if progress is not None:
                progress(k + 1, len(sizes))
        return TagData(
            t_ps=joiner.result(),
            duration_ps=offset,
            resolution_ps=self.resolution_ps,
            t_start_s=t_start,
        )

    def count_rates(self, duration_s: float) -> CountRates:
        """Counts per detector over ``duration_s`` from the expected rates (see module doc)."""
        w = self._world
        sizes = self._chunks(duration_s)
        t_start = w.clock.now_s()
        counts = np.zeros(2, dtype=np.int64)
        det = w.detector
        for size_ps in sizes:
            dt = size_ps * 1e-12
            xc, yc, dep = self._focus(w.clock.now_s() + 0.5 * dt)
            fe = w.focus_emitters(xc, yc, dep)
            emitted, signal, bg = expected_focus_rates(w, fe, xc, yc, dep)
            incoming = 0.5 * (signal + bg) + det.dark_cps
            mean = registered_rate_per_s(incoming, det) * dt
            counts += w.rngs.counts.poisson(mean, 2)
            for i, r in zip(fe.index, emitted, strict=True):
                w.consume_budget(int(i), float(r) * dt)
            w.clock.advance(dt)
        total_s = sum(sizes) * 1e-12
        return CountRates(
            counts=(int(counts[0]), int(counts[1])), duration_s=total_s, t_start_s=t_start
        )
