"""Emission spectrum and polarization of one emitter (zero-phonon line, phonon sideband, dipole).

Spectrum: a fraction ``debye_waller`` of the photons falls in the zero-phonon line (ZPL), a
Lorentzian in wavelength of FWHM ``zpl_fwhm_nm`` centred on ``zpl_nm`` and truncated at ±20
FWHM (so that no wavelength is negative; the truncation drops 1.6 % of a Lorentzian's area and
the rest is renormalised). The remaining ``1 − debye_waller`` forms the phonon sideband (PSB),
modelled as one Gaussian replica in photon energy, red-shifted by ``psb_shift_mev`` (default
92 meV, the GaN LO phonon) with FWHM ``psb_fwhm_mev`` (*estimate*, no source gave a shape).

Polarization: a single linear dipole (``REFERENCES.md``: "single linear dipole, nearly
perpendicular to the c-axis") seen along the c-axis transmits a fraction
``(1 + V cos 2(θ − φ))/2`` through an analyser at θ (Malus's law with visibility ``V``, φ the
dipole azimuth). ``V`` lumps the residual depolarization of the optics and the out-of-plane
dipole component; the dipole direction itself is returned by :func:`dipole_unit_vector` for the
collection-efficiency model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import scipy.constants as const
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_positive_int
from qlight.errors import ParameterError

if TYPE_CHECKING:
    from qlight.physics.emitter import EmitterPhotophysics

__all__ = [
    "HC_EV_NM",
    "dipole_unit_vector",
    "polarization_transmission",
    "sample_wavelengths_nm",
    "spectral_average",
    "spectral_density",
]

#: h·c in eV·nm (scipy.constants), E[eV] = HC_EV_NM / λ[nm].
HC_EV_NM: float = const.h * const.c / const.e * 1e9

#: ZPL Lorentzian truncated at ±ZPL_CUT_FWHM full widths.
ZPL_CUT_FWHM = 20.0
_SIG_PER_FWHM = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def _grid(wavelength_nm: ArrayLike) -> NDArray[np.float64]:
    lam = np.asarray(wavelength_nm, dtype=np.float64)
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0.0):
        raise ParameterError("wavelength_nm", wavelength_nm, "must be finite and > 0")
    return lam


def _zpl(ph: EmitterPhotophysics, lam: NDArray[np.float64]) -> NDArray[np.float64]:
    gamma = 0.5 * ph.zpl_fwhm_nm
    cut = ZPL_CUT_FWHM * ph.zpl_fwhm_nm
    norm = (2.0 / math.pi) * math.atan(cut / gamma)
    dens = gamma / (math.pi * ((lam - ph.zpl_nm) ** 2 + gamma**2)) / norm
    return np.asarray(np.where(np.abs(lam - ph.zpl_nm) <= cut, dens, 0.0), dtype=np.float64)


def _psb(ph: EmitterPhotophysics, lam: NDArray[np.float64]) -> NDArray[np.float64]:
    e_mean = HC_EV_NM / ph.zpl_nm - ph.psb_shift_mev * 1e-3
    sigma = ph.psb_fwhm_mev * 1e-3 * _SIG_PER_FWHM
    energy = HC_EV_NM / lam
    dens_e = np.exp(-0.5 * ((energy - e_mean) / sigma) ** 2) / (sigma * math.sqrt(2.0 * math.pi))
    return np.asarray(dens_e * HC_EV_NM / lam**2, dtype=np.float64)


def spectral_density(ph: EmitterPhotophysics, wavelength_nm: ArrayLike) -> NDArray[np.float64]:
    """Normalized photon spectral density per nm: ``DW · ZPL(λ) + (1 − DW) · PSB(λ)``.

    The PSB density in wavelength is the Gaussian in energy times ``|dE/dλ| = hc/λ²``; the
    whole density integrates to 1 over λ > 0 (up to the Gaussian's mass at E ≤ 0, < 1e-100).
    """
    lam = _grid(wavelength_nm)
    dw = ph.debye_waller
    return np.asarray(dw * _zpl(ph, lam) + (1.0 - dw) * _psb(ph, lam), dtype=np.float64)


def sample_wavelengths_nm(
    ph: EmitterPhotophysics, n: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Draw ``n`` photon wavelengths from :func:`spectral_density` (exact inversion).

    ZPL photons: ``λ0 + γ tan((2u − 1)·atan(cut/γ))`` (truncated Cauchy); PSB photons:
    ``hc/E`` with ``E`` Gaussian, redrawn in the (never observed) case ``E <= 0``.
    """
    check_positive_int("n", n)
    in_zpl = rng.random(n) < ph.debye_waller
    gamma = 0.5 * ph.zpl_fwhm_nm
    half_angle = math.atan(ZPL_CUT_FWHM * ph.zpl_fwhm_nm / gamma)
    lam_zpl = ph.zpl_nm + gamma * np.tan((2.0 * rng.random(n) - 1.0) * half_angle)
    e_mean = HC_EV_NM / ph.zpl_nm - ph.psb_shift_mev * 1e-3
    sigma = ph.psb_fwhm_mev * 1e-3 * _SIG_PER_FWHM
    energy = rng.normal(e_mean, sigma, n)
    while np.any(bad := energy <= 0.0):
        energy[bad] = rng.normal(e_mean, sigma, int(bad.sum()))
    return np.asarray(np.where(in_zpl, lam_zpl, HC_EV_NM / energy), dtype=np.float64)


def spectral_average(ph: EmitterPhotophysics, curve: tuple[tuple[float, float], ...]) -> float:
    """Average over the emission spectrum of a piecewise-linear ``(λ_nm, value)`` curve.

    Zero outside the tabulated range (used for detector efficiencies). Integrated with the
    trapezoid rule on separate fine grids for the ZPL and the PSB (relative error < 1e-6).
    """
    pts = np.asarray(curve, dtype=np.float64)
    gamma = 0.5 * ph.zpl_fwhm_nm
    cut = ZPL_CUT_FWHM * ph.zpl_fwhm_nm
    # ZPL on a grid uniform in the Cauchy angle (dense near the line centre).
    ang = np.linspace(-math.atan(cut / gamma), math.atan(cut / gamma), 20001)
    lam_z = ph.zpl_nm + gamma * np.tan(ang)
    val_z = np.interp(lam_z, pts[:, 0], pts[:, 1], left=0.0, right=0.0)
    zpl_mean = float(np.trapezoid(val_z, ang) / (ang[-1] - ang[0]))
    e_mean = HC_EV_NM / ph.zpl_nm - ph.psb_shift_mev * 1e-3
    sigma = ph.psb_fwhm_mev * 1e-3 * _SIG_PER_FWHM
    energy = np.linspace(max(e_mean - 10.0 * sigma, 1e-3), e_mean + 10.0 * sigma, 20001)
    wts = np.exp(-0.5 * ((energy - e_mean) / sigma) ** 2)
    val_p = np.interp(HC_EV_NM / energy, pts[:, 0], pts[:, 1], left=0.0, right=0.0)
    psb_mean = float(np.trapezoid(val_p * wts, energy) / np.trapezoid(wts, energy))
    return ph.debye_waller * zpl_mean + (1.0 - ph.debye_waller) * psb_mean


def polarization_transmission(
    ph: EmitterPhotophysics, analyser_rad: ArrayLike
) -> NDArray[np.float64]:
    """Analyser transmission ``(1 + V cos 2(θ − φ_dipole))/2`` (Malus with visibility V)."""
    theta = np.asarray(analyser_rad, dtype=np.float64)
    if not np.all(np.isfinite(theta)):
        raise ParameterError("analyser_rad", analyser_rad, "must be finite")
    v = ph.polarization_visibility
    return np.asarray(0.5 * (1.0 + v * np.cos(2.0 * (theta - ph.dipole_azimuth_rad))))


def dipole_unit_vector(ph: EmitterPhotophysics) -> NDArray[np.float64]:
    """Dipole direction ``(sinθ cosφ, sinθ sinφ, cosθ)``, z along the c-axis (surface normal)."""
    th, phi = ph.dipole_polar_rad, ph.dipole_azimuth_rad
    return np.array(
        [math.sin(th) * math.cos(phi), math.sin(th) * math.sin(phi), math.cos(th)],
        dtype=np.float64,
    )
