"""Emission spectrum: zero-phonon line centre and width, Debye–Waller factor.

Model of the counts per spectrometer pixel ``j`` (pixel-centre wavelengths ``λ_j``, linear
grid of pitch ``w``)::

    μ_j = N · w · [DW · Z(λ_j) + (1 − DW) · (P ⊛ G)(λ_j)] + b0 + b1 · (band ⊛ G)(λ_j),

* ``Z`` — the zero-phonon line (ZPL): a Lorentzian of FWHM ``Γ`` (homogeneous + spectral
  diffusion at room temperature) convolved with the spectrometer's Gaussian instrument
  function ``G`` (FWHM = the resolution, fixed): the Voigt profile (``scipy.special.
  voigt_profile``, Faddeeva function; Armstrong, JQSRT 7, 61 (1967)). The Lorentzian is
  truncated at ±20 Γ and renormalised, the convention of :mod:`qlight.physics.emitter_spectrum`
  (it fixes which far-wing photons count as "ZPL": an untruncated Lorentzian would put 1.6 %
  more of its area outside any realistic window);
* ``P`` — the phonon sideband (PSB): one Gaussian in photon energy, red-shifted from the ZPL
  by ``ΔE`` and of FWHM ``W`` (both fitted), mapped to wavelength with ``|dE/dλ| = hc/λ²``
  (the sideband of a single effective phonon mode in the Huang–Rhys picture; Huang & Rhys,
  Proc. R. Soc. A 204, 406 (1950); for GaN emitters the LO phonon ≈ 92 meV: Berhane et al.,
  Adv. Mater. 29, 1605092 (2017)); convolved numerically with ``G``;
* ``DW`` — the Debye–Waller factor, the fraction of the emission in the ZPL (ZPL area /
  total emission area; Aharonovich et al., Nat. Photonics 10, 631 (2016), Box 1);
* ``b0`` a flat floor (dark counts) and, optionally, ``b1`` a flat level inside a detection
  band (background photoluminescence behind a band-pass filter), blurred by ``G``.

Counts are Poisson (maximum likelihood by least squares on deviance residuals,
:mod:`qlight.characterization.devfit`); the ZPL centre, FWHM and ``DW`` get 95 %
profile-likelihood intervals (every other parameter re-optimised). Pixels are integrated by
the midpoint rule on a grid oversampled ``OVERSAMPLE`` times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from qlight.characterization.devfit import DevianceFit, fit_deviance, profile_interval
from qlight.characterization.uncertainty import Estimate, Result, Undetermined, fits_well
from qlight.errors import ParameterError

__all__ = ["OVERSAMPLE", "SpectrumFit", "fit_spectrum", "spectrum_model"]

#: hc in eV·nm (CODATA 2018).
HC_EV_NM = 1239.841984
#: Sub-pixel samples of the midpoint rule.
OVERSAMPLE = 2
#: ZPL Lorentzian truncated at ±ZPL_CUT_FWHM full widths (as in physics.emitter_spectrum).
ZPL_CUT_FWHM = 20.0
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: Likelihood ratio (line + sideband against background only) needed to call a line: the
#: 99.9 % point of χ² with the 6 extra parameters. Stricter than 95 % because the line's
#: position and width are not identified under the null (Davies, Biometrika 74, 33 (1987)):
#: the maximum over positions has a heavier tail than χ²₆.
LINE_LR_THRESHOLD = float(stats.chi2.ppf(0.999, 6))


@dataclass(frozen=True)
class SpectrumFit:
    """Result of :func:`fit_spectrum`.

    ``zpl_nm``, ``zpl_fwhm_nm`` (the Lorentzian FWHM, the instrument function removed) and
    ``debye_waller`` are :class:`Estimate` or :class:`Undetermined`; ``curve`` is the fitted
    counts per pixel (empty when no fit was made); ``psb_shift_mev`` and ``psb_fwhm_mev`` the
    sideband's fitted shift and width; ``emitter_counts`` the fitted ZPL + PSB counts over
    all wavelengths.
    """

    zpl_nm: Result
    zpl_fwhm_nm: Result
    debye_waller: Result
    psb_shift_mev: float
    psb_fwhm_mev: float
    emitter_counts: float
    curve: NDArray[np.float64]
    deviance: float
    dof: int


def _undetermined(why: str) -> SpectrumFit:
    return SpectrumFit(
        Undetermined(why, "nm"),
        Undetermined(why, "nm"),
        Undetermined(why, ""),
        math.nan,
        math.nan,
        math.nan,
        np.zeros(0),
        math.nan,
        0,
    )


def _fine_grid(lam: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    pitch = float(lam[1] - lam[0])
    off = (np.arange(OVERSAMPLE) + 0.5) / OVERSAMPLE - 0.5
    return (lam[:, None] + off[None, :] * pitch).ravel(), pitch


def _blur(y: NDArray[np.float64], step: float, sigma: float) -> NDArray[np.float64]:
    """Convolve samples of step ``step`` with a normalised Gaussian (edges padded by reflection
    of the end values)."""
    half = math.ceil(5.0 * sigma / step)
    if half < 1:
        return y
    x = np.arange(-half, half + 1) * step
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    padded = np.concatenate([np.full(half, y[0]), y, np.full(half, y[-1])])
    return np.asarray(np.convolve(padded, k, mode="valid"), dtype=np.float64)


def spectrum_model(
    wavelength_nm: ArrayLike,
    params: ArrayLike,
    *,
    resolution_nm: float,
    band_nm: tuple[float, float] | None = None,
) -> NDArray[np.float64]:
    """Expected counts per pixel of the module docstring.

    Parameters
    ----------
    wavelength_nm : array_like
        Pixel centres (linear grid, increasing).
    params : array_like
        ``(N, DW, λ0_nm, Γ_nm, ΔE_meV, W_meV, b0[, b1])``: emitter counts over all
        wavelengths, Debye–Waller factor, ZPL centre and Lorentzian FWHM, sideband shift and
        FWHM, flat floor per pixel and (with ``band_nm``) in-band level per pixel.
    resolution_nm : float
        FWHM of the Gaussian instrument function (> 0).
    band_nm : (float, float), optional
        Detection band of the background level ``b1``.
    """
    lam = np.asarray(wavelength_nm, dtype=np.float64)
    p = np.asarray(params, dtype=np.float64)
    n_tot, dw, lam0, gam_fwhm, shift_mev, psb_fwhm_mev, b0 = (float(v) for v in p[:7])
    fine, pitch = _fine_grid(lam)
    sigma = resolution_nm / _FWHM_PER_SIGMA
    gamma = 0.5 * gam_fwhm
    cut = ZPL_CUT_FWHM * gam_fwhm
    norm = (2.0 / math.pi) * math.atan(cut / gamma)
    # Truncated Lorentzian ⊛ G ≈ Voigt × (step ⊛ G): the Lorentzian varies slowly over σ at
    # the cut (20 Γ away), and the blurred step keeps the model smooth in λ0 and Γ.
    x = fine - lam0
    r2s = math.sqrt(2.0) * sigma
    window = 0.5 * (special.erf((cut - x) / r2s) + special.erf((cut + x) / r2s))
    zpl = special.voigt_profile(x, sigma, gamma) * window / norm
    e_mean = HC_EV_NM / lam0 - shift_mev * 1e-3
    s_e = psb_fwhm_mev * 1e-3 / _FWHM_PER_SIGMA
    step = pitch / OVERSAMPLE
    pad = math.ceil(5.0 * sigma / step)
    ext = fine[0] + (np.arange(-pad, fine.size + pad)) * step  # the sideband beyond the window
    energy = HC_EV_NM / ext
    psb = np.exp(-0.5 * ((energy - e_mean) / s_e) ** 2) / (s_e * math.sqrt(2.0 * math.pi))
    psb = _blur(psb * HC_EV_NM / ext**2, step, sigma)[pad : pad + fine.size]
    dens = n_tot * (dw * zpl + (1.0 - dw) * psb)
    if band_nm is not None and p.size > 7:
        inband = ((fine >= band_nm[0]) & (fine <= band_nm[1])).astype(np.float64)
        dens = dens + float(p[7]) / pitch * _blur(inband, pitch / OVERSAMPLE, sigma)
    per_pixel = dens.reshape(lam.size, OVERSAMPLE).mean(axis=1) * pitch
    return np.asarray(per_pixel + b0, dtype=np.float64)


def _check(
    lam: NDArray[np.float64], n: NDArray[np.float64], resolution_nm: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if lam.ndim != 1 or lam.shape != n.shape or lam.size < 16:
        raise ParameterError("wavelength_nm", lam.shape, "must be 1-D, >= 16 pixels, as counts")
    if not np.all(np.isfinite(lam)) or np.any(np.diff(lam) <= 0.0):
        raise ParameterError("wavelength_nm", "…", "must be finite and strictly increasing")
    pitch = np.diff(lam)
    if np.ptp(pitch) > 1e-3 * float(pitch.mean()):
        raise ParameterError("wavelength_nm", "…", "must be a linear grid")
    if not np.all(np.isfinite(n)) or np.any(n < 0.0):
        raise ParameterError("counts", "…", "must be finite and >= 0")
    if not math.isfinite(resolution_nm) or resolution_nm <= 0.0:
        raise ParameterError("resolution_nm", resolution_nm, "must be finite and > 0")
    return lam, n


def _ci(fit: DevianceFit, index: int, unit: str, factor: float, offset: float) -> Result:
    """Profile interval of internal parameter ``index``, mapped by ``offset + factor · x``."""
    v = offset + factor * float(fit.params[index])
    try:
        lo, hi = profile_interval(fit, index)
    except RuntimeError:
        return Undetermined(f"profile interval did not converge ({v:.4g} {unit})", unit)
    a, b = fit.bounds[index]
    if lo <= a or hi >= b:
        return Undetermined(f"interval reaches the fit bound ({v:.4g} {unit})", unit)
    return Estimate(v, (offset + factor * lo, offset + factor * hi), unit)


def fit_spectrum(
    wavelength_nm: ArrayLike,
    counts: ArrayLike,
    *,
    resolution_nm: float,
    band_nm: tuple[float, float] | None = None,
    min_counts: float = 500.0,
) -> SpectrumFit:
    """Poisson maximum-likelihood fit of ZPL + phonon sideband + background (module docstring).

    Parameters
    ----------
    wavelength_nm, counts : array_like
        Pixel-centre wavelengths (linear, increasing) and counts per pixel.
    resolution_nm : float
        FWHM of the spectrometer's Gaussian instrument function.
    band_nm : (float, float), optional
        Band of a flat background level (e.g. the detection filter); without it the
        background is one flat floor.
    min_counts : float, optional
        Fewer counts above the floor: not determined.

    Returns
    -------
    SpectrumFit
        Not-determined results (with the reason) for too few counts, a spectrum without a
        line (likelihood ratio against background only below :data:`LINE_LR_THRESHOLD`) or
        a failed fit.
    """
    lam, n = _check(
        np.asarray(wavelength_nm, dtype=np.float64),
        np.asarray(counts, dtype=np.float64),
        float(resolution_nm),
    )
    floor = float(max(np.percentile(n, 5), 0.1))
    net = float(n.sum() - floor * n.size)
    if net < min_counts:
        return _undetermined(
            f"spectrum not determined: {net:.0f} counts above the floor (need >= {min_counts:.0f})"
        )
    pitch = float(lam[1] - lam[0])
    span = float(lam[-1] - lam[0]) + pitch
    nb = 8 if band_nm is not None else 7

    lam_ref = float(lam[0])
    # Internal parameters of order one (L-BFGS-B's finite-difference gradient and stopping
    # rule are scale dependent): counts / net, DW, centre and width in pixels from the first
    # pixel, sideband shift and width in units of 10 meV, background / floor.
    unit = np.array([net, 1.0, pitch, pitch, 10.0, 10.0, floor, floor][:nb])

    def physical(p: NDArray[np.float64]) -> NDArray[np.float64]:
        q: NDArray[np.float64] = np.asarray(p * unit, dtype=np.float64)
        q[2] += lam_ref
        return q

    def model(p: NDArray[np.float64]) -> NDArray[np.float64]:
        return spectrum_model(lam, physical(p), resolution_nm=resolution_nm, band_nm=band_nm)

    # Background-only null model: is there a line at all?
    def null(p: NDArray[np.float64]) -> NDArray[np.float64]:
        q = np.zeros(nb)
        q[:6] = (0.0, 0.5, 0.0, 1.0, 9.0, 6.0)
        q[6:] = p
        return model(q)

    null_fit = fit_deviance(null, n, [1.0] * (nb - 6), [(0.0, 1e3)] * (nb - 6))
    kernel = max(1, round(resolution_nm / pitch))
    smooth = np.convolve(n, np.ones(kernel) / kernel, mode="same")
    j = int(np.argmax(smooth))
    half = smooth > floor + 0.5 * (smooth[j] - floor)
    width0 = max(float(half.sum()) * pitch - resolution_nm, 2.0 * pitch)
    n_pix = float(lam.size)
    bounds = [(0.0, 10.0), (0.0, 1.0), (0.0, n_pix - 1.0), (0.2, 0.5 * span / pitch),
              (1.0, 40.0), (0.5, 40.0), (0.0, 1e3)]  # fmt: skip
    if nb == 8:
        bounds.append((0.0, 1e4))
    best: DevianceFit | None = None
    for dw0 in (0.5, 0.8, 0.2):
        x0 = [1.0, dw0, float(j), min(width0, 0.4 * span) / pitch, 9.0, 6.0, 1.0]
        if nb == 8:
            x0.append(1.0)
        f = fit_deviance(model, n, x0, bounds)
        if f.converged and (best is None or f.deviance < best.deviance):
            best = f
        if best is not None and fits_well(best.deviance, best.n_bins):
            break
    if best is None:
        return _undetermined("spectrum fit did not converge")
    lr = null_fit.deviance - best.deviance
    if lr < LINE_LR_THRESHOLD:
        return _undetermined(f"no emission line: likelihood ratio {lr:.1f} against background only")
    p = best.params
    phys = physical(p)
    zpl = _ci(best, 2, "nm", pitch, lam_ref)
    fwhm = _ci(best, 3, "nm", pitch, 0.0)
    dw = _ci(best, 1, "", 1.0, 0.0)
    return SpectrumFit(
        zpl_nm=zpl,
        zpl_fwhm_nm=fwhm,
        debye_waller=dw,
        psb_shift_mev=float(phys[4]),
        psb_fwhm_mev=float(phys[5]),
        emitter_counts=float(phys[0]),
        curve=model(p),
        deviance=best.deviance,
        dof=best.n_bins - p.size,
    )
