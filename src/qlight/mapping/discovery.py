"""First-boot discovery: tiled scan → detect → localize → refocus → qualify → records.

:func:`discover` drives only the instrument protocols. It scans a stage-frame region in
overlapping tiles (:mod:`qlight.mapping.scanplan`), detects and fits every spot by Poisson
MLE and rejects extended or bright background spots (:mod:`qlight.mapping.detect`), then
visits each point-like emitter: refocus in xy and z (:mod:`qlight.mapping.refocus`) and
qualification (g2(0), brightness, ZPL; :mod:`qlight.mapping.qualify`). Each emitter becomes
a :class:`DiscoveredEmitter` with its stage-frame position, the Cramér–Rao uncertainty of
the last fit, fingerprint (with neighbour geometry) and score, sorted best first.

Progress is reported as ``progress(done, total)`` over scan lines plus one unit per visited
emitter (``total`` grows once the number of detections is known); a set ``cancel`` token
raises :class:`~qlight.instruments.protocols.OperationCancelled` between steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from qlight._validation import check_positive
from qlight.instruments.protocols import CancelToken, Laser, ProgressCallback, check_cancel
from qlight.mapping.autoreturn import ReturnInstruments
from qlight.mapping.detect import Detection, DetectionConfig, detect_and_localize
from qlight.mapping.localize import Localization, psf_sigma_from_fwhm
from qlight.mapping.qualify import Fingerprint, neighbour_geometry, qualify_here
from qlight.mapping.refocus import refocus
from qlight.mapping.scanplan import Mosaic, plan_tiles, run_tiled_scan

__all__ = [
    "DiscoveredEmitter",
    "DiscoveryConfig",
    "DiscoveryResult",
    "Microscope",
    "discover",
]


class Microscope(ReturnInstruments, Protocol):
    """The instruments discovery needs (``qlight.device.factory.Instruments`` fits).

    Those of the return (:class:`~qlight.mapping.autoreturn.ReturnInstruments`) plus the laser.
    """

    @property
    def laser(self) -> Laser: ...


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    """Parameters of :func:`discover` (defaults: 100 nm pixels, 1 ms dwell, 1 mW)."""

    step_m: float = 100e-9
    tile_m: float = 20e-6
    overlap_m: float = 1e-6
    dwell_s: float = 1e-3
    z_m: float | None = None
    power_w: float = 1e-3
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    refocus: bool = True
    qualify: bool = True
    max_g2_duration_s: float = 30.0
    spectrum_exposure_s: float = 0.5


@dataclass(frozen=True, slots=True)
class DiscoveredEmitter:
    """One discovered emitter (stage frame, metres) with its fingerprint and score.

    ``sigma_x_m``/``sigma_y_m`` are the Cramér–Rao standard deviations of the last fit
    (refocus fit when it succeeded, else the mosaic fit); ``reason`` says why it is not
    qualified (empty when it is single) or what fell back during refocus.
    """

    x_stage_m: float
    y_stage_m: float
    z_stage_m: float
    sigma_x_m: float
    sigma_y_m: float
    localization: Localization
    fingerprint: Fingerprint | None
    single: bool
    score: float
    reason: str
    t_s: float


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    """Discovered emitters (best score first), rejected spots, the mosaic, time spent."""

    emitters: tuple[DiscoveredEmitter, ...]
    rejected: tuple[Detection, ...]
    mosaic: Mosaic
    sim_time_s: float

    @property
    def qualified(self) -> tuple[DiscoveredEmitter, ...]:
        """Emitters that passed qualification (single photon sources)."""
        return tuple(e for e in self.emitters if e.single)


def discover(
    mic: Microscope,
    x_min_m: float,
    x_max_m: float,
    y_min_m: float,
    y_max_m: float,
    *,
    config: DiscoveryConfig | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> DiscoveryResult:
    """Run the first-boot discovery pipeline over a stage-frame rectangle.

    Returns
    -------
    DiscoveryResult
        A blank region gives no emitters (not an error).

    Raises
    ------
    qlight.errors.ParameterError
        For an invalid region or configuration.
    qlight.instruments.protocols.OperationCancelled
        When ``cancel`` is set.
    """
    cfg = DiscoveryConfig() if config is None else config
    t0 = mic.clock.now_s()
    mic.laser.set_power(check_positive("power_w", cfg.power_w))
    mic.laser.on()
    plan = plan_tiles(
        x_min_m, x_max_m, y_min_m, y_max_m,
        step_m=cfg.step_m, tile_m=cfg.tile_m, overlap_m=cfg.overlap_m,
    )  # fmt: skip
    n_lines = plan.n_lines
    z_scan = cfg.z_m if cfg.z_m is not None else mic.stage.position().z_m
    mosaic = run_tiled_scan(
        mic.scanner, plan, dwell_s=cfg.dwell_s, z_m=z_scan, progress=progress, cancel=cancel
    )
    sigma = psf_sigma_from_fwhm(mic.scanner.psf_fwhm_m)
    det = detect_and_localize(
        mosaic.pl_counts, mosaic.x_m, mosaic.y_m, psf_sigma_m=sigma, config=cfg.detection
    )
    total = n_lines + len(det.accepted)
    xs = np.array([d.localization.x_m for d in det.accepted])
    ys = np.array([d.localization.y_m for d in det.accepted])
    out: list[DiscoveredEmitter] = []
    for i, d in enumerate(det.accepted):
        check_cancel(cancel, "discover", n_lines + i, total)
        loc = d.localization
        x, y, z = loc.x_m, loc.y_m, mosaic.z_m
        notes: list[str] = []
        if cfg.refocus:
            r = refocus(mic.stage, mic.scanner, mic.tagger, x, y, z)
            if r.ok and r.localization is not None:
                x, y, z, loc = r.x_m, r.y_m, r.z_m, r.localization
            if r.reason:
                notes.append(r.reason)
        else:
            mic.stage.move_to(x, y, z)
        fp: Fingerprint | None = None
        single, score = False, 0.0
        if cfg.qualify:
            bg_rate = d.localization.background_per_px / mosaic.dwell_s
            q = qualify_here(
                mic.tagger,
                mic.spectrometer,
                max_g2_duration_s=cfg.max_g2_duration_s,
                spectrum_exposure_s=cfg.spectrum_exposure_s,
                background_rate_per_s=bg_rate,
            )
            dist, angle = neighbour_geometry(x, y, xs, ys)
            fp = replace(q.fingerprint, neighbour_dist_m=dist, neighbour_angle_rad=angle)
            single, score = q.single, q.score
            if q.reason:
                notes.insert(0, q.reason)
        else:
            notes.insert(0, "not qualified")
        out.append(
            DiscoveredEmitter(
                x_stage_m=x,
                y_stage_m=y,
                z_stage_m=z,
                sigma_x_m=loc.crlb_x_m,
                sigma_y_m=loc.crlb_y_m,
                localization=loc,
                fingerprint=fp,
                single=single,
                score=score,
                reason="; ".join(notes),
                t_s=mic.clock.now_s(),
            )
        )
        if progress is not None:
            progress(n_lines + i + 1, total)
    out.sort(key=lambda e: (-e.score, -e.localization.photons))
    return DiscoveryResult(tuple(out), det.rejected, mosaic, mic.clock.now_s() - t0)
