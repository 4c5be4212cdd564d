"""The characterization plan: every acquisition the certificate needs, on the instruments.

:func:`acquire_characterization` runs, with the excitation focused on a verified emitter
(:func:`reach_emitter`, the device's own return procedure with fingerprint verification):

1. **background** — count-rate readings at four lateral offsets (``±d`` in x and y) off the
   emitter, at the operating power; their median, per detector, is the background rate of
   the Brouri correction of g2(0) (Brouri et al., Opt. Lett. 25, 1294 (2000), eq. 3);
2. **HBT, CW** — time tags of both detectors at the operating power (g2, count rate,
   intensity trace and blinking), written as Photon-HDF5;
3. **power series** — count-rate readings at each laser power (saturation curve
   ``I(P) = I∞ P/(P + P_sat) + b P``, Kitson et al., Phys. Rev. A 58, 620 (1998)), written as
   CSV ``power_w,counts,duration_s``;
4. **pulsed** — time tags with the laser pulsed (``set_pulsed``) at the operating average
   power, written as Photon-HDF5 with the repetition rate (pulses at ``k / rate`` from the
   acquisition start, as the twin's tagger and the reader of ``qlight characterize`` take
   them): lifetime and pulsed g2(0);
5. **spectrum** — one spectrometer exposure in CW at the operating power, written as CSV
   ``wavelength_nm,counts`` (ZPL, width, Debye–Waller factor).

Only the instrument protocols are used (:class:`~qlight.device.factory.Instruments`); the
laser is left in CW at the operating power. Long steps report progress and stop at the next
chunk when the cancel token is set (:class:`~qlight.instruments.protocols.OperationCancelled`).
The files go to ``<data_dir>/characterization/<emitter>/<timestamp>/`` with a
``characterization.json`` manifest (:class:`CharacterizationFiles`).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from qlight.device.characterize_types import CharacterizationFiles, CharacterizationRequest
from qlight.device.factory import Instruments
from qlight.device.procedures import RETURN_CONFIG
from qlight.instruments.protocols import CancelToken, OperationCancelled
from qlight.mapping.autoreturn import Candidate, acquire
from qlight.mapping.registration import Registration
from qlight.timetags.photon_hdf5 import write_photon_hdf5

__all__ = [
    "POWER_FACTORS",
    "PlanFailedError",
    "acquire_characterization",
    "default_powers_w",
    "reach_emitter",
]

#: Default saturation series: these multiples of the operating power (capped at the maximum).
POWER_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Instrument seconds charged to the navigation in the progress fraction (an estimate).
_NAVIGATION_WEIGHT_S = 3.0

#: ``progress(fraction, step)`` with ``fraction`` in [0, 1].
Progress = Callable[[float, str], None]
#: ``log(message, data)``: an event for the device's event log.
Log = Callable[[str, dict[str, object]], None]


class PlanFailedError(RuntimeError):
    """The plan could not run (emitter not reached, instrument refused a setting)."""


def default_powers_w(laser_power_w: float, max_power_w: float) -> list[float]:
    """:data:`POWER_FACTORS` × the operating power, capped at ``max_power_w`` (distinct)."""
    out = sorted({min(f * laser_power_w, max_power_w) for f in POWER_FACTORS})
    return [float(p) for p in out]


def reach_emitter(
    ins: Instruments, candidate: Candidate, reg: Registration, z_surface_m: float
) -> tuple[float, float, float, float]:
    """Return to ``candidate`` as ACQUIRING does (:func:`qlight.mapping.autoreturn.acquire`
    with :data:`~qlight.device.procedures.RETURN_CONFIG`: refocus and fingerprint check) and
    give its focus ``(x_m, y_m, z_m, rate_per_s)`` in the stage frame.

    Raises
    ------
    PlanFailedError
        The emitter could not be reached or did not verify.
    """
    out = acquire(ins, reg, z_surface_m, [candidate], config=RETURN_CONFIG)
    if out.outcome != "returned" or out.refocus is None:
        why = "; ".join(out.reasons[-3:]) or out.reason or out.outcome
        raise PlanFailedError(f"{candidate.key} could not be acquired: {why}")
    m = out.refocus
    return float(m.x_m), float(m.y_m), float(m.z_m), float(m.rate_per_s)


class _Steps:
    """Progress over the plan's steps, weighted by their instrument seconds."""

    def __init__(self, weights: dict[str, float], report: Progress) -> None:
        self._w = weights
        self._total = sum(weights.values())
        self._done = 0.0
        self._report = report
        self.current = ""

    def start(self, name: str, cancel: CancelToken) -> None:
        if cancel.is_set():
            raise OperationCancelled("characterize", 0, 1)
        self.current = name
        self._report(self._done / self._total, name)

    def part(self, done: int, total: int) -> None:
        frac = self._done + self._w[self.current] * done / max(total, 1)
        self._report(min(frac / self._total, 1.0), self.current)

    def finish(self) -> None:
        self._done += self._w[self.current]
        self._report(min(self._done / self._total, 1.0), self.current)


def _write_csv(path: Path, header: str, rows: Sequence[Sequence[float]]) -> None:
    text = header + "\n" + "".join(",".join(repr(float(v)) for v in r) + "\n" for r in rows)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def acquire_characterization(
    ins: Instruments,
    *,
    emitter_id: str,
    focus_m: tuple[float, float, float],
    out_dir: Path,
    request: CharacterizationRequest,
    laser_power_w: float,
    powers_w: Sequence[float],
    cancel: CancelToken,
    progress: Progress,
    log: Log,
    navigation_done: bool = True,
) -> CharacterizationFiles:
    """Run the acquisitions of the module docstring at ``focus_m`` and write the files.

    Parameters
    ----------
    ins : Instruments
        The instruments (the caller owns them for the duration).
    emitter_id : str
        Registry ID (recorded in the files).
    focus_m : tuple of float
        Stage position of the verified focus on the emitter.
    out_dir : pathlib.Path
        Folder for the files (created).
    request : CharacterizationRequest
        Durations, repetition rate and background offset.
    laser_power_w : float
        Operating power (HBT, spectrum, pulsed average power).
    powers_w : sequence of float
        Saturation power series.
    cancel : CancelToken
        Stops the plan at the next chunk or step (``OperationCancelled``).
    progress, log : callable
        Progress ``(fraction, step)`` and event-log sink ``(message, data)``.
    navigation_done : bool
        Whether the navigation's share of the progress is already done.

    Raises
    ------
    PlanFailedError
        An instrument refused a setting (e.g. a power above its maximum).
    qlight.instruments.protocols.OperationCancelled
        The cancel token was set.
    """
    r = request
    n_bg = 4
    bg_s = min(r.power_step_s, 0.5)
    steps = _Steps(
        {
            "navigation": _NAVIGATION_WEIGHT_S,
            "background": n_bg * bg_s,
            "hbt": r.hbt_duration_s,
            "power series": len(powers_w) * r.power_step_s,
            "pulsed": r.pulsed_duration_s,
            "spectrum": r.spectrum_exposure_s,
        },
        progress,
    )
    if navigation_done:
        steps.current = "navigation"
        steps.finish()
    out_dir.mkdir(parents=True, exist_ok=True)
    laser = ins.laser
    x0, y0, z0 = focus_m
    wavelength_m = laser.wavelength_nm * 1e-9
    common = {"emitter_id": emitter_id, "laser_power_w": laser_power_w}
    try:
        try:
            laser.set_cw()
            laser.set_power(laser_power_w)
            laser.on()
        except ValueError as exc:  # ParameterError is a ValueError
            raise PlanFailedError(f"laser refused {laser_power_w} W: {exc}") from exc

        steps.start("background", cancel)
        d = r.background_offset_um * 1e-6
        per_det = []
        for dx, dy in ((d, 0.0), (-d, 0.0), (0.0, d), (0.0, -d)):
            ins.stage.move_to(x0 + dx, y0 + dy, z0)
            cr = ins.tagger.count_rates(bg_s)
            per_det.append(cr.total_rate_per_s / max(len(cr.counts), 1))
        background_cps = float(np.median(per_det))
        ins.stage.move_to(x0, y0, z0)
        steps.finish()
        log(f"background {background_cps:.4g} cps per detector", {"background_cps": background_cps})

        steps.start("hbt", cancel)
        tags = ins.tagger.acquire(r.hbt_duration_s, progress=steps.part, cancel=cancel)
        hbt = write_photon_hdf5(
            out_dir / "hbt_cw.h5", tags.t_ps, duration_ps=tags.duration_ps,
            description=f"qlight characterization of {emitter_id}: CW HBT",
            parameters={**common, "kind": "hbt_cw"},
            excitation_wavelength_m=wavelength_m, excitation_power_w=laser_power_w,
        )  # fmt: skip
        steps.finish()
        log(
            f"HBT (CW) {r.hbt_duration_s:g} s: {sum(tags.counts)} tags",
            {"tags": sum(tags.counts), "duration_s": r.hbt_duration_s},
        )

        steps.start("power series", cancel)
        rows: list[tuple[float, float, float]] = []
        for k, p in enumerate(powers_w):
            if cancel.is_set():
                raise OperationCancelled("power series", k, len(powers_w))
            try:
                laser.set_power(float(p))
            except ValueError as exc:
                raise PlanFailedError(f"laser refused {p} W: {exc}") from exc
            cr = ins.tagger.count_rates(r.power_step_s)
            rows.append((float(p), float(sum(cr.counts)), float(cr.duration_s)))
            steps.part(k + 1, len(powers_w))
        laser.set_power(laser_power_w)
        series = out_dir / "power_series.csv"
        _write_csv(series, "power_w,counts,duration_s", rows)
        steps.finish()
        log(f"power series: {len(rows)} powers", {"n_powers": len(rows)})

        steps.start("pulsed", cancel)
        try:
            laser.set_pulsed(r.rep_rate_hz)
        except ValueError as exc:
            raise PlanFailedError(f"laser refused {r.rep_rate_hz} Hz pulsed: {exc}") from exc
        ptags = ins.tagger.acquire(r.pulsed_duration_s, progress=steps.part, cancel=cancel)
        laser.set_cw()
        pulsed = write_photon_hdf5(
            out_dir / "pulsed.h5", ptags.t_ps, duration_ps=ptags.duration_ps,
            description=f"qlight characterization of {emitter_id}: pulsed (lifetime)",
            parameters={**common, "kind": "pulsed", "rep_rate_hz": r.rep_rate_hz},
            excitation_wavelength_m=wavelength_m, excitation_power_w=laser_power_w,
            rep_rate_hz=r.rep_rate_hz,
        )  # fmt: skip
        steps.finish()
        log(
            f"pulsed {r.pulsed_duration_s:g} s at {r.rep_rate_hz:.3g} Hz: {sum(ptags.counts)} tags",
            {"tags": sum(ptags.counts), "rep_rate_hz": r.rep_rate_hz},
        )

        steps.start("spectrum", cancel)
        spec = ins.spectrometer.acquire_spectrum(
            r.spectrum_exposure_s, progress=steps.part, cancel=cancel
        )
        spectrum = out_dir / "spectrum.csv"
        _write_csv(
            spectrum, "wavelength_nm,counts",
            list(zip(spec.wavelength_nm.tolist(), spec.counts.tolist(), strict=True)),
        )  # fmt: skip
        steps.finish()
        log(f"spectrum {r.spectrum_exposure_s:g} s", {"counts": int(spec.counts.sum())})
    finally:
        with contextlib.suppress(Exception):
            laser.set_cw()
            laser.set_power(laser_power_w)
    resolution = spec.resolution_nm if math.isfinite(spec.resolution_nm) else 0.0
    manifest = out_dir / "characterization.json"
    files = CharacterizationFiles(
        directory=str(out_dir.resolve()), manifest=str(manifest.resolve()),
        hbt=str(hbt.resolve()), pulsed=str(pulsed.resolve()),
        power_series=str(series.resolve()), spectrum=str(spectrum.resolve()),
        spectrum_resolution_nm=float(resolution), laser_power_w=float(laser_power_w),
        rep_rate_hz=float(r.rep_rate_hz), background_cps=background_cps,
        position_m=(float(x0), float(y0), float(z0)),
    )  # fmt: skip
    doc = {"emitter_id": emitter_id, "request": r.model_dump(), **files.model_dump()}
    manifest.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return files
