"""One protocol on one fibre link: key rate versus distance and maximum distance.

A :class:`Protocol` names the source and the analysis; :func:`key_rate` evaluates it at one
transmittance, optimising the free parameters (μ when not given, p_X and the intensities of
the finite-key protocols); :func:`rate_curve` and :func:`protocol_max_distance_km` use it on a
fibre of the preset's attenuation. This is what ``qlight qkd keyrate`` computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qlight._validation import check_fraction
from qlight.errors import ParameterError
from qlight.qkd.theory.bb84_sps import sps_finite_key_rate, sps_key_rate, wcp_key_rate
from qlight.qkd.theory.channel import FibreChannel, SinglePhotonSource, WeakCoherentSource
from qlight.qkd.theory.decoy import DECOY_METHODS, DecoyMethod, decoy_key_rate
from qlight.qkd.theory.finite_key import FiniteKeySettings, ThreeIntensityParams
from qlight.qkd.theory.optimize import (
    max_distance_km,
    optimize_scalar,
    optimize_three_intensity,
)
from qlight.qkd.theory.presets import KeyRatePreset
from qlight.qkd.theory.result import KeyRateResult

__all__ = [
    "SOURCES",
    "OperatingPoint",
    "Protocol",
    "key_rate",
    "protocol_max_distance_km",
    "transmittance_at_km",
]

#: Source kinds, as the CLI names them.
SOURCES = ("sps", "wcp-decoy", "wcp")
_MU_MIN = 1e-4


@dataclass(frozen=True)
class Protocol:
    """A BB84 variant and its fixed parameters.

    Parameters
    ----------
    source : {"sps", "wcp-decoy", "wcp"}
        Sub-Poissonian source (GLLP), weak coherent pulses with decoys, or without decoys.
    mu : float or None
        Mean photon number (SPS) or signal intensity (WCP); ``None``: optimised.
    g2 : float
        g2(0) of the SPS (ignored for WCP).
    decoys : {"infinite", "vacuum+weak", "two"}
        Decoy analysis of the asymptotic ``wcp-decoy`` rate.
    nu : tuple of float
        Decoy intensities (ν1,) or (ν1, ν2); for the finite-key three-intensity protocol
        (μ2,) or (μ2, μ3). Empty: defaults (ν = 0.1 for vacuum+weak, (0.1, 0.0) for two
        decoys; optimised μ2 and μ3 = 2e-4 for finite key).
    n_pulses : float or None
        Pulses sent, for a finite-key rate (Lim et al. 2014); ``None``: asymptotic.
    """

    source: str
    mu: float | None = None
    g2: float = 0.0
    decoys: DecoyMethod = "infinite"
    nu: tuple[float, ...] = ()
    n_pulses: float | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ParameterError("source", self.source, f"must be one of {', '.join(SOURCES)}")
        if self.decoys not in DECOY_METHODS:
            raise ParameterError(
                "decoys", self.decoys, f"must be one of {', '.join(DECOY_METHODS)}"
            )
        if self.mu is not None:  # validates mu (> 0, SPS: <= 1 and g2 mu <= 1) and g2
            if self.source == "sps":
                SinglePhotonSource(self.mu, self.g2)
            else:
                WeakCoherentSource(self.mu)
        elif self.source == "sps":
            SinglePhotonSource(_MU_MIN, self.g2)
        if self.n_pulses is not None:
            FiniteKeySettings(self.n_pulses)
        if any(not (math.isfinite(v) and v >= 0.0) for v in self.nu):
            raise ParameterError("decoy_intensities", list(self.nu), "must be finite and >= 0")
        if self.mu is None and sum(self.nu) >= 1.0:
            raise ParameterError(
                "decoy_intensities", list(self.nu), "must sum to < 1 (the largest mu searched)"
            )

    @property
    def decoy_nu(self) -> tuple[float, ...]:
        """The decoy intensities of the asymptotic analysis, defaults filled in."""
        if self.nu:
            return self.nu
        return (0.1,) if self.decoys == "vacuum+weak" else (0.1, 0.0)

    def mu_bounds(self) -> tuple[float, float]:
        """Search interval of μ when it is optimised."""
        lower = _MU_MIN
        if self.source == "wcp-decoy" and self.decoys != "infinite" and self.n_pulses is None:
            lower = sum(self.decoy_nu) * (1.0 + 1e-9) + 1e-9
        upper = 1.0 if self.source != "sps" or self.g2 <= 1.0 else 1.0 / self.g2
        return lower, upper


@dataclass(frozen=True)
class OperatingPoint:
    """The rate at one transmittance and the parameters that achieved it."""

    result: KeyRateResult
    mu: float
    p_x: float | None = None
    three_intensity: ThreeIntensityParams | None = None


def _fixed_mu_rate(
    protocol: Protocol, mu: float, transmittance: float, preset: KeyRatePreset
) -> KeyRateResult:
    det, f, q = preset.detector, preset.f_ec, preset.q
    if protocol.source == "sps":
        return sps_key_rate(SinglePhotonSource(mu, protocol.g2), transmittance, det, f_ec=f, q=q)
    if protocol.source == "wcp":
        return wcp_key_rate(mu, transmittance, det, f_ec=f, q=q)
    return decoy_key_rate(
        mu, transmittance, det, decoys=protocol.decoys, nu=protocol.decoy_nu, f_ec=f, q=q
    )


def key_rate(
    protocol: Protocol,
    transmittance: float,
    preset: KeyRatePreset,
    *,
    start: ThreeIntensityParams | None = None,
) -> OperatingPoint:
    """Key rate per pulse of ``protocol`` at channel ``transmittance`` with ``preset``.

    Asymptotic rates use the preset's sifting factor q; finite-key rates optimise the
    key-basis probability p_X instead (efficient BB84). ``start`` warm-starts the
    three-intensity optimiser (used along a distance scan).
    """
    check_fraction("transmittance", transmittance)
    det, f = preset.detector, preset.f_ec
    if protocol.n_pulses is None:
        if protocol.mu is not None:
            return OperatingPoint(
                _fixed_mu_rate(protocol, protocol.mu, transmittance, preset), protocol.mu
            )
        lo, hi = protocol.mu_bounds()
        mu, res = optimize_scalar(
            lambda m: _fixed_mu_rate(protocol, m, transmittance, preset), lo, hi
        )
        return OperatingPoint(res, mu)
    settings = FiniteKeySettings(protocol.n_pulses)
    if protocol.source == "wcp-decoy":
        mu2 = protocol.nu[0] if protocol.nu else None
        mu3 = protocol.nu[1] if len(protocol.nu) > 1 else 2e-4
        params, res = optimize_three_intensity(
            transmittance, det, settings, f_ec=f, mu1=protocol.mu, mu2=mu2, mu3=mu3, start=start
        )
        return OperatingPoint(res, params.mu1, params.p_x, params)

    def with_mu(mu: float) -> tuple[float, KeyRateResult]:
        src: SinglePhotonSource | WeakCoherentSource = (
            SinglePhotonSource(mu, protocol.g2)
            if protocol.source == "sps"
            else WeakCoherentSource(mu)
        )
        return optimize_scalar(
            lambda p: sps_finite_key_rate(src, transmittance, det, settings, p_x=p, f_ec=f),
            0.5,
            1.0 - 1e-6,
            n_grid=16,
            log=False,
        )

    if protocol.mu is not None:
        p_x, res = with_mu(protocol.mu)
        return OperatingPoint(res, protocol.mu, p_x)
    lo, hi = protocol.mu_bounds()
    mu, res = optimize_scalar(lambda m: with_mu(m)[1], lo, hi, n_grid=12)
    return OperatingPoint(res, mu, with_mu(mu)[0])


def transmittance_at_km(distance_km: float, preset: KeyRatePreset) -> float:
    """Fibre transmittance at ``distance_km`` with the preset's attenuation."""
    return FibreChannel(distance_km, preset.loss_db_per_km).transmittance()


def protocol_max_distance_km(
    protocol: Protocol, preset: KeyRatePreset, *, upper_km: float = 1000.0, tol_km: float = 1e-3
) -> float:
    """Largest fibre length with a positive key rate (bisection, :func:`max_distance_km`)."""
    if protocol.n_pulses is not None and protocol.source == "wcp-decoy":
        tol_km = max(tol_km, 0.05)  # each step is a five-parameter optimisation
    return max_distance_km(
        lambda km: (
            key_rate(protocol, transmittance_at_km(km, preset), preset).result.unclipped_rate
        ),
        upper_km=upper_km,
        tol_km=tol_km,
    )
