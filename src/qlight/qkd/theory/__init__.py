"""Secure-key-rate theory of BB84 with the source (see ``docs/qkd-theory.md``).

Modules: :mod:`~qlight.qkd.theory.channel` (sources, channels, detector; gain and QBER),
:mod:`~qlight.qkd.theory.plob` (PLOB bound), :mod:`~qlight.qkd.theory.bb84_sps` (GLLP,
asymptotic and finite-key), :mod:`~qlight.qkd.theory.decoy` (decoy BB84, Ma et al. 2005),
:mod:`~qlight.qkd.theory.finite_key` (Lim et al. 2014), :mod:`~qlight.qkd.theory.optimize`,
:mod:`~qlight.qkd.theory.presets`, :mod:`~qlight.qkd.theory.scenario`.
"""

from qlight.qkd.theory.bb84_sps import (
    gllp_rate,
    multi_photon_probability,
    sps_finite_key_rate,
    sps_key_rate,
    wcp_key_rate,
)
from qlight.qkd.theory.channel import (
    DetectorModel,
    FibreChannel,
    FreeSpaceChannel,
    SinglePhotonSource,
    Source,
    WeakCoherentSource,
    gain_and_qber,
    photon_number_distribution,
    raw_gain_and_qber,
)
from qlight.qkd.theory.decoy import DECOY_METHODS, decoy_key_rate, single_photon_yield_and_error
from qlight.qkd.theory.finite_key import (
    FiniteKeySettings,
    ThreeIntensityParams,
    finite_key_decoy_rate,
)
from qlight.qkd.theory.optimize import max_distance_km, optimize_scalar, optimize_three_intensity
from qlight.qkd.theory.plob import plob_bound
from qlight.qkd.theory.presets import GYS, MODERN, PRESETS, KeyRatePreset, get_preset
from qlight.qkd.theory.result import QBER_THRESHOLD, KeyRateResult, binary_entropy
from qlight.qkd.theory.scenario import (
    SOURCES,
    OperatingPoint,
    Protocol,
    key_rate,
    protocol_max_distance_km,
    transmittance_at_km,
)

__all__ = [
    "DECOY_METHODS",
    "GYS",
    "MODERN",
    "PRESETS",
    "QBER_THRESHOLD",
    "SOURCES",
    "DetectorModel",
    "FibreChannel",
    "FiniteKeySettings",
    "FreeSpaceChannel",
    "KeyRatePreset",
    "KeyRateResult",
    "OperatingPoint",
    "Protocol",
    "SinglePhotonSource",
    "Source",
    "ThreeIntensityParams",
    "WeakCoherentSource",
    "binary_entropy",
    "decoy_key_rate",
    "finite_key_decoy_rate",
    "gain_and_qber",
    "get_preset",
    "gllp_rate",
    "key_rate",
    "max_distance_km",
    "multi_photon_probability",
    "optimize_scalar",
    "optimize_three_intensity",
    "photon_number_distribution",
    "plob_bound",
    "protocol_max_distance_km",
    "raw_gain_and_qber",
    "single_photon_yield_and_error",
    "sps_finite_key_rate",
    "sps_key_rate",
    "transmittance_at_km",
    "wcp_key_rate",
]
