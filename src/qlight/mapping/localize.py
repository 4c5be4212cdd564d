"""Sub-pixel localization of one emitter by Poisson maximum likelihood, with its CRLB.

Model of the expected counts in pixel ``(i, j)`` centred at ``(x_j, y_i)`` with pitch ``a``::

    μ_ij = b + N · E_x(j) · E_y(i)

``sampling="integrated"`` (a camera pixel): ``E_x(j) = Φ((x_j + a/2 − x0)/σ) −
Φ((x_j − a/2 − x0)/σ)`` (erf pixel integrals of a normalised Gaussian PSF);
``sampling="point"`` (a confocal raster pixel, the PSF sampled at the pixel centre):
``E_x(j) = a·φ((x_j − x0)/σ)/σ``. In both cases ``N`` is the total number of signal photons
(the sum over an unbounded image) and ``b`` the background per pixel.

The fit minimises the exact Poisson negative log-likelihood ``Σ μ − k ln μ`` with its analytic
gradient and the Fisher-scoring Hessian (scipy ``trust-exact`` Newton trust region on
well-scaled parameters: position in pixels, log N, log b, log σ).
The Cramér–Rao bound is the inverse of the Fisher information ``I = Σ ∂μ ∂μᵀ / μ``
(Smith et al., Nat. Methods 7, 373 (2010), Eq. 4); Mortensen's closed forms
(Nat. Methods 7, 377 (2010), Eqs. 5–6; REFERENCES.md) are reported alongside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

from qlight._validation import check_nonnegative, check_positive
from qlight.errors import ParameterError

__all__ = [
    "FWHM_PER_SIGMA",
    "Localization",
    "Sampling",
    "crlb_mortensen_ml_m2",
    "expected_counts",
    "fisher_information",
    "localize_lsq",
    "localize_mle",
    "psf_sigma_from_fwhm",
    "var_mortensen_lsq_m2",
]

Sampling = Literal["point", "integrated"]

#: FWHM of a Gaussian in units of its standard deviation, 2√(2 ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_SQRT2PI = math.sqrt(2.0 * math.pi)


def psf_sigma_from_fwhm(fwhm_m: float) -> float:
    """Standard deviation of a Gaussian PSF of full width at half maximum ``fwhm_m``."""
    return check_positive("fwhm_m", fwhm_m) / FWHM_PER_SIGMA


@dataclass(frozen=True, slots=True)
class Localization:
    """The fitted emitter in one region of interest (stage frame, metres).

    Attributes
    ----------
    x_m, y_m : float
        Fitted position.
    photons : float
        Fitted total signal photons ``N``.
    background_per_px : float
        Fitted background counts per pixel ``b``.
    sigma_m : float
        Fitted (or fixed) PSF standard deviation.
    crlb_x_m, crlb_y_m : float
        Square roots of the Cramér–Rao bound (Fisher-information inverse) at the fit.
    crlb_mortensen_m : float
        Mortensen's closed-form ML standard deviation per axis at the fitted ``N``, ``b``, ``σ``.
    lsq_sd_mortensen_m : float
        Mortensen's least-squares standard deviation per axis at the same values.
    log_likelihood : float
        Poisson log-likelihood at the fit (without the ``ln k!`` constant).
    converged : bool
        Whether the optimiser reported success and the fit is inside the ROI.
    method : str
        ``"mle"`` or ``"lsq"``.
    pixel_m : float
        Pixel pitch of the fitted image.
    """

    x_m: float
    y_m: float
    photons: float
    background_per_px: float
    sigma_m: float
    crlb_x_m: float
    crlb_y_m: float
    crlb_mortensen_m: float
    lsq_sd_mortensen_m: float
    log_likelihood: float
    converged: bool
    method: str
    pixel_m: float


def _axis(
    c_px: NDArray[np.float64], x0_px: float, s_px: float, sampling: Sampling
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``E``, ``∂E/∂x0`` and ``∂E/∂σ`` along one axis (pixel units, pitch 1)."""
    if sampling == "integrated":
        up = (c_px + 0.5 - x0_px) / s_px
        lo = (c_px - 0.5 - x0_px) / s_px
        e = 0.5 * (special.erf(up / math.sqrt(2.0)) - special.erf(lo / math.sqrt(2.0)))
        pu = np.exp(-0.5 * up * up) / _SQRT2PI
        pl = np.exp(-0.5 * lo * lo) / _SQRT2PI
        de_dx = -(pu - pl) / s_px
        de_ds = -(up * pu - lo * pl) / s_px
        return e, de_dx, de_ds
    u = (c_px - x0_px) / s_px
    e = np.exp(-0.5 * u * u) / (_SQRT2PI * s_px)
    return e, e * u / s_px, e * (u * u - 1.0) / s_px


def _model(
    theta: NDArray[np.float64],
    cx: NDArray[np.float64],
    cy: NDArray[np.float64],
    sampling: Sampling,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``μ`` (ny, nx) and its Jacobian (5, ny, nx) in ``(x0, y0, N, b, σ)`` (pixel units)."""
    x0, y0, n, b, s = (float(v) for v in theta)
    ex, dex, dsx = _axis(cx, x0, s, sampling)
    ey, dey, dsy = _axis(cy, y0, s, sampling)
    g = ey[:, None] * ex[None, :]
    mu = b + n * g
    jac = np.empty((5, *g.shape))
    jac[0] = n * ey[:, None] * dex[None, :]
    jac[1] = n * dey[:, None] * ex[None, :]
    jac[2] = g
    jac[3] = 1.0
    jac[4] = n * (dsy[:, None] * ex[None, :] + ey[:, None] * dsx[None, :])
    return mu, jac


def expected_counts(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    x0_m: float,
    y0_m: float,
    photons: float,
    background_per_px: float,
    sigma_m: float,
    sampling: Sampling = "integrated",
) -> NDArray[np.float64]:
    """Expected counts ``μ_ij`` of the model above on the pixel grid ``(x_m, y_m)``.

    Parameters
    ----------
    x_m, y_m : array_like
        Pixel-centre coordinates (uniform pitch, at least 2 pixels per axis).
    x0_m, y0_m, photons, background_per_px, sigma_m : float
        Emitter position, total signal photons, background per pixel, PSF σ.
    sampling : {"integrated", "point"}
        Pixel-integrated (camera) or centre-sampled (confocal raster) PSF.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.arange(-20, 21) * 100e-9
    >>> mu = expected_counts(g, g, x0_m=0.0, y0_m=0.0, photons=1000.0,
    ...                      background_per_px=0.0, sigma_m=150e-9)
    >>> round(float(mu.sum()), 6)
    1000.0
    """
    xs, ys, a, ox, oy = _grid(x_m, y_m)
    theta = np.array(
        [(x0_m - ox) / a, (y0_m - oy) / a, photons, background_per_px, sigma_m / a], dtype=float
    )
    return _model(theta, xs, ys, sampling)[0]


def _grid(
    x_m: ArrayLike, y_m: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], float, float, float]:
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.size < 2 or y.size < 2:
        raise ParameterError("x_m", x.shape, "x_m and y_m must be 1-D with >= 2 pixels each")
    a = float(x[1] - x[0])
    if not a > 0.0 or not np.allclose(np.diff(x), a, rtol=1e-6, atol=0.0):
        raise ParameterError("x_m", "pitch", "must be increasing with a uniform pitch")
    if not np.allclose(np.diff(y), a, rtol=1e-6, atol=0.0):
        raise ParameterError("y_m", "pitch", "must be increasing with the pitch of x_m")
    return (x - x[0]) / a, (y - y[0]) / a, a, float(x[0]), float(y[0])


def fisher_information(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    x0_m: float,
    y0_m: float,
    photons: float,
    background_per_px: float,
    sigma_m: float,
    sampling: Sampling = "integrated",
    fit_sigma: bool = True,
) -> NDArray[np.float64]:
    """Poisson Fisher information ``I = Σ_pixels ∂μ ∂μᵀ / μ`` in SI units.

    Parameters are ordered ``(x0 [m], y0 [m], N, b, σ [m])`` (σ omitted when
    ``fit_sigma=False``). Smith et al., Nat. Methods 7, 373 (2010), Eq. 4.
    """
    xs, ys, a, ox, oy = _grid(x_m, y_m)
    theta = np.array(
        [(x0_m - ox) / a, (y0_m - oy) / a, photons, background_per_px, sigma_m / a], dtype=float
    )
    mu, jac = _model(theta, xs, ys, sampling)
    scale = np.array([1.0 / a, 1.0 / a, 1.0, 1.0, 1.0 / a])
    jac = jac * scale[:, None, None]
    k = 5 if fit_sigma else 4
    j = jac[:k].reshape(k, -1)
    return np.asarray((j * _inverse(mu).ravel()) @ j.T, dtype=np.float64)


def _inverse(mu: NDArray[np.float64]) -> NDArray[np.float64]:
    """``1/μ`` where ``μ > 0`` (pixels with ``μ = 0`` carry no information), else 0."""
    return np.divide(1.0, mu, out=np.zeros_like(mu), where=mu > 0.0)


def _mortensen_sigma_a2(sigma_m: float, pixel_m: float) -> float:
    return sigma_m * sigma_m + pixel_m * pixel_m / 12.0


def crlb_mortensen_ml_m2(
    sigma_m: float, pixel_m: float, photons: float, background_per_px: float
) -> float:
    """Mortensen's ML variance per axis ``σa²/N / (1 + ∫₀¹ ln t/(1 + t/τ) dt)``.

    ``σa² = σ² + a²/12``, ``τ = 2π σa² b/(N a²)`` with ``b`` the background photons per pixel
    (Mortensen et al., Nat. Methods 7, 377 (2010), Eq. 6, F = 1; REFERENCES.md). For ``b = 0``
    the integral vanishes and the variance is ``σa²/N``. The integral is evaluated in closed
    form, ``τ·Li₂(−1/τ)`` (dilogarithm).
    """
    s = check_positive("sigma_m", sigma_m)
    a = check_positive("pixel_m", pixel_m)
    n = check_positive("photons", photons)
    b = check_nonnegative("background_per_px", background_per_px)
    sa2 = _mortensen_sigma_a2(s, a)
    tau = 2.0 * math.pi * sa2 * b / (n * a * a)
    if tau == 0.0:
        return sa2 / n
    # ∫₀¹ ln t/(1 + t/τ) dt = τ·Li₂(−1/τ) (∫₀¹ ln t/(t + c) dt = Li₂(−1/c)), and
    # Li₂(z) = spence(1 − z) in scipy's convention
    if tau > 1e3:
        # background-dominated: 1 + τ·Li₂(−1/τ) cancels to ~1/(4τ) in floating point; use
        # the series Li₂(z) = Σ zᵏ/k², i.e. 1/(4τ) − 1/(9τ²) + 1/(16τ³) (error < 1e-9)
        rest = 1.0 / (4.0 * tau) - 1.0 / (9.0 * tau**2) + 1.0 / (16.0 * tau**3)
        return sa2 / n / rest
    val = tau * float(special.spence(1.0 + 1.0 / tau))
    return sa2 / n / (1.0 + val)


def var_mortensen_lsq_m2(
    sigma_m: float, pixel_m: float, photons: float, background_per_px: float
) -> float:
    """Mortensen's least-squares variance per axis ``σa²/N · (16/9 + 4τ)`` (Eq. 5, F = 1)."""
    s = check_positive("sigma_m", sigma_m)
    a = check_positive("pixel_m", pixel_m)
    n = check_positive("photons", photons)
    b = check_nonnegative("background_per_px", background_per_px)
    sa2 = _mortensen_sigma_a2(s, a)
    tau = 2.0 * math.pi * sa2 * b / (n * a * a)
    return sa2 / n * (16.0 / 9.0 + 4.0 * tau)


def _prepare(
    counts: ArrayLike, x_m: ArrayLike, y_m: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float, float, float]:
    k = np.asarray(counts, dtype=np.float64)
    xs, ys, a, ox, oy = _grid(x_m, y_m)
    if k.shape != (ys.size, xs.size):
        raise ParameterError("counts", k.shape, f"must have shape (ny, nx) = {(ys.size, xs.size)}")
    if not np.all(np.isfinite(k)) or bool(np.any(k < 0)):
        raise ParameterError("counts", "values", "must be finite and >= 0")
    return k, xs, ys, a, ox, oy


def _initial(
    k: NDArray[np.float64],
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    x0: float | None,
    y0: float | None,
    s0: float,
) -> NDArray[np.float64]:
    """Start values: background from the ROI border, position from the brightest pixel."""
    border = np.concatenate([k[0], k[-1], k[1:-1, 0], k[1:-1, -1]])
    b = max(float(np.median(border)), 1e-3)
    n = max(float(np.sum(k - b)), 10.0)
    if x0 is None or y0 is None:
        i, j = np.unravel_index(int(np.argmax(k)), k.shape)
        x0, y0 = float(xs[j]), float(ys[i])
    return np.array([x0, y0, n, b, s0])


def _finish(
    theta: NDArray[np.float64],
    k: NDArray[np.float64],
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    a: float,
    ox: float,
    oy: float,
    sampling: Sampling,
    fit_sigma: bool,
    ok: bool,
    method: str,
) -> Localization:
    mu, jac = _model(theta, xs, ys, sampling)
    ll = float(np.sum(k * np.log(mu) - mu))
    nk = 5 if fit_sigma else 4
    j = jac[:nk].reshape(nk, -1)
    info = (j * _inverse(mu).ravel()) @ j.T
    try:
        cov = np.linalg.inv(info)
        vx, vy = float(cov[0, 0]), float(cov[1, 1])
    except np.linalg.LinAlgError:
        vx = vy = math.inf
    x0, y0, n, b, s = (float(v) for v in theta)
    inside = -0.5 <= x0 <= xs[-1] + 0.5 and -0.5 <= y0 <= ys[-1] + 0.5
    s_m, bb = s * a, max(b, 0.0)
    n_ok = n > 0.0
    return Localization(
        x_m=ox + x0 * a,
        y_m=oy + y0 * a,
        photons=n,
        background_per_px=b,
        sigma_m=s_m,
        crlb_x_m=math.sqrt(max(vx, 0.0)) * a,
        crlb_y_m=math.sqrt(max(vy, 0.0)) * a,
        crlb_mortensen_m=math.sqrt(crlb_mortensen_ml_m2(s_m, a, n, bb)) if n_ok else math.inf,
        lsq_sd_mortensen_m=math.sqrt(var_mortensen_lsq_m2(s_m, a, n, bb)) if n_ok else math.inf,
        log_likelihood=ll,
        converged=bool(ok and inside and n_ok),
        method=method,
        pixel_m=a,
    )


def localize_mle(
    counts: ArrayLike,
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    sigma_m: float,
    x0_m: float | None = None,
    y0_m: float | None = None,
    fit_sigma: bool = True,
    sampling: Sampling = "integrated",
) -> Localization:
    """Fit one emitter by Poisson maximum likelihood (exact NLL, analytic gradient).

    Parameters
    ----------
    counts : array_like, shape (ny, nx)
        Counts in the region of interest (non-negative).
    x_m, y_m : array_like
        Pixel-centre coordinates (stage frame, uniform square pitch).
    sigma_m : float
        PSF standard deviation: the start value when ``fit_sigma`` (default), else fixed.
    x0_m, y0_m : float, optional
        Start position (default: the brightest pixel).
    fit_sigma : bool
        Fit the width too (needed to reject extended spots).
    sampling : {"integrated", "point"}
        Camera-like pixel integrals or centre-sampled confocal pixels.

    Returns
    -------
    Localization
        With the Fisher CRLB at the fit and Mortensen's closed forms.

    References
    ----------
    Smith et al., Nat. Methods 7, 373 (2010) (Poisson MLE, Fisher information);
    Mortensen et al., Nat. Methods 7, 377 (2010), Eqs. 5–6.
    """
    k, xs, ys, a, ox, oy = _prepare(counts, x_m, y_m)
    s0 = check_positive("sigma_m", sigma_m) / a
    gx = None if x0_m is None else (x0_m - ox) / a
    gy = None if y0_m is None else (y0_m - oy) / a
    t0 = _initial(k, xs, ys, gx, gy, s0)
    nk = 5 if fit_sigma else 4

    def unpack(p: NDArray[np.float64]) -> NDArray[np.float64]:
        # log-parameters are clipped so a wild trust-region step cannot overflow exp()
        s = _bounded_exp(p[4]) if fit_sigma else s0
        return np.array([p[0], p[1], _bounded_exp(p[2]), _bounded_exp(p[3]), s])

    def chain(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        # ∂θ/∂p for p = (x0, y0, log N, log b, log σ)
        return np.array([1.0, 1.0, theta[2], theta[3], theta[4]])[:nk]

    def fun(p: NDArray[np.float64]) -> float:
        mu, _ = _model(unpack(p), xs, ys, sampling)
        if not np.all(np.isfinite(mu)):
            return math.inf
        return float(np.sum(mu - k * np.log(mu)))

    def grad(p: NDArray[np.float64]) -> NDArray[np.float64]:
        theta = unpack(p)
        mu, jac = _model(theta, xs, ys, sampling)
        g = np.tensordot(jac[:nk], 1.0 - k / mu, axes=([1, 2], [0, 1]))
        return np.asarray(g * chain(theta), dtype=np.float64)

    def hess(p: NDArray[np.float64]) -> NDArray[np.float64]:
        # Fisher scoring: the expected Hessian Σ ∂μ∂μᵀ/μ (positive definite), chain-ruled
        theta = unpack(p)
        mu, jac = _model(theta, xs, ys, sampling)
        j = jac[:nk].reshape(nk, -1) * chain(theta)[:, None]
        return np.asarray((j / mu.ravel()) @ j.T, dtype=np.float64)

    p0 = np.array([t0[0], t0[1], math.log(t0[2]), math.log(t0[3]), math.log(s0)])[:nk]
    try:
        res = optimize.minimize(
            fun,
            p0,
            jac=grad,
            hess=hess,
            method="trust-exact",
            options={"gtol": 1e-7, "maxiter": 200},
        )
    except (ArithmeticError, ValueError, np.linalg.LinAlgError):
        # a numerically hopeless spot: report the start point as NOT converged, never raise
        return _finish(unpack(p0), k, xs, ys, a, ox, oy, sampling, fit_sigma, False, "mle")
    px = np.asarray(res.x, dtype=np.float64)
    theta = unpack(px)
    # converged when the Newton decrement gᵀH⁻¹g (the expected NLL gain of one more step) is
    # negligible; trust-exact may stop on float precision with success=False
    gr, hs = grad(px), hess(px)
    try:
        decrement = float(gr @ np.linalg.solve(hs, gr))
    except np.linalg.LinAlgError:
        decrement = math.inf
    ok = bool(res.success) or decrement < 1e-8
    return _finish(theta, k, xs, ys, a, ox, oy, sampling, fit_sigma, ok, "mle")


#: Largest |log| of photons, background or width (pixel units) the MLE may step to (e^50 ≈ 5e21).
_LOG_LIMIT = 50.0


def _bounded_exp(v: float) -> float:
    return math.exp(min(max(float(v), -_LOG_LIMIT), _LOG_LIMIT))


def localize_lsq(
    counts: ArrayLike,
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    sigma_m: float,
    x0_m: float | None = None,
    y0_m: float | None = None,
    fit_sigma: bool = True,
    sampling: Sampling = "integrated",
) -> Localization:
    """Fit the same model by unweighted least squares (the common, suboptimal estimator).

    Minimises ``Σ (k − μ)²`` with ``scipy.optimize.least_squares`` (analytic Jacobian).
    Mortensen et al. (2010), Eq. 5, gives its variance; it is worse than the MLE whenever
    there is background. The reported CRLB is that of the model, not of this estimator.
    """
    k, xs, ys, a, ox, oy = _prepare(counts, x_m, y_m)
    s0 = check_positive("sigma_m", sigma_m) / a
    gx = None if x0_m is None else (x0_m - ox) / a
    gy = None if y0_m is None else (y0_m - oy) / a
    t0 = _initial(k, xs, ys, gx, gy, s0)
    nk = 5 if fit_sigma else 4

    def full(p: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.array([p[0], p[1], p[2], p[3], p[4] if fit_sigma else s0])

    def resid(p: NDArray[np.float64]) -> NDArray[np.float64]:
        mu, _ = _model(full(p), xs, ys, sampling)
        return np.asarray((mu - k).ravel(), dtype=np.float64)

    def jacobian(p: NDArray[np.float64]) -> NDArray[np.float64]:
        _, jac = _model(full(p), xs, ys, sampling)
        return np.asarray(jac[:nk].reshape(nk, -1).T, dtype=np.float64)

    lo = [-1.0, -1.0, 1e-3, -np.inf, 0.2][:nk]
    hi = [xs[-1] + 1.0, ys[-1] + 1.0, np.inf, np.inf, float(max(xs.size, ys.size))][:nk]
    p0 = np.clip(t0[:nk], np.array(lo) + 1e-9, np.array(hi) - 1e-9)
    res = optimize.least_squares(resid, p0, jac=jacobian, bounds=(lo, hi), x_scale="jac")
    theta = full(np.asarray(res.x, dtype=np.float64))
    theta[3] = max(theta[3], 1e-9)  # μ must stay positive for the likelihood and the CRLB
    return _finish(theta, k, xs, ys, a, ox, oy, sampling, fit_sigma, bool(res.success), "lsq")
