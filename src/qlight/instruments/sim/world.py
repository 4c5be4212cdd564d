"""The one shared world of the twin: chip, stage, laser, detectors, runtime state, clock.

Every twin instrument (:mod:`qlight.instruments.sim`) is a thin view on one
:class:`TwinWorld`: moving the stage, scanning, acquiring and power cycling all change this
world and advance its :class:`~qlight.instruments.sim.clock.SimClock`. The world evolves
with time: the sample drifts (:meth:`qlight.physics.stage.StageModel.drift_offsets_m`,
driven by the warm-up temperature of :mod:`qlight.physics.thermal`), emitters consume their
photon budgets whenever the laser excites them (scans, acquisitions, count-rate readings)
and bleach when it is spent, blinking emitters keep their on/off state between
acquisitions, and a power cycle re-homes the stage under a new, unknown transform.

Only the composition root, the evaluation interface (:mod:`qlight.instruments.sim.truth`)
and tests see this module.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_finite
from qlight.errors import ParameterError
from qlight.instruments.protocols import StagePosition
from qlight.instruments.sim.clock import SimClock
from qlight.physics.chip import BackgroundSpot, Chip
from qlight.physics.detectors import SPADModel, TimeTaggerModel
from qlight.physics.emitter import EmitterPhotophysics
from qlight.physics.hbt import EmitterState, Excitation
from qlight.physics.optics import (
    Objective,
    actual_focus_depth_m,
    confocal_sigmas_m,
    detection_efficiencies,
    pl_rate_map,
)
from qlight.physics.reflection import ReflectionChannel
from qlight.physics.stage import PowerCycleResult, StageModel
from qlight.physics.thermal import ThermalModel
from qlight.physics.turnover import draw_turnover

__all__ = ["FocusEmitters", "LaserState", "TwinWorld", "WorldRngs"]

F64 = NDArray[np.float64]

#: Emitters whose confocal PSF factor at the focus is below this are ignored (the same
#: 6σ cut-off as :func:`qlight.physics.optics.pl_rate_map`, exp(−18)).
PSF_CUTOFF = math.exp(-18.0)

#: Tag that separates the instrument streams from the chip's ``SeedSequence(seed)``.
_STREAM_TAG = 0x51_16_47


@dataclass(slots=True)
class LaserState:
    """Mutable state of the excitation laser (read by every optical instrument)."""

    wavelength_nm: float
    max_power_w: float
    power_w: float = 1e-3
    on: bool = False
    rep_rate_hz: float | None = None
    pulse_width_ps: float = 50.0

    @property
    def power_at_sample_w(self) -> float:
        """Power reaching the sample now (0 while off)."""
        return self.power_w if self.on else 0.0

    def excitation(self) -> Excitation:
        """The :class:`~qlight.physics.hbt.Excitation` for the photon generator."""
        return Excitation(
            power_w=self.power_at_sample_w,
            rep_rate_hz=self.rep_rate_hz,
            pulse_width_ps=self.pulse_width_ps,
        )


@dataclass(frozen=True, slots=True)
class WorldRngs:
    """Independent random streams of the instruments, one per subsystem.

    Spawned from ``SeedSequence([seed, tag])``, which is independent of the chip's
    ``SeedSequence(seed)``; adding draws in one instrument never changes another's stream.
    """

    mount: np.random.Generator
    stage: np.random.Generator
    scan: np.random.Generator
    tagger: np.random.Generator
    counts: np.random.Generator
    spectrometer: np.random.Generator
    thermometer: np.random.Generator
    power: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int) -> WorldRngs:
        """The streams of a twin with master seed ``seed``."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ParameterError("seed", seed, "must be an integer >= 0")
        children = np.random.SeedSequence([seed, _STREAM_TAG]).spawn(8)
        return cls(*(np.random.default_rng(c) for c in children))


@dataclass(frozen=True)
class FocusEmitters:
    """Emitters that the confocal volume at one focus position reaches.

    For each (index ``index[k]``): ``excitation[k]`` the excitation-PSF factor E (the
    emitter is pumped by ``E × power``), ``detection[k]`` the detection-PSF factor D at its
    ZPL, ``eta[k]`` the detection efficiency at the focus centre η (collection × structure
    × transmission × detector), so an emitted photon is detected with probability η·D.
    """

    index: NDArray[np.int64]
    excitation: F64
    detection: F64
    eta: F64


class TwinWorld:
    """State of the simulated instrument and sample (ground truth; see module docstring).

    Parameters
    ----------
    chip : Chip
        The sample.
    stage : StageModel
        Stage, true chip→stage transform, drift and power-cycle model.
    objective : Objective
        Objective and detection path.
    detector : SPADModel
        Single-photon detector of each HBT arm (also the scan detector pair).
    tagger : TimeTaggerModel
        Time tagger behind the detectors.
    reflection : ReflectionChannel
        Photodiode of the reflection channel.
    laser : LaserState
        Laser state (wavelength, limits, settings).
    clock : SimClock
        Simulated clock.
    rngs : WorldRngs
        Random streams.
    line_flyback_s : float
        Scanner flyback per line.
    acquisition_chunk_s : float
        Chunk length of tag generation (see :class:`~qlight.device.config.TwinConfig`).
    """

    def __init__(
        self,
        *,
        chip: Chip,
        stage: StageModel,
        objective: Objective,
        detector: SPADModel,
        tagger: TimeTaggerModel,
        reflection: ReflectionChannel,
        laser: LaserState,
        clock: SimClock,
        rngs: WorldRngs,
        line_flyback_s: float = 5e-3,
        acquisition_chunk_s: float = 1.0,
    ) -> None:
        self.chip = chip
        self.stage = stage
        self.objective = objective
        self.detector = detector
        self.tagger = tagger
        self.reflection = reflection
        self.laser = laser
        self.clock = clock
        self.rngs = rngs
        self.line_flyback_s = line_flyback_s
        self.acquisition_chunk_s = acquisition_chunk_s
        self.thermal = ThermalModel(stage.config.thermal)
        self.emitter_states: tuple[EmitterState, ...] = tuple(
            EmitterState(remaining_budget=e.photon_budget) for e in chip.emitters
        )
        self.extra_spots: tuple[BackgroundSpot, ...] = ()
        self.power_cycles: list[PowerCycleResult] = []
        #: Identity of the physical emitter in each array slot (a slot is reused when
        #: turnover replaces a permanently bleached emitter by a new one).
        self.emitter_uid: NDArray[np.int64] = np.arange(len(chip.emitters), dtype=np.int64)
        #: Per power cycle with turnover: ``(cycle number, slots, gone uids, new uids)``.
        self.turnover_log: list[
            tuple[int, NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]
        ] = []
        self._next_uid = len(chip.emitters)
        self.power_on_s = clock.now_s()
        self.stage_target_m: tuple[float, float, float] = stage.position_m
        # stray light on the detectors (fault injection, :mod:`qlight.instruments.sim.faults`)
        self.stray_light_until_s = -math.inf
        self.stray_light_rate_per_s = 0.0

    # ------------------------------------------------------------------ time and stage
    def time_since_power_on_s(self, t_s: float | None = None) -> float:
        """Simulated seconds since the last power-on at clock time ``t_s`` (default now)."""
        t = self.clock.now_s() if t_s is None else t_s
        return max(0.0, t - self.power_on_s)

    def move_stage(self, x_m: float, y_m: float, z_m: float | None = None) -> StagePosition:
        """Move the stage (costs move + settle time); return the encoder reading.

        Commanding the current target again is free (the closed loop is already there).
        """
        z = self.stage_target_m[2] if z_m is None else z_m
        x, y, z = (check_finite(n, v) for n, v in (("x_m", x_m), ("y_m", y_m), ("z_m", z)))
        if (x, y, z) == self.stage_target_m:
            return self.encoder()
        *_, duration = self.stage.move(x, y, z, self.time_since_power_on_s())
        self.stage_target_m = (x, y, z)
        self.clock.advance(duration)
        return self.encoder()

    def encoder(self) -> StagePosition:
        """What the closed-loop controller reports: its target, which its sensor holds.

        The physical position differs by the closed-loop repeatability noise and, relative
        to the sample, by drift; neither is visible to the encoder.
        """
        x, y, z = self.stage_target_m
        return StagePosition(x, y, z)

    def drift_m(self, t_s: ArrayLike) -> F64:
        """Sample drift ``(dx, dy, dz)`` at clock times ``t_s``, shape (..., 3)."""
        t = np.maximum(np.asarray(t_s, dtype=np.float64) - self.power_on_s, 0.0)
        return self.stage.drift_offsets_m(t)

    def focus_chip_frame(
        self, x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike, t_s: ArrayLike
    ) -> tuple[F64, F64, F64]:
        """Chip-frame ``(x, y)`` under the focus and its nominal depth below the surface.

        For physical stage positions ``(x_m, y_m, z_m)`` at clock times ``t_s`` (all
        broadcast together): chip = T⁻¹(p − d_xy(t)), depth = z − (z_focus + d_z(t)), the
        convention of :meth:`qlight.physics.stage.StageModel.focus_in_chip_frame`, here with
        a drift evaluated per point.
        """
        x, y, z, t = np.broadcast_arrays(
            *(np.asarray(v, dtype=np.float64) for v in (x_m, y_m, z_m, t_s))
        )
        d = self.drift_m(t)
        xc, yc = self.stage.transform.stage_to_chip(x - d[..., 0], y - d[..., 1])
        depth: F64 = z - (self.stage.focus_offset_m + d[..., 2])
        return xc, yc, depth

    def focus_now(self) -> tuple[float, float, float]:
        """Chip-frame focus ``(x, y, nominal depth)`` now, at the physical stage position."""
        x, y, z = self.stage.position_m
        xc, yc, dep = self.focus_chip_frame(x, y, z, self.clock.now_s())
        return float(xc), float(yc), float(dep)

    # ------------------------------------------------------------------ optics helpers
    @property
    def laser_wavelength_m(self) -> float:
        """Excitation wavelength in metres."""
        return self.laser.wavelength_nm * 1e-9

    @cached_property
    def eta(self) -> F64:
        """Detection efficiency of every emitter at the focus centre (both detectors)."""
        return detection_efficiencies(self.chip, self.objective, self.detector)

    @cached_property
    def psf_sigmas(self) -> tuple[float, float, F64, F64]:
        """Gaussian σ (m) of the excitation PSF (lateral, axial) and of every emitter's
        detection PSF (lateral, axial arrays), from
        :func:`~qlight.physics.optics.confocal_sigmas_m`."""
        s = confocal_sigmas_m(
            self.laser_wavelength_m,
            self.chip.arrays.zpl_nm * 1e-9,
            self.objective,
            self.chip.config.refractive_index,
        )
        return s.ex_xy, s.ex_z, s.det_xy, s.det_z

    def emitter_scale(self, power_w: float) -> F64:
        """Runtime brightness factor per emitter: 0 if bleached, the blinking on-fraction at
        ``power_w`` for blinking emitters, else 1 (used for expected-rate images)."""
        scale = np.ones(len(self.emitter_states))
        for i, (e, st) in enumerate(zip(self.chip.emitters, self.emitter_states, strict=True)):
            if st.bleached:
                scale[i] = 0.0
            elif e.photophysics.blinking is not None:
                scale[i] = e.photophysics.blinking.on_fraction(power_w)
        return scale

    def focus_emitters(self, xc_m: float, yc_m: float, depth_m: float) -> FocusEmitters:
        """Emitters reached by a focus at chip ``(xc_m, yc_m)``, nominal depth ``depth_m``.

        Gaussian excitation and detection PSFs of :func:`qlight.physics.optics.confocal_sigmas_m`
        (the model of :func:`~qlight.physics.optics.pl_rate_map`); bleached emitters are
        excluded; emitters with E·D < exp(−18) are ignored.
        """
        a = self.chip.arrays
        if a.x_m.size == 0:
            empty = np.zeros(0)
            return FocusEmitters(np.zeros(0, dtype=np.int64), empty, empty, empty)
        zf = float(actual_focus_depth_m(depth_m, self.objective, self.chip.config.refractive_index))
        ex_xy, ex_z, det_xy, det_z = self.psf_sigmas
        r2 = (a.x_m - xc_m) ** 2 + (a.y_m - yc_m) ** 2
        dz2 = (a.depth_m - zf) ** 2
        exc = np.exp(-r2 / (2 * ex_xy**2) - dz2 / (2 * ex_z**2))
        det = np.exp(-r2 / (2 * det_xy**2) - dz2 / (2 * det_z**2))
        alive = np.array([not s.bleached for s in self.emitter_states], dtype=np.bool_)
        idx = np.flatnonzero((exc * det > PSF_CUTOFF) & alive).astype(np.int64)
        return FocusEmitters(idx, exc[idx], det[idx], self.eta[idx])

    def local_photophysics(self, index: int, excitation_factor: float) -> EmitterPhotophysics:
        """The emitter's photophysics as seen at the laser power × ``excitation_factor``.

        The pump rate k12 and the photo-induced blink-off rate are both linear in the local
        intensity, so scaling their per-watt coefficients by E lets the photon generator run
        at the laser's nominal power.
        """
        pp = self.chip.emitters[index].photophysics
        e = max(float(excitation_factor), 1e-300)
        blink = pp.blinking
        if blink is not None:
            blink = dataclasses.replace(blink, off_rate_per_s_per_w=blink.off_rate_per_s_per_w * e)
        return dataclasses.replace(pp, k12_per_ns_per_w=pp.k12_per_ns_per_w * e, blinking=blink)

    def background_rate_per_s(self, xc_m: float, yc_m: float, depth_m: float) -> float:
        """Detected background (spots + background PL, both detectors) at a focus, counts/s."""
        stray = (
            self.stray_light_rate_per_s if self.clock.now_s() < self.stray_light_until_s else 0.0
        )
        p = self.laser.power_at_sample_w
        if p <= 0.0:
            return stray
        rate = pl_rate_map(
            self.chip,
            np.array([xc_m]),
            np.array([yc_m]),
            depth_m,
            p,
            self.objective,
            self.detector,
            excitation_wavelength_m=self.laser_wavelength_m,
            emitter_scale=np.zeros(self.chip.arrays.x_m.size),
            extra_spots=self.extra_spots,
        )
        return float(rate[0]) + stray

    def consume_budget(self, index: int, emitted_photons: float) -> None:
        """Spend ``emitted_photons`` of an emitter's budget; it bleaches when it reaches 0."""
        st = self.emitter_states[index]
        if st.bleached or not math.isfinite(st.remaining_budget):
            return
        st.remaining_budget = max(0.0, st.remaining_budget - emitted_photons)
        if st.remaining_budget <= 0.0:
            st.bleached = True

    # ------------------------------------------------------------------ power cycle
    def power_cycle(self, boot_time_s: float, *, reseated: bool = False) -> PowerCycleResult:
        """Switch off and on: the stage re-homes under a new transform, drift restarts,
        new background spots may appear, the laser comes up off; bleached emitters stay
        bleached. Costs ``boot_time_s`` on the clock (power-on is at its end)."""
        self.clock.advance(boot_time_s)
        result = self.stage.power_cycle(self.rngs.power, reseated=reseated, chip=self.chip)
        self.extra_spots = (*self.extra_spots, *result.new_spots)
        self.power_cycles.append(result)
        if self.stage.config.emitter_turnover > 0.0:
            self._turnover(self.stage.config.emitter_turnover)
        self.power_on_s = self.clock.now_s()
        self.stage_target_m = self.stage.position_m
        self.laser.on = False
        return result

    def _turnover(self, fraction: float) -> None:
        """Permanent bleaching plus newly activated emitters (:mod:`qlight.physics.turnover`).

        Draws from a child of the power stream spawned after the stage's draws, so a twin
        without turnover is unchanged. Replaced slots get fresh runtime states and uids.
        """
        alive = np.array([not s.bleached for s in self.emitter_states], dtype=np.bool_)
        (rng,) = self.rngs.power.spawn(1)
        out = draw_turnover(self.chip, alive, fraction, rng)
        if out.slots.size == 0:
            return
        self.chip = out.chip
        for key in ("eta", "psf_sigmas"):  # cached per chip
            self.__dict__.pop(key, None)
        states = list(self.emitter_states)
        for slot in out.slots.tolist():
            states[slot] = EmitterState(remaining_budget=self.chip.emitters[slot].photon_budget)
        self.emitter_states = tuple(states)
        gone = self.emitter_uid[out.slots].copy()
        new = np.arange(self._next_uid, self._next_uid + out.slots.size, dtype=np.int64)
        self._next_uid += int(out.slots.size)
        self.emitter_uid[out.slots] = new
        self.turnover_log.append((len(self.power_cycles), out.slots, gone, new))
