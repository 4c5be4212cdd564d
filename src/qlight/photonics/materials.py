"""Optical materials for planar multilayers: complex permittivity at a vacuum wavelength.

Convention: fields vary as ``exp(-iωt)``, so absorbing media have ``Im ε > 0`` and
``n = n' + i κ`` with ``κ ≥ 0``.

Materials (names are case-insensitive in :func:`material`):

* ``air`` — n = 1.
* ``GaN`` — wurtzite GaN, ordinary index (E ⊥ c, the polarization of light travelling along
  the c axis of a c-plane wafer), Barker & Ilegems, Phys. Rev. B 7, 743 (1973), as the
  Sellmeier fit n² = 3.60 + 1.75 λ²/(λ² − 0.256²) + 4.1 λ²/(λ² − 17.86²) (λ in µm, valid
  0.35–10 µm; tabulated in the refractiveindex.info database); n = 2.380 at 650 nm.
* ``sapphire`` — Al₂O₃ ordinary index, Malitson & Dodge, J. Opt. Soc. Am. 62, 1405 (1972).
* ``SiO2`` — fused silica, Malitson, J. Opt. Soc. Am. 55, 1205 (1965).
* ``Au`` — gold, the analytic Drude + two critical-point model fitted to Johnson & Christy,
  Phys. Rev. B 6, 4370 (1972): Etchegoin, Le Ru & Meyer, J. Chem. Phys. 125, 164705 (2006)
  with the corrected parameters of the erratum, J. Chem. Phys. 127, 189901 (2007) (as in
  Le Ru & Etchegoin, *Principles of SERS*, Elsevier 2009, Eq. E.1); valid 400–1000 nm.
* ``PEC`` — perfect electric conductor (ε → −∞): reflection coefficients −1 (s, E field)
  and +1 (p, H field), no field inside.
* ``n=VALUE`` — a constant index; ``n=VALUE+KAPPAi`` (or ``n=A+Bj``) a constant complex index.
"""

from __future__ import annotations

import cmath
import math
import re
from dataclasses import dataclass
from typing import Literal

from qlight._validation import check_positive
from qlight.errors import ParameterError

__all__ = ["MATERIAL_NAMES", "Material", "material"]

Kind = Literal["air", "gan", "sapphire", "sio2", "au", "pec", "constant"]

#: Names accepted by :func:`material` (besides ``n=VALUE``), as written in SPEC strings.
MATERIAL_NAMES: tuple[str, ...] = ("air", "GaN", "sapphire", "SiO2", "Au", "PEC")

_RANGES_NM: dict[str, tuple[float, float]] = {
    "gan": (350.0, 10_000.0),
    "sapphire": (200.0, 5_000.0),
    "sio2": (210.0, 3_710.0),
    "au": (400.0, 1_000.0),
}


def _sellmeier(lam_um: float, terms: tuple[tuple[float, float], ...], const: float) -> float:
    l2 = lam_um * lam_um
    return const + sum(b * l2 / (l2 - c * c) for b, c in terms)


def _eps_au(lam_nm: float) -> complex:
    """Etchegoin et al. (2006, erratum 2007) gold model, Le Ru & Etchegoin Eq. (E.1)."""
    eps_inf, lam_p, mu_p = 1.54, 177.5, 14500.0
    phi = -math.pi / 4.0
    eps = eps_inf * (1.0 - 1.0 / (lam_p**2 * (1.0 / lam_nm**2 + 1j / (mu_p * lam_nm))))
    for a, lam_i, mu_i in ((1.27, 470.0, 1900.0), (1.1, 325.0, 1060.0)):
        eps += (a / lam_i) * (
            cmath.exp(1j * phi) / (1.0 / lam_i - 1.0 / lam_nm - 1j / mu_i)
            + cmath.exp(-1j * phi) / (1.0 / lam_i + 1.0 / lam_nm + 1j / mu_i)
        )
    return complex(eps)


@dataclass(frozen=True, slots=True)
class Material:
    """An optical medium.

    Parameters
    ----------
    name : str
        Display name (``"GaN"``, ``"n=1.5"``).
    kind : str
        Which dispersion model (internal key).
    index : complex
        The constant index of a ``constant`` material (ignored otherwise).
    """

    name: str
    kind: Kind
    index: complex = 1.0 + 0.0j

    @property
    def is_pec(self) -> bool:
        """True for the perfect electric conductor."""
        return self.kind == "pec"

    def epsilon(self, wavelength_nm: float) -> complex:
        """Relative permittivity ε = n² at the vacuum wavelength (``exp(-iωt)``: Im ε ≥ 0).

        Raises
        ------
        ParameterError
            For a wavelength outside the model's range of validity, or for PEC (no ε).
        """
        lam = check_positive("wavelength_nm", wavelength_nm)
        if self.kind == "pec":
            raise ParameterError("material", self.name, "has no finite permittivity (PEC)")
        if self.kind in _RANGES_NM:
            lo, hi = _RANGES_NM[self.kind]
            if not lo <= lam <= hi:
                raise ParameterError(
                    "wavelength_nm", wavelength_nm, f"must be in [{lo:g}, {hi:g}] for {self.name}"
                )
        um = lam / 1000.0
        if self.kind == "air":
            return 1.0 + 0.0j
        if self.kind == "constant":
            return complex(self.index * self.index)
        if self.kind == "gan":
            return complex(_sellmeier(um, ((1.75, 0.256), (4.1, 17.86)), 3.60))
        if self.kind == "sapphire":
            terms = ((1.4313493, 0.0726631), (0.65054713, 0.1193242), (5.3414021, 18.028251))
            return complex(_sellmeier(um, terms, 1.0))
        if self.kind == "sio2":
            terms = ((0.6961663, 0.0684043), (0.4079426, 0.1162414), (0.8974794, 9.896161))
            return complex(_sellmeier(um, terms, 1.0))
        return _eps_au(lam)

    def n(self, wavelength_nm: float) -> complex:
        """Complex refractive index n + iκ (κ ≥ 0) at the vacuum wavelength."""
        root = cmath.sqrt(self.epsilon(wavelength_nm))
        return root if root.imag >= 0.0 else -root


_KINDS: dict[str, Kind] = {
    "air": "air",
    "gan": "gan",
    "sapphire": "sapphire",
    "sio2": "sio2",
    "au": "au",
    "pec": "pec",
}
_CANONICAL = {name.lower(): name for name in MATERIAL_NAMES}
_INDEX_RE = re.compile(r"^\s*n\s*=\s*(.+?)\s*$", re.IGNORECASE)


def material(name: str) -> Material:
    """The material called ``name``: one of :data:`MATERIAL_NAMES` or ``n=VALUE``.

    ``VALUE`` is a real index ≥ 1e-3 (``n=1.5``) or a complex one with ``Im n ≥ 0``
    (``n=0.2+3.4i``).

    Examples
    --------
    >>> round(material("GaN").n(650.0).real, 3)
    2.38
    >>> material("n=1.5").n(500.0)
    (1.5+0j)
    """
    key = name.strip().lower()
    if key in _KINDS:
        return Material(_CANONICAL[key], _KINDS[key])
    match = _INDEX_RE.match(name)
    if match is None:
        raise ParameterError(
            "material", name, f"must be one of {', '.join(MATERIAL_NAMES)} or n=VALUE"
        )
    text = match.group(1).replace("i", "j").replace("J", "j")
    try:
        value = complex(text)
    except ValueError:
        raise ParameterError(
            "material", name, "n=VALUE needs a number (n=1.5, n=0.2+3.4i)"
        ) from None
    if not (math.isfinite(value.real) and math.isfinite(value.imag)):
        raise ParameterError("material", name, "n=VALUE must be finite")
    if value.real <= 0.0 or value.imag < 0.0:
        raise ParameterError("material", name, "n=VALUE needs Re n > 0 and Im n >= 0")
    return Material(f"n={match.group(1)}", "constant", value)
