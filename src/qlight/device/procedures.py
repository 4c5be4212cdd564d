"""Control procedures the device's states run, composed from :mod:`qlight.mapping`.

Every function drives only the instrument protocols (:class:`Instruments`); none keeps
state between calls (the device does). The boot path is the one return-to-emitter control
flow of :mod:`qlight.mapping.autoreturn`, shared with ``qlight demo powercycle``: surface
search centred on the first successful boot's surface (:func:`surface_focus`), marks and
registration with the last stored transform as prior (:func:`locate_frame`), and
:func:`~qlight.mapping.autoreturn.acquire` over the registry's qualified emitters
(:func:`to_candidate`, :data:`RETURN_CONFIG`), here extended with discovery tiles (first
boot) and a health g2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight.device.factory import Instruments
from qlight.device.settings import DeviceSettings
from qlight.instruments.protocols import CancelToken
from qlight.mapping import autoreturn
from qlight.mapping.autoreturn import Candidate, ReturnConfig
from qlight.mapping.discovery import DiscoveryConfig, DiscoveryResult, discover
from qlight.mapping.navigate import FocusMeasurement, Locator, Target, Verdict, Verifier
from qlight.mapping.navigate import compare_fingerprints as _compare
from qlight.mapping.qualify import fit_zpl_nm
from qlight.mapping.refocus import refocus
from qlight.mapping.registration import ConstellationConfig, Registration
from qlight.mapping.registry import EmitterRecord
from qlight.mapping.similarity import Similarity2D
from qlight.physics.marks import MarkLayout
from qlight.timetags.g2 import g2_at_zero, g2_cw

__all__ = [
    "LAYOUT",
    "PL_DEPTH_M",
    "RETURN_CONFIG",
    "G2Result",
    "discover_tile",
    "home",
    "locate_frame",
    "make_locator",
    "make_verifier",
    "mapping_tiles",
    "measure_g2",
    "self_test",
    "surface_focus",
    "to_candidate",
    "to_target",
]

#: The fabricated fiducial-mark lattice (design knowledge, :mod:`qlight.physics.marks`).
LAYOUT: MarkLayout = autoreturn.LAYOUT
#: PL scans focus this far below the surface focus (GaN emitters sit ≈ 0.3 µm deep; the
#: value of :mod:`qlight.cli.demo_powercycle`).
PL_DEPTH_M = 0.3e-6
#: Registration prior bounds: a homed stage is within a few µm and a fraction of a degree;
#: the first boot's mount within ±20 µm and ±1° (``instruments.sim.build``), with margin.
BOUNDS = ConstellationConfig(max_shift_m=60e-6, max_rotation_rad=math.radians(3.5))
#: Gates of the return (:func:`qlight.mapping.autoreturn.acquire`): found within 0.3 µm of
#: the prediction (the old 4σ navigation gate with the 50 nm discovery floor was ≈ 0.25 µm),
#: ZPL within 1.5 nm (spectrometer resolution + spectral diffusion) and brightness within ×2
#: (focus and power changes) of the registry fingerprint; a 0.3 s spectrum without a
#: significant line does not reject; 6 emitters tried at most.
RETURN_CONFIG = ReturnConfig(
    position_gate_m=0.3e-6,
    zpl_gate_nm=1.5,
    brightness_ratio=2.0,
    require_zpl=False,
    spectrum_exposure_s=0.3,
    max_tries=6,
)


def self_test(ins: Instruments, *, laser_power_w: float) -> list[str]:
    """Check each instrument answers plausibly; return the problems (empty: all good).

    Laser: set point read back, output switches; thermometer: 250–350 K; stage: a move to
    the current position reads back; tagger: dark rate with the laser off below 10 kcps
    (SPAD dark counts are 10–1000 cps, REFERENCES.md); spectrometer: a 10 ms exposure of the
    advertised number of pixels; scanner: a finite, positive PSF width.
    """
    problems: list[str] = []
    ins.laser.off()
    ins.laser.set_power(laser_power_w)
    if not math.isclose(ins.laser.power_w, laser_power_w, rel_tol=1e-6):
        problems.append(f"laser: set {laser_power_w} W, reads {ins.laser.power_w} W")
    t_k = ins.thermometer.temperature_k()
    if not 250.0 <= t_k <= 350.0:
        problems.append(f"thermometer: implausible {t_k:.1f} K")
    p = ins.stage.position()
    q = ins.stage.move_to(p.x_m, p.y_m, p.z_m)
    if math.hypot(q.x_m - p.x_m, q.y_m - p.y_m) > 1e-9:
        problems.append("stage: position does not read back")
    dark = ins.tagger.count_rates(0.05).total_rate_per_s
    if dark > 1e4:
        problems.append(f"detectors: dark rate {dark:.3g} cps with the laser off")
    spec = ins.spectrometer.acquire_spectrum(0.01)
    if spec.counts.size != ins.spectrometer.wavelength_nm.size:
        problems.append("spectrometer: pixel count mismatch")
    if not (math.isfinite(ins.scanner.psf_fwhm_m) and ins.scanner.psf_fwhm_m > 0):
        problems.append("scanner: invalid PSF width")
    return problems


def home(ins: Instruments) -> None:
    """Bring the stage to the lateral origin at its current z and check it arrived."""
    z = ins.stage.position().z_m
    ins.stage.move_to(0.0, 0.0, z)


def surface_focus(ins: Instruments, z_reference_m: float) -> float:
    """Surface focus searched outward from ``z_reference_m`` over the whole z travel.

    :func:`qlight.mapping.autoreturn.find_surface`; the caller passes the first successful
    boot's surface (never a failed boot's z: homing errors are fresh draws about the mount).

    Raises
    ------
    qlight.mapping.registration.RegistrationFailed
        No surface reflection within the z travel.
    """
    return autoreturn.find_surface(ins.scanner, ins.stage, z_reference_m)


def locate_frame(
    ins: Instruments, prior: Similarity2D, z_surface_m: float, chip_size_m: float
) -> Registration:
    """Marks around the prior's chip centre (window + ring of 8) and the registration.

    :func:`qlight.mapping.autoreturn.locate_frame` with :data:`BOUNDS`.

    Raises
    ------
    qlight.mapping.registration.RegistrationFailed
        No mark decoded or the fit is outside the prior bounds.
    """
    size = (chip_size_m, chip_size_m)
    return autoreturn.locate_frame(ins.scanner, prior, size, z_surface_m, BOUNDS)


def mapping_tiles(settings: DeviceSettings) -> list[tuple[float, float, float, float]]:
    """Chip-frame tiles ``(x_min, x_max, y_min, y_max)`` of the mapping region, row major."""
    half = settings.mapping.region_um * 1e-6 / 2
    n = max(1, math.ceil(settings.mapping.region_um / settings.mapping.tile_um))
    edges = np.linspace(-half, half, n + 1)
    return [
        (float(edges[i]), float(edges[i + 1]), float(edges[j]), float(edges[j + 1]))
        for j in range(n)
        for i in range(n)
    ]


def discover_tile(
    ins: Instruments,
    reg: Registration,
    tile: tuple[float, float, float, float],
    z_surface_m: float,
    settings: DeviceSettings,
    cancel: CancelToken | None = None,
) -> DiscoveryResult:
    """Discover (scan, detect, refocus, qualify) the stage-frame box of one chip tile."""
    x0, x1, y0, y1 = tile
    xs, ys = reg.transform.apply(np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1]))
    m = settings.mapping
    cfg = DiscoveryConfig(
        step_m=m.step_nm * 1e-9,
        tile_m=max(float(np.ptp(xs)), float(np.ptp(ys))) + 1e-6,
        dwell_s=m.dwell_s,
        z_m=z_surface_m + PL_DEPTH_M,
        power_w=settings.supervisor.laser_power_w,
        max_g2_duration_s=m.max_g2_duration_s,
    )
    return discover(
        ins, float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max()),
        config=cfg, cancel=cancel,
    )  # fmt: skip


def to_candidate(e: EmitterRecord) -> Candidate:
    """A qualified registry emitter as a return candidate (``z_chip_m``: focus depth).

    Registry emitters were qualified at mapping time (g2(0) with its interval), so the
    return needs only a refocus and the fingerprint check (ZPL, brightness).
    """
    fp = e.fingerprint
    zpl, bright = fp.get("zpl_nm"), fp.get("brightness_per_s")
    return Candidate(
        x_chip_m=e.x_chip_m,
        y_chip_m=e.y_chip_m,
        depth_m=e.z_chip_m,
        zpl_nm=float(zpl) if isinstance(zpl, int | float) else math.nan,
        brightness_per_s=float(bright) if isinstance(bright, int | float) else math.nan,
        qualified=True,
        key=e.id,
    )


def to_target(e: EmitterRecord) -> Target:
    """A registry emitter as a :func:`qlight.mapping.navigate.navigate` target (``z_chip_m``
    holds the focus depth); the characterization plan reaches its emitter this way."""
    fp = {k: float(v) for k, v in e.fingerprint.items() if isinstance(v, int | float)}
    return Target(
        emitter_id=e.id,
        x_chip_m=e.x_chip_m,
        y_chip_m=e.y_chip_m,
        sigma_chip_m=math.hypot(e.sigma_x_m, e.sigma_y_m) / math.sqrt(2.0),
        depth_stage_m=e.z_chip_m,
        fingerprint=fp,
    )


def make_locator(ins: Instruments) -> Locator:
    """Refocus (fine scan + MLE + z sweep, :func:`qlight.mapping.refocus.refocus`)."""

    def locate(x_m: float, y_m: float, z_m: float) -> FocusMeasurement:
        r = refocus(ins.stage, ins.scanner, ins.tagger, x_m, y_m, z_m)
        if not r.ok or r.localization is None:
            return FocusMeasurement(False, reason=r.reason)
        loc = r.localization
        sigma = math.hypot(loc.crlb_x_m, loc.crlb_y_m) / math.sqrt(2.0)
        return FocusMeasurement(True, r.x_m, r.y_m, r.z_m, sigma, r.rate_per_s, r.reason)

    return locate


def make_verifier(ins: Instruments, *, exposure_s: float = 0.3) -> Verifier:
    """Fingerprint check at the focus: brightness (from the refocus) and ZPL (a spectrum)."""

    def verify(target: Target, m: FocusMeasurement) -> Verdict:
        measured = {"brightness_per_s": m.rate_per_s}
        zpl = fit_zpl_nm(ins.spectrometer.acquire_spectrum(exposure_s))
        if math.isfinite(zpl):
            measured["zpl_nm"] = zpl
        return _compare(target.fingerprint, measured)

    return verify


@dataclass(frozen=True, slots=True)
class G2Result:
    """A health g2 measurement: histogram, g2(0) with its error, and the count rate."""

    tau_ns: NDArray[np.float64]
    g2: NDArray[np.float64]
    counts: NDArray[np.int64]
    g2_0: float
    g2_0_err: float
    rate_cps: float
    duration_s: float


def measure_g2(
    ins: Instruments,
    duration_s: float,
    *,
    window_ps: int = 20_000,
    bin_ps: int = 500,
    half_width_ps: int = 500,
) -> G2Result:
    """HBT acquisition and normalised CW g2 (:func:`qlight.timetags.g2.g2_cw`).

    g2(0) is background-uncorrected (the raw purity of the delivered photons) with the
    Poisson standard error of :func:`qlight.timetags.g2.g2_at_zero`.
    """
    tags = ins.tagger.acquire(duration_s)
    hist = g2_cw(
        tags.t_ps[0], tags.t_ps[1], window_ps=window_ps, bin_ps=bin_ps, duration_ps=tags.duration_ps
    )
    g0, err = g2_at_zero(hist, half_width_ps=half_width_ps)
    rate = sum(tags.counts) / (tags.duration_ps * 1e-12)
    g2 = np.nan_to_num(hist.g2, nan=0.0)
    return G2Result(hist.center_ps * 1e-3, g2, hist.counts, g0, err, rate, duration_s)
