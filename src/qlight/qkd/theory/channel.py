"""Sources, channels and Bob's detector: photon-number statistics, gain and QBER.

The gain ``Q`` (probability per sent pulse that Bob registers a click) and the quantum bit
error rate ``E`` follow the standard linear-loss model of Ma, Qi, Zhao and Lo,
PRA 72, 012326 (2005), Eqs. (2)–(4), with the exact n-photon yield
``Y_n = 1 − (1 − Y0)(1 − η)^n`` and ``e_n Y_n = Y0/2 + e_d (Y_n − Y0)``, averaged over the
source's photon-number distribution. Afterpulsing and dead time are added as a mean-field
correction (see :func:`gain_and_qber`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln

from qlight._validation import (
    check_finite,
    check_fraction,
    check_nonnegative,
    check_positive,
    check_positive_int,
)
from qlight.errors import ParameterError

__all__ = [
    "DetectorModel",
    "FibreChannel",
    "FreeSpaceChannel",
    "SinglePhotonSource",
    "Source",
    "WeakCoherentSource",
    "gain_and_qber",
    "photon_number_distribution",
    "raw_gain_and_qber",
]

#: Error probability of a click that carries no information (dark count, afterpulse).
E0 = 0.5


@dataclass(frozen=True)
class DetectorModel:
    """Bob's detection system: two threshold detectors behind the basis choice.

    Parameters
    ----------
    efficiency : float
        η_Bob in [0, 1]: Bob's optics times the detector efficiency.
    dark_yield : float
        Y0 in [0, 1): click probability per pulse with no photon, both detectors together
        (the GYS convention, Ma et al. 2005, Sec. II).
    misalignment : float
        e_d in [0, 0.5]: probability that a detected photon reaches the wrong detector.
    afterpulse_prob : float
        p_ap in [0, 1): probability that a registered click causes one afterpulse later.
    dead_time_pulses : float
        Non-paralysable dead time in pulse periods (τ_d · f_rep), >= 0.
    """

    efficiency: float
    dark_yield: float
    misalignment: float
    afterpulse_prob: float = 0.0
    dead_time_pulses: float = 0.0

    def __post_init__(self) -> None:
        check_fraction("efficiency", self.efficiency)
        if check_fraction("dark_yield", self.dark_yield) >= 1.0:
            raise ParameterError("dark_yield", self.dark_yield, "must be < 1")
        if not 0.0 <= check_finite("misalignment", self.misalignment) <= 0.5:
            raise ParameterError("misalignment", self.misalignment, "must be in [0, 0.5]")
        if check_fraction("afterpulse_prob", self.afterpulse_prob) >= 1.0:
            raise ParameterError("afterpulse_prob", self.afterpulse_prob, "must be < 1")
        check_nonnegative("dead_time_pulses", self.dead_time_pulses)

    @property
    def dark_prob_per_detector(self) -> float:
        """Dark-click probability per pulse of each of the two detectors, 1 − √(1 − Y0)."""
        return 1.0 - math.sqrt(1.0 - self.dark_yield)


@dataclass(frozen=True)
class FibreChannel:
    """Optical fibre: transmittance 10^(−(α L + extra)/10).

    Parameters
    ----------
    length_km : float
        Fibre length L, >= 0.
    loss_db_per_km : float
        Attenuation α (0.21 dB/km in the GYS set, Ma et al. 2005), >= 0.
    extra_loss_db : float
        Fixed extra loss (connectors, coupling), >= 0.
    """

    length_km: float
    loss_db_per_km: float = 0.21
    extra_loss_db: float = 0.0

    def __post_init__(self) -> None:
        check_nonnegative("length_km", self.length_km)
        check_nonnegative("loss_db_per_km", self.loss_db_per_km)
        check_nonnegative("extra_loss_db", self.extra_loss_db)

    @property
    def background_yield(self) -> float:
        """A fibre adds no background clicks."""
        return 0.0

    def transmittance(self) -> float:
        """Channel transmittance (Bob's efficiency not included)."""
        return float(10.0 ** (-(self.loss_db_per_km * self.length_km + self.extra_loss_db) / 10.0))


@dataclass(frozen=True)
class FreeSpaceChannel:
    """Free-space link: Gaussian-beam geometric loss, atmospheric loss and background light.

    The geometric transmittance is the power of a Gaussian beam of waist ``w0`` (at the
    transmitter) inside a circular aperture of radius ``a`` at distance ``L``:
    ``1 − exp(−2 a² / w(L)²)`` with ``w(L) = w0 √(1 + (L/z_R)²)``, ``z_R = π w0² / λ``
    (Siegman, *Lasers*, 1986, Ch. 17). Turbulence and pointing jitter are not modelled;
    put them into ``extra_loss_db``.

    Parameters
    ----------
    length_m : float
        Link length, >= 0.
    wavelength_m : float
        Wavelength, > 0.
    tx_waist_m : float
        Beam waist radius at the transmitter, > 0.
    rx_aperture_radius_m : float
        Receiver aperture radius, > 0.
    atmospheric_loss_db_per_km : float
        Atmospheric attenuation, >= 0.
    extra_loss_db : float
        Fixed extra loss (optics, pointing), >= 0.
    background_yield : float
        Extra click probability per pulse from background light (error 1/2), in [0, 1).
    """

    length_m: float
    wavelength_m: float
    tx_waist_m: float
    rx_aperture_radius_m: float
    atmospheric_loss_db_per_km: float = 0.0
    extra_loss_db: float = 0.0
    background_yield: float = 0.0

    def __post_init__(self) -> None:
        check_nonnegative("length_m", self.length_m)
        check_positive("wavelength_m", self.wavelength_m)
        check_positive("tx_waist_m", self.tx_waist_m)
        check_positive("rx_aperture_radius_m", self.rx_aperture_radius_m)
        check_nonnegative("atmospheric_loss_db_per_km", self.atmospheric_loss_db_per_km)
        check_nonnegative("extra_loss_db", self.extra_loss_db)
        if check_fraction("background_yield", self.background_yield) >= 1.0:
            raise ParameterError("background_yield", self.background_yield, "must be < 1")

    def beam_radius_m(self) -> float:
        """1/e² intensity radius of the beam at the receiver."""
        z_r = math.pi * self.tx_waist_m**2 / self.wavelength_m
        return self.tx_waist_m * math.sqrt(1.0 + (self.length_m / z_r) ** 2)

    def transmittance(self) -> float:
        """Geometric times atmospheric times extra transmittance."""
        w = self.beam_radius_m()
        geometric = -math.expm1(-2.0 * self.rx_aperture_radius_m**2 / w**2)
        loss_db = self.atmospheric_loss_db_per_km * self.length_m / 1e3 + self.extra_loss_db
        return float(geometric * 10.0 ** (-loss_db / 10.0))


@dataclass(frozen=True)
class WeakCoherentSource:
    """Phase-randomised weak coherent pulses: Poissonian photon number of mean ``mu`` > 0."""

    mu: float

    def __post_init__(self) -> None:
        check_positive("mu", self.mu)


@dataclass(frozen=True)
class SinglePhotonSource:
    """Sub-Poissonian source of mean photon number ``mu`` and ``g2`` = g2(0).

    The photon-number distribution assumed is the one with n <= 2 that has exactly this mean
    and g2(0) (see :func:`photon_number_distribution`); it needs ``g2 * mu <= 1`` and
    ``mu <= 1``.
    """

    mu: float
    g2: float

    def __post_init__(self) -> None:
        if not 0.0 < check_finite("mu", self.mu) <= 1.0:
            raise ParameterError("mu", self.mu, "must be in (0, 1]")
        check_nonnegative("g2", self.g2)
        if self.g2 * self.mu > 1.0:
            raise ParameterError(
                "g2", self.g2, f"must satisfy g2*mu <= 1 (mu={self.mu}): p1 would be negative"
            )

    @property
    def p_multi(self) -> float:
        """Upper bound of the multi-photon probability, p(n >= 2) <= g2(0) μ²/2."""
        return self.g2 * self.mu**2 / 2.0


Source = WeakCoherentSource | SinglePhotonSource


def photon_number_distribution(source: Source, n_max: int) -> NDArray[np.float64]:
    """Probabilities p_0 … p_n_max of the photon number per pulse.

    Parameters
    ----------
    source : WeakCoherentSource or SinglePhotonSource
        The source.
    n_max : int
        Largest photon number returned (> 0).

    Returns
    -------
    numpy.ndarray
        ``p[n]`` for n = 0 … n_max. For a WCP the exact Poisson values (the tail beyond
        ``n_max`` is not lumped in, so the sum is 1 − tail). For the SPS the truncated
        distribution with the given mean and g2(0):
        ``p2 = g2 μ²/2``, ``p1 = μ − g2 μ²``, ``p0 = 1 − p1 − p2``, ``p_n = 0`` for n >= 3.
        Since ``g2 μ² = Σ n(n−1) p_n >= 2 p(n>=2)``, this p2 saturates the multi-photon bound
        used with GLLP (Gottesman, Lo, Lütkenhaus, Preskill, QIC 4, 325 (2004)).
    """
    check_positive_int("n_max", n_max)
    n = np.arange(n_max + 1, dtype=np.float64)
    if isinstance(source, WeakCoherentSource):
        mu = source.mu
        return np.asarray(np.exp(n * math.log(mu) - mu - gammaln(n + 1.0)), dtype=np.float64)
    p = np.zeros(n_max + 1, dtype=np.float64)
    p2 = source.p_multi
    p1 = source.mu - 2.0 * p2
    p[0] = 1.0 - p1 - p2
    p[1] = p1
    if n_max >= 2:
        p[2] = p2
    return p


def _eta_total(transmittance: float, detector: DetectorModel) -> float:
    return check_fraction("transmittance", transmittance) * detector.efficiency


def _y0(detector: DetectorModel, background_yield: float) -> float:
    if check_fraction("background_yield", background_yield) >= 1.0:
        raise ParameterError("background_yield", background_yield, "must be < 1")
    y0 = detector.dark_yield
    return y0 + background_yield - y0 * background_yield  # 1 - (1 - Y0)(1 - b)


def raw_gain_and_qber(
    source: Source,
    transmittance: float,
    detector: DetectorModel,
    *,
    background_yield: float = 0.0,
) -> tuple[float, float]:
    """Gain and QBER of an ideal (no afterpulsing, no dead time) detection system.

    ``Q = Σ p_n Y_n`` with ``Y_n = 1 − (1 − Y0)(1 − η)^n``, ``η = t · η_Bob``, and
    ``E Q = Y0/2 + e_d (Q − Y0)`` (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Eqs. (2)–(4);
    for a WCP ``Q = 1 − (1 − Y0) e^{−ημ}``). Background light adds to Y0.
    """
    eta = _eta_total(transmittance, detector)
    y0 = _y0(detector, background_yield)
    if isinstance(source, WeakCoherentSource):
        photon_click = -math.expm1(-eta * source.mu)  # 1 - Σ p_n (1-η)^n, Poisson
    else:
        p = photon_number_distribution(source, 2)
        photon_click = float(p[1] * eta + p[2] * eta * (2.0 - eta))
    q = y0 + (1.0 - y0) * photon_click  # = 1 - (1 - Y0)(1 - photon_click), no cancellation
    if q <= 0.0:
        return 0.0, 0.0
    eq = E0 * y0 + detector.misalignment * (q - y0)
    return q, eq / q


def gain_and_qber(
    source: Source,
    transmittance: float,
    detector: DetectorModel,
    *,
    background_yield: float = 0.0,
    mean_raw_gain: float | None = None,
) -> tuple[float, float]:
    """Gain Q and QBER E of ``source`` seen through a channel and Bob's detectors.

    Parameters
    ----------
    source : WeakCoherentSource or SinglePhotonSource
        The source (one intensity).
    transmittance : float
        Channel transmittance in [0, 1] (Bob's efficiency not included).
    detector : DetectorModel
        Bob's detection system.
    background_yield : float
        Extra click probability per pulse from background light, error 1/2.
    mean_raw_gain : float, optional
        Ideal-detector gain averaged over all interleaved intensities (decoy protocols);
        sets the click rate that drives dead time and afterpulsing. Default: this
        source's own.

    Returns
    -------
    (float, float)
        Q (click probability per sent pulse) and E (error probability per click).

    Notes
    -----
    The ideal gain and QBER are those of :func:`raw_gain_and_qber`. Afterpulsing and dead
    time are a mean-field correction: with ``Q̄`` the mean ideal gain, ``d`` the dead time in
    pulses and ``p_ap`` the afterpulse probability, the registered click probability per
    pulse ``R̄`` solves ``R̄ = (1 − d R̄)(Q̄ + a (1 − Q̄))`` with ``a = p_ap R̄``: Bob is
    live at a fraction ``s = 1 − d R̄`` of the pulses (non-paralysable dead time, e.g.
    Hadfield, Nat. Photon. 3, 696 (2009)) and afterpulses fire in a fraction ``a`` of the
    pulses, independently of the pulse, with error 1/2; a pulse clicks if either happens.
    Then ``Q = s (Q_raw + a (1 − Q_raw))`` and ``E Q = s (E_raw Q_raw + a (1 − Q_raw)/2)``.
    With ``p_ap = d = 0`` the result is exactly the ideal one.
    """
    q_raw, e_raw = raw_gain_and_qber(
        source, transmittance, detector, background_yield=background_yield
    )
    d = detector.dead_time_pulses
    p_ap = detector.afterpulse_prob
    if d == 0.0 and p_ap == 0.0:
        return q_raw, e_raw
    q_bar = q_raw if mean_raw_gain is None else check_fraction("mean_raw_gain", mean_raw_gain)
    r_bar = _registered_rate(q_bar, d, p_ap)
    s = 1.0 - d * r_bar
    a = p_ap * r_bar
    extra = a * (1.0 - q_raw)
    q = s * (q_raw + extra)
    if q <= 0.0:
        return 0.0, 0.0
    return q, s * (e_raw * q_raw + E0 * extra) / q


def _registered_rate(q_bar: float, d: float, p_ap: float) -> float:
    """Root in [0, 1] of ``d p (1 − Q̄) R² + (1 + d Q̄ − p (1 − Q̄)) R − Q̄ = 0``, p = p_ap."""
    p = p_ap * (1.0 - q_bar)
    b = 1.0 + d * q_bar - p
    c = d * p
    if c == 0.0:
        return q_bar / b
    return 2.0 * q_bar / (b + math.sqrt(b * b + 4.0 * c * q_bar))  # stable form of the root
