"""Parameter sets of the key-rate theory: GYS (validation) and a documented "modern" set."""

from __future__ import annotations

from dataclasses import dataclass

from qlight.errors import ParameterError
from qlight.qkd.theory.channel import DetectorModel

__all__ = ["GYS", "MODERN", "PRESETS", "KeyRatePreset", "get_preset"]


@dataclass(frozen=True)
class KeyRatePreset:
    """Channel, detector and post-processing parameters of a QKD link.

    Attributes
    ----------
    name : str
        Preset name (``"gys"``, ``"modern"``).
    detector : DetectorModel
        Bob's detection system.
    loss_db_per_km : float
        Fibre attenuation α.
    f_ec : float
        Error-correction inefficiency f.
    q : float
        Sifting factor of the asymptotic protocols (1/2: standard BB84).
    source : str
        Where the numbers come from.
    """

    name: str
    detector: DetectorModel
    loss_db_per_km: float
    f_ec: float
    q: float
    source: str


#: The GYS set (Gobby, Yuan, Shields, APL 84, 3762 (2004)) as used by Ma, Qi, Zhao, Lo,
#: PRA 72, 012326 (2005): α = 0.21 dB/km, η_Bob = 4.5 %, e_d = 3.3 %, Y0 = 1.7e-6,
#: f = 1.22, q = 1/2 (REFERENCES.md).
GYS = KeyRatePreset(
    name="gys",
    detector=DetectorModel(efficiency=0.045, dark_yield=1.7e-6, misalignment=0.033),
    loss_db_per_km=0.21,
    f_ec=1.22,
    q=0.5,
    source="Gobby, Yuan, Shields APL 84, 3762 (2004) via Ma, Qi, Zhao, Lo PRA 72, 012326 (2005)",
)

#: A present-day fibre link (*estimate*, not one published system): standard telecom fibre
#: 0.2 dB/km; SNSPDs behind Bob's optics, η_Bob = 60 %; Y0 = 2e-8 (two detectors, ~10 cps
#: dark each, 1 ns window); e_d = 1 %; f = 1.1 (optimised Cascade/LDPC reach 1.04–1.075,
#: Martinez-Mateo et al., QIC 15, 453 (2015), with margin); q = 1/2.
MODERN = KeyRatePreset(
    name="modern",
    detector=DetectorModel(efficiency=0.6, dark_yield=2e-8, misalignment=0.01),
    loss_db_per_km=0.2,
    f_ec=1.1,
    q=0.5,
    source="estimate: SNSPD receiver on standard fibre (see docs/qkd-theory.md)",
)

#: The presets by name.
PRESETS: dict[str, KeyRatePreset] = {"gys": GYS, "modern": MODERN}


def get_preset(name: str) -> KeyRatePreset:
    """The preset called ``name`` (``"gys"`` or ``"modern"``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterError("preset", name, f"must be one of {', '.join(PRESETS)}") from None
