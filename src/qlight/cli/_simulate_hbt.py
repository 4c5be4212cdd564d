"""Implementation of ``qlight simulate hbt``: build the twin, acquire, write, summarise.

Kept apart from the typer declarations in :mod:`qlight.cli.simulate` so that it can be
tested in-process. This is the twin's own tool and sees ground truth (the chip's emitters):
it is the documented exception of the ground-truth contract (``docs/architecture.md``).

Model choice (``docs/twin/timetags-and-cli.md``):

* no ``--k12/--k21/--k23/--k31``: the first isolated emitter of the preset's chip generated
  with ``--seed``; η from the preset's optics (:func:`qlight.physics.optics.detection_efficiency`)
  and the chip's smooth background PL at the emitter, split equally between the detectors;
* any ``--kXY`` given: a three-level emitter with those rates and the typical values below for
  the others, ``k12`` meaning the pump rate at the operating power (1 mW unless
  ``--power-mw``), so ``k12_per_ns_per_w = k12 / power_w``; η defaults to the preset's
  reference detection efficiency, background to 0.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qlight import __version__
from qlight.cli._hbt_options import HBTOptions, validate_options
from qlight.errors import ParameterError
from qlight.physics.chip import Chip, generate_chip
from qlight.physics.emitter import Blinking, EmitterPhotophysics
from qlight.physics.hbt import (
    ChunkJoiner,
    EmitterState,
    Excitation,
    HBTSetup,
    PhotonSource,
    simulate_hbt,
)
from qlight.physics.optics import detection_efficiency
from qlight.physics.presets import Preset, get_preset
from qlight.timetags.g2 import g2_at_zero, g2_cw, g2_pulsed_ratio
from qlight.timetags.photon_hdf5 import DetectorInfo, read_photon_hdf5, write_photon_hdf5

__all__ = [
    "DEFAULT_RATES_PER_NS",
    "HBTRun",
    "HBTSummary",
    "build_run",
    "n_blocks",
    "run_hbt",
    "summarize",
]

#: Typical three-level rates (1/ns) used for the ``--kXY`` flags that are not given: lifetime
#: 1/(k21 + k23) ≈ 2 ns and metastable lifetime 1/k31 = 200 ns, inside the 1–3 ns and
#: 10–500 ns estimates of REFERENCES.md; k12 = 0.05/ns is well below saturation
#: (k12_sat = k31 (k21 + k23)/(k31 + k23) ≈ 0.17/ns).
DEFAULT_RATES_PER_NS = {"k12": 0.05, "k21": 0.5, "k23": 0.01, "k31": 0.005}
#: Operating power when ``--power-mw`` is not given.
DEFAULT_POWER_W = 1e-3
#: Length of one simulated block (progress granularity); fixed so results never depend on it.
CHUNK_PS = 10**12
#: g2(0) estimate: CW histogram bin and central half width, pulsed side peaks.
G2_BIN_PS = 50
G2_HALF_WIDTH_PS = 250
G2_WINDOW_PS = 100_000
G2_SIDE_PEAKS = 5


@dataclass(frozen=True)
class HBTRun:
    """Everything one acquisition needs, and the parameters to record."""

    source: PhotonSource
    excitation: Excitation
    setup: HBTSetup
    duration_ps: int
    preset: Preset
    parameters: dict[str, Any]


def _typical_blinking(preset: Preset) -> Blinking:
    """Blinking rates at the geometric centre of the preset chip's log-uniform ranges."""
    c = preset.chip

    def mid(r: tuple[float, float]) -> float:
        return math.sqrt(r[0] * r[1])

    return Blinking(
        mid(c.blink_off_rate_per_s_per_w), mid(c.blink_off_rate_per_s), mid(c.blink_on_rate_per_s)
    )


def _chip_emitter(chip: Chip) -> int:
    """Index of the emitter used without model flags: the first one with no close companion."""
    for e in chip.emitters:
        if e.cluster == -1:
            return e.index
    if not chip.emitters:
        raise ParameterError("--seed", chip.seed, "gives a chip without emitters")
    return chip.emitters[0].index


def build_run(o: HBTOptions) -> HBTRun:
    """Validate the options and assemble source, excitation and setup (no simulation)."""
    validate_options(o)
    try:
        preset = get_preset(o.preset)
    except ParameterError as exc:
        raise ParameterError("--preset", o.preset, exc.requirement) from None
    power_w = DEFAULT_POWER_W if o.power_mw is None else o.power_mw * 1e-3
    flags = {"k12": o.k12, "k21": o.k21, "k23": o.k23, "k31": o.k31}
    explicit = any(v is not None for v in flags.values())
    spad = preset.detector
    changes: dict[str, Any] = {}
    if o.dark_cps is not None:
        changes["dark_cps"] = float(o.dark_cps)
    if o.dead_time_ns is not None:
        changes["dead_time_ps"] = round(o.dead_time_ns * 1000.0)
    if o.jitter_ps is not None:
        changes["jitter_fwhm_ps"] = float(o.jitter_ps)
    if o.afterpulse_prob is not None:
        changes["afterpulse_prob"] = float(o.afterpulse_prob)
    spad = dataclasses.replace(spad, **changes)
    emitter_index: int | None = None
    if explicit:
        k = {
            name: DEFAULT_RATES_PER_NS[name] if v is None else float(v) for name, v in flags.items()
        }
        photophysics = EmitterPhotophysics(
            k12_per_ns_per_w=k["k12"] / power_w,
            k21_per_ns=k["k21"],
            k23_per_ns=k["k23"],
            k31_per_ns=k["k31"],
            qe=1.0 if o.qe is None else float(o.qe),
            blinking=None if o.no_blinking else _typical_blinking(preset),
        )
        eta = preset.chip.reference_detection_efficiency if o.eta is None else float(o.eta)
        background_per_w = 0.0
    else:
        chip = generate_chip(preset.chip, o.seed)
        emitter_index = _chip_emitter(chip)
        emitter = chip.emitters[emitter_index]
        photophysics = emitter.photophysics
        if o.qe is not None:
            photophysics = dataclasses.replace(photophysics, qe=float(o.qe))
        if o.no_blinking:
            photophysics = dataclasses.replace(photophysics, blinking=None)
        eta = (
            detection_efficiency(emitter, preset.objective, preset.detector)
            if o.eta is None
            else float(o.eta)
        )
        # Detected background PL of the whole confocal channel, half on each detector.
        background_per_w = 0.5 * float(chip.background_pl_per_s_per_w(emitter.x_m, emitter.y_m))
    background_cps = 0.0
    if o.background_cps is not None:
        background_per_w, background_cps = 0.0, float(o.background_cps)
    rep_rate_hz = None if o.rep_rate_mhz is None else o.rep_rate_mhz * 1e6
    excitation = Excitation(power_w=power_w, rep_rate_hz=rep_rate_hz)
    setup = HBTSetup(
        detectors=(spad, spad), background_cps_per_w=background_per_w, background_cps=background_cps
    )
    rates = photophysics.rates_at(power_w)
    blink = photophysics.blinking
    parameters: dict[str, Any] = {
        "command": "qlight simulate hbt",
        "qlight_version": __version__,
        "preset": preset.name,
        "seed": o.seed,
        "duration_s": o.duration_s,
        "emitter_source": "flags" if explicit else "chip",
        "chip_emitter_index": emitter_index,
        "power_w": power_w,
        "rep_rate_hz": rep_rate_hz,
        "pulse_width_ps": excitation.pulse_width_ps if rep_rate_hz is not None else None,
        "excitation_wavelength_m": preset.laser_wavelength_m,
        "k12_per_ns": rates.k12_per_ns,
        "k21_per_ns": rates.k21_per_ns,
        "k23_per_ns": rates.k23_per_ns,
        "k31_per_ns": rates.k31_per_ns,
        "k12_per_ns_per_w": photophysics.k12_per_ns_per_w,
        "qe": rates.qe,
        "blinking": None if blink is None else dataclasses.asdict(blink),
        "photon_budget": None
        if math.isinf(photophysics.photon_budget)
        else photophysics.photon_budget,
        "zpl_nm": photophysics.zpl_nm,
        "eta": eta,
        "split_ratio": setup.split_ratio,
        "background_cps_per_detector": setup.background_per_detector_cps(power_w),
        "dark_cps": spad.dark_cps,
        "dead_time_ns": spad.dead_time_ps / 1000.0,
        "jitter_fwhm_ps": spad.jitter_fwhm_ps,
        "afterpulse_prob": spad.afterpulse_prob,
        "afterpulse_delay_ps": spad.afterpulse_delay_ps,
        "tagger_resolution_ps": setup.tagger.resolution_ps,
    }
    return HBTRun(
        source=PhotonSource(photophysics, eta),
        excitation=excitation,
        setup=setup,
        duration_ps=max(1, round(o.duration_s * 1e12)),
        preset=preset,
        parameters=parameters,
    )


def _block_edges_ps(run: HBTRun) -> list[int]:
    """Block boundaries: 1 s blocks (CW) or whole numbers of laser periods close to 1 s."""
    total = run.duration_ps
    rep = run.excitation.rep_rate_hz
    if rep is None:
        step = float(CHUNK_PS)
    else:
        period = 1e12 / rep
        step = max(1, round(CHUNK_PS / period)) * period
    n = max(1, math.ceil(total / step))
    return [min(total, round(k * step)) for k in range(n)] + [total]


def run_hbt(
    run: HBTRun, rng: np.random.Generator, advance: Any = None
) -> tuple[tuple[NDArray[np.int64], NDArray[np.int64]], int]:
    """Acquire ``run.duration_ps`` in blocks; return the two channels and the emitted photons.

    The emitter state (budget, blink state, bleaching) carries over between blocks; tags
    jittered outside the acquisition window ``[0, duration)`` are dropped, as a tagger that
    records only during the acquisition would.
    """
    ph = run.source.photophysics
    state = EmitterState.fresh(ph, rng)
    if ph.blinking is not None:
        state.blink_on = bool(rng.random() < ph.blinking.on_fraction(run.excitation.power_w))
    source = PhotonSource(ph, run.source.eta, state)
    edges = _block_edges_ps(run)
    joiner = ChunkJoiner((run.setup.detectors[0].dead_time_ps, run.setup.detectors[1].dead_time_ps))
    emitted = 0
    for start, stop in itertools.pairwise(edges):
        tags = simulate_hbt([source], run.excitation, run.setup, (stop - start) * 1e-12, rng)
        emitted += sum(tags.emitted_photons)
        joiner.add(tags.t_ps, start)
        if advance is not None:
            advance(1)
    out = []
    for t in joiner.result():
        lo, hi = np.searchsorted(t, [0, run.duration_ps], side="left")
        out.append(np.ascontiguousarray(t[lo:hi]))
    return (out[0], out[1]), emitted


def n_blocks(run: HBTRun) -> int:
    """Number of simulation blocks (progress-bar length)."""
    return len(_block_edges_ps(run)) - 1


@dataclass(frozen=True)
class HBTSummary:
    """What ``qlight simulate hbt`` reports, computed from the written file."""

    path: Path
    duration_s: float
    counts: tuple[int, int]
    rates_cps: tuple[float, float]
    rates_err_cps: tuple[float, float]
    g2_0: float
    g2_0_err: float
    g2_method: str
    timestamps_unit_s: float

    def as_dict(self) -> dict[str, Any]:
        """Plain mapping for JSON output (NaN is turned into null by the printer)."""
        out = dataclasses.asdict(self)
        out["path"] = str(self.path)
        return out


def summarize(path: Path) -> HBTSummary:
    """Counts, rates ± Poisson error and g2(0) ± error, computed from the written file.

    CW: g2 pooled over |τ| ≤ ``G2_HALF_WIDTH_PS`` from a ``G2_BIN_PS`` histogram normalised
    by N1·N2·Δτ·(T − |τ|)/T² (raw: no background or jitter correction). Pulsed: central peak
    over the mean of ``2·G2_SIDE_PEAKS`` side peaks. NaN when there is too little data.
    """
    data = read_photon_hdf5(path)
    empty = np.zeros(0, np.int64)
    t0, t1 = data.t_ps.get(0, empty), data.t_ps.get(1, empty)
    duration_ps = data.duration_ps
    dur_s = duration_ps * 1e-12
    n0, n1 = int(t0.size), int(t1.size)
    rep = (data.parameters or {}).get("rep_rate_hz")
    g2, err, method = math.nan, math.nan, "not enough data"
    if rep:
        period = round(1e12 / float(rep))
        if duration_ps > (G2_SIDE_PEAKS + 1) * period:
            res = g2_pulsed_ratio(t0, t1, period_ps=period, n_side_peaks=G2_SIDE_PEAKS)
            g2, err = res.g2_0, res.g2_0_err
            method = f"pulsed: central / mean of {2 * G2_SIDE_PEAKS} side peaks"
    else:
        window = min(G2_WINDOW_PS, (duration_ps // 4) // G2_BIN_PS * G2_BIN_PS)
        if window >= G2_HALF_WIDTH_PS:
            h = g2_cw(t0, t1, window_ps=window, bin_ps=G2_BIN_PS, duration_ps=duration_ps)
            g2, err = g2_at_zero(h, half_width_ps=G2_HALF_WIDTH_PS)
            method = f"cw: |tau| <= {G2_HALF_WIDTH_PS} ps, raw (no background correction)"
    return HBTSummary(
        path=path,
        duration_s=dur_s,
        counts=(n0, n1),
        rates_cps=(n0 / dur_s, n1 / dur_s),
        rates_err_cps=(math.sqrt(n0) / dur_s, math.sqrt(n1) / dur_s),
        g2_0=g2,
        g2_0_err=err,
        g2_method=method,
        timestamps_unit_s=data.unit_s,
    )


def write_run(run: HBTRun, path: Path, t_ps: tuple[NDArray[np.int64], NDArray[np.int64]]) -> Path:
    """Write the acquisition to ``path`` as Photon-HDF5 with the parameters in /user/qlight."""
    spad = run.setup.detectors[0]
    return write_photon_hdf5(
        path,
        t_ps,
        duration_ps=run.duration_ps,
        description=(
            f"qlight twin HBT: preset {run.preset.name}, seed {run.parameters['seed']}, "
            f"{run.parameters['emitter_source']} emitter"
        ),
        parameters=run.parameters,
        detectors=[DetectorInfo(f"SPAD {k}", spad.dark_cps, spad.afterpulse_prob) for k in (0, 1)],
        split_ratios=[run.setup.split_ratio, 1.0 - run.setup.split_ratio],
        excitation_wavelength_m=run.preset.laser_wavelength_m,
        excitation_power_w=run.excitation.power_w,
        detection_wavelength_m=run.source.photophysics.zpl_nm * 1e-9,
        rep_rate_hz=run.excitation.rep_rate_hz,
    )
