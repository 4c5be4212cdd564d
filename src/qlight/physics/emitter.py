"""Three-level photophysics of a GaN defect emitter: rates, steady state, g2, saturation.

Levels: ground 1, excited 2, metastable (shelving) 3. The pump rate ``k12`` is linear in the
excitation power, ``k21`` is the total decay rate of level 2 (radiative fraction ``qe``),
``k23`` the intersystem crossing into the shelving level and ``k31`` its relaxation. With the
population vector ``p = (p1, p2, p3)`` the rate equations are ``dp/dt = Q p`` with

    Q = [[-k12,          k21,  k31],
         [ k12, -(k21 + k23),    0],
         [   0,          k23, -k31]].

Everything here is exact for this model: closed-form steady state, the exact g2 from the
eigenvalues of ``Q`` (not only the Kurtsiefer two-exponential form, which needs them real),
the saturation curve, and the g2 of the four-state chain that adds power-dependent blinking.
The spectrum and the polarization response live in :mod:`qlight.physics.emitter_spectrum`.

References
----------
C. Kurtsiefer, S. Mayer, P. Zarda, H. Weinfurter, PRL 85, 290 (2000): three-level g2.
R. Brouri, A. Beveratos, J.-P. Poizat, P. Grangier, Opt. Lett. 25, 1294 (2000): background.
A. M. Berhane, C. Bradac, I. Aharonovich, PRB 96, 041203 (2017): power-dependent blinking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import linalg, special

from qlight._validation import check_finite, check_fraction, check_nonnegative, check_positive
from qlight.errors import ParameterError
from qlight.physics import emitter_spectrum

__all__ = [
    "Blinking",
    "EmitterPhotophysics",
    "ThreeLevelRates",
    "emission_rate_per_s",
    "g2_exact",
    "g2_kurtsiefer_params",
    "g2_markov",
    "g2_with_background",
    "g2_with_jitter",
    "rate_matrix",
    "saturation_curve",
    "steady_state",
]


@dataclass(frozen=True, slots=True)
class ThreeLevelRates:
    """Transition rates of the three-level model, in 1/ns.

    Parameters
    ----------
    k12_per_ns : float
        Pump rate 1→2 (>= 0; proportional to the excitation power).
    k21_per_ns : float
        Total decay rate 2→1 (> 0), radiative plus non-radiative.
    k23_per_ns : float
        Intersystem crossing 2→3 (>= 0).
    k31_per_ns : float
        Relaxation of the shelving level 3→1 (> 0).
    qe : float
        Radiative fraction of ``k21`` (quantum efficiency of the 2→1 decay), in [0, 1].
    """

    k12_per_ns: float
    k21_per_ns: float
    k23_per_ns: float
    k31_per_ns: float
    qe: float = 1.0

    def __post_init__(self) -> None:
        check_nonnegative("k12_per_ns", self.k12_per_ns)
        check_positive("k21_per_ns", self.k21_per_ns)
        check_nonnegative("k23_per_ns", self.k23_per_ns)
        check_positive("k31_per_ns", self.k31_per_ns)
        check_fraction("qe", self.qe)


def rate_matrix(
    rates: ThreeLevelRates, *, k_off_per_ns: float = 0.0, k_on_per_ns: float = 0.0
) -> NDArray[np.float64]:
    """Generator ``Q`` of the rate equations ``dp/dt = Q p`` (columns sum to zero).

    Without blinking (``k_off_per_ns == 0``) this is the 3×3 matrix of the module docstring.
    With blinking it is 4×4: a dark state 4 is entered from every level at ``k_off_per_ns``
    and left to the ground state at ``k_on_per_ns`` (model of ``docs/twin/photophysics.md``).
    """
    k12, k21, k23, k31 = rates.k12_per_ns, rates.k21_per_ns, rates.k23_per_ns, rates.k31_per_ns
    q = np.array([[-k12, k21, k31], [k12, -(k21 + k23), 0.0], [0.0, k23, -k31]], dtype=np.float64)
    k_off = check_nonnegative("k_off_per_ns", k_off_per_ns)
    if k_off == 0.0:
        return q
    k_on = check_positive("k_on_per_ns", k_on_per_ns)
    q4 = np.zeros((4, 4), dtype=np.float64)
    q4[:3, :3] = q - k_off * np.eye(3)
    q4[3, :3] = k_off
    q4[0, 3] = k_on
    q4[3, 3] = -k_on
    return q4


def steady_state(rates: ThreeLevelRates) -> NDArray[np.float64]:
    """Steady-state populations ``(p1, p2, p3)`` of the three-level model.

    From ``Q p = 0``: ``p1 : p2 : p3 = (k21+k23) k31 : k12 k31 : k12 k23``.
    """
    k12, k21, k23, k31 = rates.k12_per_ns, rates.k21_per_ns, rates.k23_per_ns, rates.k31_per_ns
    w = np.array([(k21 + k23) * k31, k12 * k31, k12 * k23], dtype=np.float64)
    return np.asarray(w / w.sum(), dtype=np.float64)


def emission_rate_per_s(rates: ThreeLevelRates) -> float:
    """Photon emission rate ``qe · k21 · p2`` in photons per second (no collection losses)."""
    return float(rates.qe * rates.k21_per_ns * steady_state(rates)[1] * 1e9)


def _tau_ns(tau_ps: ArrayLike) -> NDArray[np.float64]:
    tau = np.asarray(tau_ps, dtype=np.float64)
    if not np.all(np.isfinite(tau)):
        raise ParameterError("tau_ps", tau_ps, "must be finite")
    return np.abs(tau) * 1e-3


def _eigen_terms(rates: ThreeLevelRates) -> tuple[float, float, float, float]:
    """Return ``(b, D, y0dot, m)`` of g2 − 1 = y, y'' + b y' + c y = 0, y(0) = −1."""
    k12, k21, k23, k31 = rates.k12_per_ns, rates.k21_per_ns, rates.k23_per_ns, rates.k31_per_ns
    if k12 <= 0.0:
        raise ParameterError("k12_per_ns", k12, "must be > 0 for g2 (no emission without pump)")
    b = k12 + k21 + k23 + k31
    c = k12 * k23 + k12 * k31 + k21 * k31 + k23 * k31
    y0dot = k12 / steady_state(rates)[1]  # dp2/dt(0) = k12 when starting in level 1
    return b, b * b - 4.0 * c, y0dot, -0.5 * b


def g2_exact(tau_ps: ArrayLike, rates: ThreeLevelRates) -> NDArray[np.float64]:
    """Exact CW g2(τ) of the three-level model, from the eigenvalues of the rate matrix.

    ``g2(τ) = p2(|τ| | p(0) = e1) / p2_ss``. The two non-zero eigenvalues of ``Q`` are
    ``λ = (−b ± √D)/2`` with ``b = k12+k21+k23+k31``, ``D = b² − 4c`` and
    ``c = k12 k23 + k12 k31 + k21 k31 + k23 k31``; ``y = g2 − 1`` solves
    ``y'' + b y' + c y = 0`` with ``y(0) = −1`` and ``y'(0) = k12 / p2_ss``. The solution is
    written as ``y = e^{mτ}[y0 g + (y0' − m y0) f]`` with ``m = −b/2`` and ``(f, g)`` =
    ``(sinh(sτ)/s, cosh(sτ))``, ``(τ, 1)`` or ``(sin(ωτ)/ω, cos(ωτ))`` for ``D`` > 0, = 0, < 0,
    so that real, degenerate and complex eigenvalues are all handled (Kurtsiefer et al.,
    PRL 85, 290 (2000) give the real case).

    Parameters
    ----------
    tau_ps : array_like
        Delays in picoseconds (any sign; g2 is symmetric).
    rates : ThreeLevelRates
        Rates with ``k12_per_ns > 0``.

    Returns
    -------
    ndarray of float64
        g2 at each delay (same shape as ``tau_ps``).

    Examples
    --------
    >>> r = ThreeLevelRates(k12_per_ns=0.5, k21_per_ns=0.5, k23_per_ns=0.0, k31_per_ns=0.01)
    >>> float(g2_exact(0.0, r)), round(float(g2_exact(1000.0, r)), 6)
    (0.0, 0.632121)
    """
    tau = _tau_ns(tau_ps)
    _, D, y0dot, m = _eigen_terms(rates)
    y0 = -1.0
    if D > 0.0:
        s = 0.5 * math.sqrt(D)
        lam_slow, lam_fast = m + s, m - s
        ef = np.exp(lam_slow * tau) * (-np.expm1(-2.0 * s * tau)) / (2.0 * s)
        eg = 0.5 * (np.exp(lam_slow * tau) + np.exp(lam_fast * tau))
    elif D < 0.0:
        w = 0.5 * math.sqrt(-D)
        ef = np.exp(m * tau) * np.sin(w * tau) / w
        eg = np.exp(m * tau) * np.cos(w * tau)
    else:
        ef = np.exp(m * tau) * tau
        eg = np.exp(m * tau)
    return np.asarray(1.0 + y0 * eg + (y0dot - m * y0) * ef, dtype=np.float64)


def g2_kurtsiefer_params(rates: ThreeLevelRates) -> tuple[float, float, float]:
    """Parameters ``(a, tau1_ns, tau2_ns)`` of g2 = 1 − (1+a)e^{−|τ|/τ1} + a e^{−|τ|/τ2}.

    ``τ1 = −1/λ_fast`` (antibunching), ``τ2 = −1/λ_slow`` (bunching) and
    ``a = (k12/p2_ss + λ_fast)/(λ_slow − λ_fast)`` from ``g2'(0) = k12/p2_ss`` (Kurtsiefer
    et al., PRL 85, 290 (2000)). Identical to :func:`g2_exact` whenever it exists.

    Raises
    ------
    ParameterError
        If the eigenvalues are complex or degenerate (``D <= 0``): the two-exponential form
        does not exist for these rates (use :func:`g2_exact`).
    """
    _, D, y0dot, m = _eigen_terms(rates)
    if D <= 0.0:
        raise ParameterError(
            "rates", rates, "give complex or degenerate eigenvalues; no Kurtsiefer form exists"
        )
    s = 0.5 * math.sqrt(D)
    lam_slow, lam_fast = m + s, m - s
    a = (y0dot + lam_fast) / (lam_slow - lam_fast)
    return float(a), float(-1.0 / lam_fast), float(-1.0 / lam_slow)


def _exp_conv_gauss(
    kappa: complex, tau_ns: NDArray[np.float64], sigma_ns: float
) -> NDArray[np.complex128]:
    """Convolution of ``exp(−κ|τ|)`` (Re κ > 0) with a unit-area Gaussian of width σ.

    ``½ e^{κ²σ²/2}[e^{−κτ} erfc((κσ²−τ)/(σ√2)) + e^{κτ} erfc((κσ²+τ)/(σ√2))]``, evaluated with
    ``erfcx`` (and ``erfc(x) = 2 − erfc(−x)`` for Re x < 0) so that it never overflows.
    """
    r2 = math.sqrt(2.0)

    def half(t: NDArray[np.float64]) -> NDArray[np.complex128]:
        x = (kappa * sigma_ns**2 - t) / (sigma_ns * r2)
        gauss = np.exp(-(t**2) / (2.0 * sigma_ns**2))
        pos = np.real(x) >= 0.0
        xs = np.where(pos, x, -x)
        ex = special.erfcx(xs.astype(np.complex128))
        direct = 2.0 * np.exp(kappa**2 * sigma_ns**2 / 2.0 - kappa * np.where(pos, 0.0, t))
        return np.asarray(np.where(pos, gauss * ex, direct - gauss * ex), dtype=np.complex128)

    return 0.5 * (half(tau_ns) + half(-tau_ns))


def g2_with_jitter(
    tau_ps: ArrayLike, rates: ThreeLevelRates, irf_sigma_ps: float
) -> NDArray[np.float64]:
    """Exact g2 convolved with a Gaussian instrument response of standard deviation σ.

    Two detectors with independent Gaussian jitters σ1, σ2 give ``σ = √(σ1² + σ2²)``
    (``REFERENCES.md``: "detector jitter convolves g2 with the combined IRF"). Each term
    ``c e^{λ|τ|}`` of :func:`g2_exact` is convolved in closed form (exponentially modified
    Gaussian); complex eigenvalues are handled with complex arithmetic.
    """
    sigma = check_nonnegative("irf_sigma_ps", irf_sigma_ps) * 1e-3
    if sigma == 0.0:
        return g2_exact(tau_ps, rates)
    tau_signed = np.asarray(tau_ps, dtype=np.float64)
    tau = _tau_ns(tau_signed)
    b, D, y0dot, m = _eigen_terms(rates)
    root = np.sqrt(complex(D)) / 2.0
    if abs(root) < 1e-9 * b:  # (near-)degenerate: numerical convolution of the exact g2
        s = np.linspace(-8.0 * sigma, 8.0 * sigma, 4001)
        wts = np.exp(-(s**2) / (2.0 * sigma**2))
        vals = g2_exact((tau[..., None] + s) * 1e3, rates) @ wts / wts.sum()
        return np.asarray(vals, dtype=np.float64)
    lam_s, lam_f = m + root, m - root
    c_s = (y0dot + lam_f) / (lam_s - lam_f)
    c_f = -1.0 - c_s
    out = (
        1.0 + c_s * _exp_conv_gauss(-lam_s, tau, sigma) + c_f * _exp_conv_gauss(-lam_f, tau, sigma)
    )
    return np.asarray(np.real(out), dtype=np.float64)


def g2_with_background(
    g2: ArrayLike, rho0: float, rho1: float | None = None
) -> NDArray[np.float64]:
    """g2 measured with uncorrelated background: ``1 + ρ0 ρ1 (g2 − 1)``, ρ = S/(S+B).

    With equal ρ this is Brouri et al., Opt. Lett. 25, 1294 (2000): ``1 − ρ² + ρ² g2``.
    """
    r0 = check_fraction("rho0", rho0)
    r1 = r0 if rho1 is None else check_fraction("rho1", rho1)
    return np.asarray(1.0 + r0 * r1 * (np.asarray(g2, dtype=np.float64) - 1.0), dtype=np.float64)


def _stationary(q: NDArray[np.float64]) -> NDArray[np.float64]:
    n = q.shape[0]
    a = np.vstack([q, np.ones((1, n))])
    rhs = np.zeros(n + 1)
    rhs[-1] = 1.0
    p, *_ = np.linalg.lstsq(a, rhs, rcond=None)
    return np.asarray(np.clip(p, 0.0, None) / np.clip(p, 0.0, None).sum(), dtype=np.float64)


def g2_markov(
    tau_ps: ArrayLike, q: NDArray[np.float64], *, emit_level: int = 1
) -> NDArray[np.float64]:
    """Exact g2 of any rate model ``dp/dt = Q p`` whose emission resets to level 0.

    ``g2(τ) = [exp(Q|τ|) e0]_emit / π_emit`` with π the stationary vector, evaluated by
    eigen-decomposition (or ``scipy.linalg.expm`` per delay when ``Q`` is ill-conditioned).
    Used for the four-state chain with blinking (:func:`rate_matrix`).
    """
    tau = _tau_ns(tau_ps)
    pi = _stationary(q)
    lam, vec = np.linalg.eig(q)
    if np.linalg.cond(vec) < 1e8:
        coef = np.linalg.solve(vec, np.eye(q.shape[0])[:, 0])
        terms = vec[emit_level, :] * coef
        p_emit = np.real(np.exp(np.multiply.outer(tau, lam)) @ terms)
    else:
        flat = [linalg.expm(q * t)[emit_level, 0] for t in tau.ravel()]
        p_emit = np.asarray(flat, dtype=np.float64).reshape(tau.shape)
    return np.asarray(p_emit / pi[emit_level], dtype=np.float64)


def saturation_curve(
    power_w: ArrayLike, i_inf_per_s: float, p_sat_w: float, background_per_s_per_w: float = 0.0
) -> NDArray[np.float64]:
    """Saturation curve ``I(P) = I∞ P/(P + P_sat) + c P`` (``REFERENCES.md``)."""
    p = np.asarray(power_w, dtype=np.float64)
    if not np.all(np.isfinite(p)) or np.any(p < 0.0):
        raise ParameterError("power_w", power_w, "must be finite and >= 0")
    i_inf = check_nonnegative("i_inf_per_s", i_inf_per_s)
    p_sat = check_positive("p_sat_w", p_sat_w)
    c = check_nonnegative("background_per_s_per_w", background_per_s_per_w)
    return np.asarray(i_inf * p / (p + p_sat) + c * p, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Blinking:
    """Power-dependent telegraph blinking (Berhane, Bradac, Aharonovich, PRB 96, 2017).

    The dark state is entered from any level at ``off_rate_per_s + off_rate_per_s_per_w·P``
    and left to the ground state at ``on_rate_per_s``.
    """

    off_rate_per_s_per_w: float
    off_rate_per_s: float
    on_rate_per_s: float

    def __post_init__(self) -> None:
        check_nonnegative("off_rate_per_s_per_w", self.off_rate_per_s_per_w)
        check_nonnegative("off_rate_per_s", self.off_rate_per_s)
        check_positive("on_rate_per_s", self.on_rate_per_s)

    def rates_per_s(self, power_w: float) -> tuple[float, float]:
        """``(k_off, k_on)`` in 1/s at time-averaged excitation power ``power_w``."""
        p = check_nonnegative("power_w", power_w)
        return self.off_rate_per_s + self.off_rate_per_s_per_w * p, self.on_rate_per_s

    def on_fraction(self, power_w: float) -> float:
        """Stationary probability of being bright, ``k_on / (k_on + k_off)``."""
        k_off, k_on = self.rates_per_s(power_w)
        return k_on / (k_on + k_off)


@dataclass(frozen=True, slots=True)
class EmitterPhotophysics:
    """Photophysics of one emitter: rates per unit power, blinking, bleaching, spectrum.

    ``k12 = k12_per_ns_per_w · P``. Spectrum and polarization parameters are documented in
    :mod:`qlight.physics.emitter_spectrum`; defaults follow ``REFERENCES.md`` (ZPL 600–710 nm, width
    2–6 nm at 300 K, polarization visibility 0.7–0.95, in-plane dipole: *estimates*).
    """

    k12_per_ns_per_w: float
    k21_per_ns: float
    k23_per_ns: float
    k31_per_ns: float
    qe: float = 1.0
    blinking: Blinking | None = None
    photon_budget: float = math.inf
    zpl_nm: float = 650.0
    zpl_fwhm_nm: float = 4.0
    debye_waller: float = 0.6
    dipole_azimuth_rad: float = 0.0
    dipole_polar_rad: float = math.pi / 2
    polarization_visibility: float = 0.9
    psb_shift_mev: float = 92.0
    psb_fwhm_mev: float = 60.0

    def __post_init__(self) -> None:
        check_positive("k12_per_ns_per_w", self.k12_per_ns_per_w)
        ThreeLevelRates(0.0, self.k21_per_ns, self.k23_per_ns, self.k31_per_ns, self.qe)
        budget = float(self.photon_budget)
        if math.isnan(budget) or budget <= 0.0:
            raise ParameterError("photon_budget", self.photon_budget, "must be > 0 (inf = never)")
        check_positive("zpl_nm", self.zpl_nm)
        check_positive("zpl_fwhm_nm", self.zpl_fwhm_nm)
        check_fraction("debye_waller", self.debye_waller)
        check_finite("dipole_azimuth_rad", self.dipole_azimuth_rad)
        check_finite("dipole_polar_rad", self.dipole_polar_rad)
        check_fraction("polarization_visibility", self.polarization_visibility)
        check_positive("psb_shift_mev", self.psb_shift_mev)
        check_positive("psb_fwhm_mev", self.psb_fwhm_mev)

    def rates_at(self, power_w: float) -> ThreeLevelRates:
        """Rates at CW power ``power_w`` (W)."""
        p = check_nonnegative("power_w", power_w)
        return ThreeLevelRates(
            self.k12_per_ns_per_w * p, self.k21_per_ns, self.k23_per_ns, self.k31_per_ns, self.qe
        )

    def emission_rate_at(self, power_w: float) -> float:
        """Emission rate of the three-level model (photons/s), ignoring blinking."""
        return emission_rate_per_s(self.rates_at(power_w))

    def blink_rates_per_ns(self, power_w: float) -> tuple[float, float]:
        """``(k_off, k_on)`` in 1/ns at ``power_w`` (``(0, 0)`` without blinking)."""
        if self.blinking is None:
            check_nonnegative("power_w", power_w)
            return 0.0, 0.0
        k_off, k_on = self.blinking.rates_per_s(power_w)
        return k_off * 1e-9, k_on * 1e-9

    def rate_matrix_at(self, power_w: float) -> NDArray[np.float64]:
        """Generator of the 3-level (or, with blinking, 4-state) chain at ``power_w``."""
        k_off, k_on = self.blink_rates_per_ns(power_w)
        return rate_matrix(self.rates_at(power_w), k_off_per_ns=k_off, k_on_per_ns=k_on)

    def level_populations_at(self, power_w: float) -> NDArray[np.float64]:
        """Stationary populations (p1, p2, p3[, p_dark]) including blinking."""
        return _stationary(self.rate_matrix_at(power_w))

    def mean_emission_rate_at(self, power_w: float) -> float:
        """Time-averaged emission rate (photons/s) including blinking (exact 4-state chain)."""
        p2 = self.level_populations_at(power_w)[1]
        return float(self.qe * self.k21_per_ns * p2 * 1e9)

    def g2_at(self, tau_ps: ArrayLike, power_w: float) -> NDArray[np.float64]:
        """Exact CW g2 at ``power_w`` including blinking (:func:`g2_markov`)."""
        rates = self.rates_at(power_w)
        if self.blinking is None:
            return g2_exact(tau_ps, rates)
        return g2_markov(tau_ps, self.rate_matrix_at(power_w))

    def saturation(self) -> tuple[float, float]:
        """Closed-form ``(I∞ photons/s, P_sat W)`` of the three-level model (no blinking).

        ``I(P) = qe k21 p2 = I∞ P/(P + P_sat)`` with ``I∞ = qe k21 k31/(k31 + k23)`` and
        ``P_sat = k31 (k21 + k23) / (α (k31 + k23))``, α = ``k12_per_ns_per_w``
        (from :func:`steady_state`).
        """
        k21, k23, k31 = self.k21_per_ns, self.k23_per_ns, self.k31_per_ns
        i_inf = self.qe * k21 * k31 / (k31 + k23) * 1e9
        p_sat = k31 * (k21 + k23) / (self.k12_per_ns_per_w * (k31 + k23))
        return float(i_inf), float(p_sat)

    def spectrum(self, wavelength_nm: ArrayLike) -> NDArray[np.float64]:
        """Normalized spectral density (1/nm) on ``wavelength_nm`` (ZPL + phonon sideband)."""
        return emitter_spectrum.spectral_density(self, wavelength_nm)

    def sample_wavelengths_nm(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """Draw ``n`` photon wavelengths (nm) from :meth:`spectrum`."""
        return emitter_spectrum.sample_wavelengths_nm(self, n, rng)

    def polarization_transmission(self, analyser_rad: ArrayLike) -> NDArray[np.float64]:
        """Fraction of the photons passing a linear analyser at ``analyser_rad``."""
        return emitter_spectrum.polarization_transmission(self, analyser_rad)
