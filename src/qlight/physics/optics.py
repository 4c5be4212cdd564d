"""Confocal optics: PSF widths, focal shift, collection efficiency, PL and reflection maps.

Conventions: positions in the chip frame (metres); ``focus_depth_m`` is the *nominal* focus
depth, i.e. the stage z travel from the position where the surface is in focus (positive
into the sample); :func:`actual_focus_depth_m` converts it to the depth inside the GaN where
the focus really lies. All PSFs are Gaussian approximations (docs/twin/chip-optics-stage.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import quad

from qlight._numba import JIT
from qlight._validation import check_finite, check_fraction, check_nonnegative, check_positive
from qlight.errors import ParameterError

if TYPE_CHECKING:
    from qlight.physics.chip import BackgroundSpot, Chip, ChipEmitter
    from qlight.physics.detectors import SPADModel

__all__ = [
    "FWHM_PER_SIGMA",
    "ConfocalSigmas",
    "Objective",
    "actual_focus_depth_m",
    "collection_efficiency",
    "confocal_psf",
    "confocal_sigmas_m",
    "detection_efficiencies",
    "detection_efficiency",
    "focal_shift_factor",
    "fresnel_reflectance",
    "pl_rate_map",
    "planar_collection_efficiencies",
    "psf_fwhm_axial_m",
    "psf_fwhm_lateral_m",
]

F64 = NDArray[np.float64]
FocalShift = Literal["paraxial", "marginal", "psf"]

#: FWHM of a Gaussian in units of its standard deviation, 2·sqrt(2 ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True, slots=True)
class Objective:
    """Microscope objective and its confocal detection path.

    Parameters
    ----------
    na : float
        Numerical aperture (dry objective: ``na < immersion_index``).
    transmission : float
        Transmission of the detection path: objective, dichroic, filters, pinhole/fibre
        coupling (0.5; *estimate*).
    immersion_index : float
        Refractive index between objective and sample (1.0: air).
    pinhole_m : float
        Pinhole (or fibre core) diameter back-projected into the sample plane; 0 is an ideal
        point detector. Default 0.88 µm ≈ 1 Airy unit at 650 nm and NA 0.9.
    focal_shift : {"paraxial", "marginal", "psf"}
        Model of the focus displacement inside the sample (:func:`focal_shift_factor`).
    """

    na: float = 0.9
    transmission: float = 0.5
    immersion_index: float = 1.0
    pinhole_m: float = 0.88e-6
    focal_shift: FocalShift = "paraxial"

    def __post_init__(self) -> None:
        check_positive("na", self.na)
        check_fraction("transmission", self.transmission)
        if check_finite("immersion_index", self.immersion_index) < 1.0:
            raise ParameterError("immersion_index", self.immersion_index, "must be >= 1")
        if self.na >= self.immersion_index:
            raise ParameterError("na", self.na, "must be < immersion_index")
        check_nonnegative("pinhole_m", self.pinhole_m)
        if self.focal_shift not in ("paraxial", "marginal", "psf"):
            raise ParameterError(
                "focal_shift", self.focal_shift, "must be 'paraxial', 'marginal' or 'psf'"
            )


# ------------------------------------------------------------------------------ PSF widths


def psf_fwhm_lateral_m(wavelength_m: float, na: float) -> float:
    """Lateral FWHM of a focused spot, 0.51·λ/NA.

    The Airy intensity pattern has FWHM 0.514·λ/NA (Born & Wolf, *Principles of Optics*,
    §8.5.2); REFERENCES.md: ≈ 300 nm at 532 nm, NA 0.9. Refraction at a planar surface
    conserves NA = n·sin α, so the width inside the sample is the same.
    """
    return 0.51 * check_positive("wavelength_m", wavelength_m) / check_positive("na", na)


def psf_fwhm_axial_m(wavelength_m: float, na: float, n: float = 1.0) -> float:
    """Axial FWHM of a focused spot in a medium of index ``n``: 0.88·λ/(n − sqrt(n² − NA²)).

    Wilhelm, Gröbler, Gluch, Heinz, *Confocal Laser Scanning Microscopy: Principles*
    (Carl Zeiss), Eq. for the axial resolution with a pinhole ≥ 1 AU. With ``n`` the
    sample index it is the aberration-free width of a focus inside the sample (spherical
    aberration from the planar interface is neglected).
    """
    lam = check_positive("wavelength_m", wavelength_m)
    a = check_positive("na", na)
    nn = check_positive("n", n)
    if a >= nn:
        raise ParameterError("na", na, f"must be < n = {nn}")
    return 0.88 * lam / (nn - math.sqrt(nn * nn - a * a))


def focal_shift_factor(
    na: float, n_sample: float, n_immersion: float = 1.0, model: FocalShift = "paraxial"
) -> float:
    """Ratio of actual focus depth in the sample to nominal stage travel.

    * ``"paraxial"``: n_sample/n_immersion (apparent-depth law; e.g. Diel, Lichtman,
      Richardson, Nat. Protoc. 15, 2773 (2020));
    * ``"marginal"``: tan α₁ / tan α₂ of the marginal ray, sin α₁ = NA/n_immersion,
      sin α₂ = NA/n_sample (same review; an upper bound);
    * ``"psf"``: (n₁ − sqrt(n₁² − NA²)) / (n₂ − sqrt(n₂² − NA²)), the ratio of the axial
      widths of :func:`psf_fwhm_axial_m` in the two media, which keeps the axial PSF and
      the focal shift consistent (our choice; it lies between the two above).
    """
    a = check_positive("na", na)
    n1 = check_positive("n_immersion", n_immersion)
    n2 = check_positive("n_sample", n_sample)
    if a >= n1 or a >= n2:
        raise ParameterError("na", na, "must be below both refractive indices")
    if model == "paraxial":
        return n2 / n1
    if model == "marginal":
        return math.tan(math.asin(a / n1)) / math.tan(math.asin(a / n2))
    if model == "psf":
        return (n1 - math.sqrt(n1 * n1 - a * a)) / (n2 - math.sqrt(n2 * n2 - a * a))
    raise ParameterError("model", model, "must be 'paraxial', 'marginal' or 'psf'")


def actual_focus_depth_m(focus_depth_m: ArrayLike, objective: Objective, n_sample: float) -> F64:
    """Actual depth of the focus inside the sample for a nominal ``focus_depth_m``.

    Above the surface (negative nominal depth) the focus is in the immersion medium and is
    not shifted.
    """
    z = np.asarray(focus_depth_m, dtype=np.float64)
    f = focal_shift_factor(objective.na, n_sample, objective.immersion_index, objective.focal_shift)
    return np.where(z > 0.0, f * z, z)


@dataclass(frozen=True, slots=True)
class ConfocalSigmas:
    """Gaussian standard deviations (m) of the excitation, detection and confocal PSFs.

    Lateral (``*_xy``) and axial (``*_z``, in actual sample depth); detection widths are
    arrays when several emission wavelengths are given.
    """

    ex_xy: float
    ex_z: float
    det_xy: F64
    det_z: F64
    eff_xy: F64
    eff_z: F64


def confocal_sigmas_m(
    excitation_wavelength_m: float,
    emission_wavelength_m: ArrayLike,
    objective: Objective,
    n_sample: float,
) -> ConfocalSigmas:
    """Widths of the Gaussian confocal PSF model.

    Excitation and emission PSFs are Gaussians with the FWHMs of :func:`psf_fwhm_lateral_m`
    and :func:`psf_fwhm_axial_m` (in the sample, index ``n_sample``). The pinhole of
    back-projected diameter d blurs the detection PSF laterally by a uniform disc (variance
    (d/2)²/4 per axis, added in quadrature) and axially by the same relative factor
    (geometric defocus blur scales with the pinhole radius). The confocal PSF is the product
    excitation × detection (Wilson & Sheppard, *Theory and Practice of Scanning Optical
    Microscopy* (1984), ch. 3), i.e. 1/σ² = 1/σ_ex² + 1/σ_det².
    """
    na = objective.na
    s_ex_xy = psf_fwhm_lateral_m(excitation_wavelength_m, na) / FWHM_PER_SIGMA
    s_ex_z = psf_fwhm_axial_m(excitation_wavelength_m, na, n_sample) / FWHM_PER_SIGMA
    lam = np.asarray(emission_wavelength_m, dtype=np.float64)
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0.0):
        raise ParameterError("emission_wavelength_m", emission_wavelength_m, "must be > 0")
    s_em_xy = 0.51 * lam / na / FWHM_PER_SIGMA
    axial = 0.88 / (n_sample - math.sqrt(n_sample * n_sample - na * na))
    s_em_z = axial * lam / FWHM_PER_SIGMA
    s_pin = objective.pinhole_m / 4.0
    s_det_xy = np.sqrt(s_em_xy**2 + s_pin**2)
    s_det_z = s_em_z * s_det_xy / s_em_xy
    eff_xy = 1.0 / np.sqrt(1.0 / s_ex_xy**2 + 1.0 / s_det_xy**2)
    eff_z = 1.0 / np.sqrt(1.0 / s_ex_z**2 + 1.0 / s_det_z**2)
    return ConfocalSigmas(s_ex_xy, s_ex_z, s_det_xy, s_det_z, eff_xy, eff_z)


def confocal_psf(
    dx_m: ArrayLike,
    dy_m: ArrayLike,
    dz_m: ArrayLike,
    *,
    excitation_wavelength_m: float,
    emission_wavelength_m: float,
    objective: Objective,
    n_sample: float = 2.4,
) -> F64:
    """Confocal PSF (peak 1) at offsets from the focus; ``dz_m`` in actual sample depth."""
    s = confocal_sigmas_m(excitation_wavelength_m, emission_wavelength_m, objective, n_sample)
    dx = np.asarray(dx_m, dtype=np.float64)
    dy = np.asarray(dy_m, dtype=np.float64)
    dz = np.asarray(dz_m, dtype=np.float64)
    result: F64 = np.exp(-(dx * dx + dy * dy) / (2 * s.eff_xy**2) - dz * dz / (2 * s.eff_z**2))
    return result


# --------------------------------------------------------------------- collection efficiency


def _fresnel_power_t(theta: float, n: float) -> tuple[float, float]:
    """Power transmission (s, p) from index n into air at internal angle theta."""
    c1 = math.cos(theta)
    s2 = n * math.sin(theta)
    if s2 >= 1.0:
        return 0.0, 0.0
    c2 = math.sqrt(1.0 - s2 * s2)
    rs = (n * c1 - c2) / (n * c1 + c2)
    rp = (c1 - n * c2) / (c1 + n * c2)
    return 1.0 - rs * rs, 1.0 - rp * rp


@lru_cache(maxsize=64)
def planar_collection_efficiencies(na: float, n_medium: float = 2.4) -> tuple[float, float]:
    """Fractions (η_h, η_v) of the power of a deep dipole collected through a planar surface.

    A dipole deep inside a medium of index n (no near-field coupling to the interface)
    radiates (3/8π)(1 − sin²θ cos²φ) per solid angle if horizontal and (3/8π) sin²θ if
    vertical; rays leave through the surface with the Fresnel power transmissions T_s, T_p
    (Born & Wolf §1.5) and reach an objective of aperture NA if sin θ < NA/n. Integrating
    over φ:

        η_h = (3/8) ∫₀^θm (T_s + T_p cos²θ) sin θ dθ,
        η_v = (3/4) ∫₀^θm T_p sin³θ dθ,     θm = asin(NA/n).

    This reproduces REFERENCES.md (exact angular-spectrum result): NA 0.9 — 0.04298,
    0.00364; NA 0.7 — 0.02638, 0.00124.
    """
    a = check_positive("na", na)
    n = check_finite("n_medium", n_medium)
    if a > 1.0 or n <= 1.0:
        raise ParameterError("na", (na, n_medium), "needs NA <= 1 (air) and n_medium > 1")
    theta_m = math.asin(a / n)

    def f_h(t: float) -> float:
        ts, tp = _fresnel_power_t(t, n)
        return 0.375 * (ts + tp * math.cos(t) ** 2) * math.sin(t)

    def f_v(t: float) -> float:
        return 0.75 * _fresnel_power_t(t, n)[1] * math.sin(t) ** 3

    eta_h = quad(f_h, 0.0, theta_m, epsabs=1e-13, epsrel=1e-11)[0]
    eta_v = quad(f_v, 0.0, theta_m, epsabs=1e-13, epsrel=1e-11)[0]
    return float(eta_h), float(eta_v)


def collection_efficiency(dipole_polar_rad: ArrayLike, na: float, n_medium: float = 2.4) -> F64:
    """Collected fraction sin²θ·η_h + cos²θ·η_v for a dipole at polar angle θ from the normal.

    See :func:`planar_collection_efficiencies`; the isotropic average is (2η_h + η_v)/3.
    """
    theta = np.asarray(dipole_polar_rad, dtype=np.float64)
    if not np.all(np.isfinite(theta)):
        raise ParameterError("dipole_polar_rad", dipole_polar_rad, "must be finite")
    eta_h, eta_v = planar_collection_efficiencies(float(na), float(n_medium))
    s2 = np.sin(theta) ** 2
    result: F64 = s2 * eta_h + (1.0 - s2) * eta_v
    return result


def _detector_efficiency(detector: SPADModel, zpl_nm: F64) -> F64:
    return np.array([float(detector.efficiency_at(float(nm))) for nm in zpl_nm], dtype=np.float64)


def detection_efficiency(emitter: ChipEmitter, objective: Objective, detector: SPADModel) -> float:
    """η = min(1, collection(dipole, NA) × structure factor) × transmission × detector(ZPL).

    The detection path passes the ZPL and phonon sideband alike (long-pass filter); the
    detector efficiency is evaluated at the ZPL.
    """
    pp = emitter.photophysics
    col = float(collection_efficiency(pp.dipole_polar_rad, objective.na))
    col = min(1.0, col * emitter.collection_factor)
    return col * objective.transmission * float(detector.efficiency_at(pp.zpl_nm))


def detection_efficiencies(chip: Chip, objective: Objective, detector: SPADModel) -> F64:
    """:func:`detection_efficiency` of every emitter of ``chip`` (vectorised)."""
    a = chip.arrays
    col = collection_efficiency(a.dipole_polar_rad, objective.na, chip.config.refractive_index)
    col = np.minimum(1.0, col * a.collection_factor)
    result: F64 = col * objective.transmission * _detector_efficiency(detector, a.zpl_nm)
    return result


def fresnel_reflectance(n: float, n_outside: float = 1.0) -> float:
    """Normal-incidence reflectance ((n − n₀)/(n + n₀))² (Born & Wolf §1.5.3); GaN: 0.170."""
    n1 = check_positive("n", n)
    n0 = check_positive("n_outside", n_outside)
    return ((n1 - n0) / (n1 + n0)) ** 2


# ------------------------------------------------------------------------------- PL map


@njit(**JIT)  # type: ignore[untyped-decorator]
def _pl_kernel(
    px: F64,
    py: F64,
    zf: float,
    power: float,
    ex: F64,
    ey: F64,
    ez: F64,
    amp: F64,
    psat: F64,
    a_ex_xy: float,
    a_ex_z: float,
    a_det_xy: F64,
    a_det_z: F64,
    order: NDArray[np.int64],
    cell_start: NDArray[np.int64],
    x0: float,
    y0: float,
    cell_m: float,
    ncx: int,
    ncy: int,
    r2cut: float,
    out: F64,
) -> None:
    for p in range(px.size):
        cx = math.floor((px[p] - x0) / cell_m)
        cy = math.floor((py[p] - y0) / cell_m)
        acc = 0.0
        for gy in range(max(cy - 1, 0), min(cy + 2, ncy)):
            for gx in range(max(cx - 1, 0), min(cx + 2, ncx)):
                c = gy * ncx + gx
                for k in range(cell_start[c], cell_start[c + 1]):
                    i = order[k]
                    dx = px[p] - ex[i]
                    dy = py[p] - ey[i]
                    r2 = dx * dx + dy * dy
                    if r2 > r2cut:
                        continue
                    dz = ez[i] - zf
                    pe = power * math.exp(-r2 * a_ex_xy - dz * dz * a_ex_z)
                    det = math.exp(-r2 * a_det_xy[i] - dz * dz * a_det_z[i])
                    acc += amp[i] * pe / (pe + psat[i]) * det
        out[p] = acc


def pixel_arrays(xs_chip_m: ArrayLike, ys_chip_m: ArrayLike) -> tuple[F64, F64, tuple[int, ...]]:
    """Validate pixel coordinates of equal shape; return them flat, contiguous, and the shape."""
    x = np.asarray(xs_chip_m, dtype=np.float64)
    y = np.asarray(ys_chip_m, dtype=np.float64)
    if x.shape != y.shape:
        raise ParameterError("ys_chip_m", y.shape, f"must have the shape of xs_chip_m {x.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ParameterError("xs_chip_m/ys_chip_m", "non-finite", "must be finite")
    return np.ascontiguousarray(x.ravel()), np.ascontiguousarray(y.ravel()), x.shape


def pl_rate_map(
    chip: Chip,
    xs_chip_m: ArrayLike,
    ys_chip_m: ArrayLike,
    focus_depth_m: float,
    power_w: float,
    objective: Objective,
    detector: SPADModel,
    *,
    excitation_wavelength_m: float = 532e-9,
    emitter_scale: ArrayLike | None = None,
    extra_spots: tuple[BackgroundSpot, ...] = (),
    cutoff_sigmas: float = 6.0,
) -> F64:
    """Expected detected PL count rate (counts/s) with the focus at each pixel.

    For a focus at chip-frame ``(x, y)`` and actual depth z_f (from the nominal
    ``focus_depth_m``), emitter i at distance r and depth offset Δz contributes

        η_i · s_i · I∞,i · P E/(P E + P_sat,i) · D_i,

    with E = exp(−r²/2σ_ex,xy² − Δz²/2σ_ex,z²) the excitation PSF (so the emitter saturates
    on the local power P·E, three-level saturation law of REFERENCES.md), D_i the detection
    PSF at its ZPL, η_i from :func:`detection_efficiencies` and s_i = ``emitter_scale``
    (runtime state: 0 for bleached or dark emitters, an on-fraction for blinking ones;
    default 1). Emitters farther than ``cutoff_sigmas`` detection widths are skipped
    (relative error < exp(−cutoff²/2)). Spots add P·rate·exp(−r²/2(σ_s² + σ_eff²) −
    Δz²/2σ_eff,z²), and the background PL adds P·b(x, y)·½[1 + erf(z_f/√2σ_eff,z)] (the
    part of the confocal volume inside the GaN). Dark counts belong to the detector.

    Returns an array of the shape of ``xs_chip_m``.
    """
    px, py, shape = pixel_arrays(xs_chip_m, ys_chip_m)
    power = check_nonnegative("power_w", power_w)
    z_nom = check_finite("focus_depth_m", focus_depth_m)
    cut = check_positive("cutoff_sigmas", cutoff_sigmas)
    n_s = chip.config.refractive_index
    zf = float(actual_focus_depth_m(z_nom, objective, n_s))
    a = chip.arrays
    m = a.x_m.size
    if emitter_scale is None:
        scale = np.ones(m)
    else:
        scale = np.asarray(emitter_scale, dtype=np.float64)
        if scale.shape != (m,) or not np.all(np.isfinite(scale)) or np.any(scale < 0.0):
            raise ParameterError("emitter_scale", scale.shape, f"must be {m} finite values >= 0")
    key = ("pl_rate_map", objective, detector, float(excitation_wavelength_m))
    cached = chip.derived_cache.get(key)
    if cached is None:
        cached = (
            detection_efficiencies(chip, objective, detector) * a.i_inf_per_s,
            confocal_sigmas_m(excitation_wavelength_m, a.zpl_nm * 1e-9, objective, n_s),
        )
        chip.derived_cache[key] = cached
    amp = cached[0] * scale
    sig: ConfocalSigmas = cached[1]
    out = np.zeros(px.size)
    live = np.flatnonzero(amp > 0.0)
    if live.size and px.size:
        det_xy = sig.det_xy[live]
        cell = cut * float(det_xy.max())
        ex, ey = a.x_m[live], a.y_m[live]
        x0, y0 = float(ex.min()), float(ey.min())
        ncx = int((float(ex.max()) - x0) // cell) + 1
        ncy = int((float(ey.max()) - y0) // cell) + 1
        cid = ((ey - y0) // cell).astype(np.int64) * ncx + ((ex - x0) // cell).astype(np.int64)
        order = np.argsort(cid, kind="stable").astype(np.int64)
        cell_start = np.searchsorted(cid[order], np.arange(ncx * ncy + 1)).astype(np.int64)
        _pl_kernel(
            px, py, zf, power,
            np.ascontiguousarray(ex), np.ascontiguousarray(ey),
            np.ascontiguousarray(a.depth_m[live]), np.ascontiguousarray(amp[live]),
            np.ascontiguousarray(a.p_sat_w[live]),
            0.5 / sig.ex_xy**2, 0.5 / sig.ex_z**2,
            np.ascontiguousarray(0.5 / det_xy**2), np.ascontiguousarray(0.5 / sig.det_z[live] ** 2),
            order, cell_start, x0, y0, cell, ncx, ncy, cell * cell, out,
        )  # fmt: skip
    bg_lam = 0.5e-9 * (chip.config.zpl_nm[0] + chip.config.zpl_nm[1])
    bg = confocal_sigmas_m(excitation_wavelength_m, bg_lam, objective, n_s)
    eff_xy, eff_z = float(bg.eff_xy), float(bg.eff_z)
    for s in (*chip.spots, *extra_spots):
        var = s.sigma_m**2 + eff_xy**2
        reach = cut * math.sqrt(var)
        near = (np.abs(px - s.x_m) < reach) & (np.abs(py - s.y_m) < reach)
        if near.any():
            r2 = (px[near] - s.x_m) ** 2 + (py[near] - s.y_m) ** 2
            dz = s.depth_m - zf
            out[near] += (
                power * s.rate_per_s_per_w * np.exp(-r2 / (2 * var) - dz * dz / (2 * eff_z**2))
            )
    inside = 0.5 * (1.0 + math.erf(zf / (math.sqrt(2.0) * eff_z)))
    out += power * inside * chip.background(px, py)
    return out.reshape(shape)
