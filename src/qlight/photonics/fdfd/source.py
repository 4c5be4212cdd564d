"""Point dipoles on the axis, decomposed into azimuthal orders.

A dipole on the axis of an axisymmetric structure couples to few orders:

* vertical (ẑ): m = 0 only; its current J = ẑ δ(r) sits on the axis E_z node;
* in-plane (x̂): x̂ = ½[(r̂ − iφ̂)e^{iφ} + (r̂ + iφ̂)e^{−iφ}], i.e. m = +1 and m = −1 with equal
  power by mirror symmetry. The circular dipole x̂ + iŷ = (r̂ + iφ̂)e^{iφ} is pure m = +1 and
  radiates P_x + P_y = 2P_h in an axisymmetric structure, so one m = +1 solve gives the
  in-plane dipole (any azimuth). Its current is carried by the ring of E_r nodes at
  r = Δr/2 (J_r e^{iφ} r̂ on a ring has the dipole moment π r Δr Δz J_r (x̂ + iŷ)); a current
  on the axis E_φ node alone would be discretely divergence-free, i.e. not a dipole.

Off-axis emitters need all orders |m| ≤ M (a sum of solves); not implemented (future work).

Unit current moment per Cartesian component: the vertical current is spread over the axis
cell (the disc of radius Δr/2, height Δz, V = πΔr²Δz/4), J_z = 1/V; the in-plane one over
the ring cell r ∈ [0, Δr] at r = Δr/2 (V = 2π(Δr/2)ΔrΔz), J_r = 2/V.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from qlight.errors import ParameterError
from qlight.photonics.fdfd.grid import BorGrid

__all__ = ["AxisDipole", "axis_dipole"]

Orientation = Literal["h", "v"]


@dataclass(frozen=True, slots=True)
class AxisDipole:
    """A dipole on the axis at the integer (h) or half (v) z node ``j``.

    ``component`` is 0 (E_r at r = Δr/2) or 2 (E_z at r = 0); ``current`` the current
    density J_r or J_z on that node; ``n_cartesian`` the number of unit Cartesian current
    moments it carries.
    """

    orientation: Orientation
    m: int
    j: int
    component: int
    current: complex
    volume_nm3: float
    n_cartesian: int


def axis_dipole(grid: BorGrid, orientation: str, z_nm: float) -> AxisDipole:
    """The dipole of ``orientation`` ('h' in-plane, 'v' vertical) at height ``z_nm``."""
    if orientation not in ("h", "v"):
        raise ParameterError("dipole", orientation, "must be 'h' or 'v' on the FDFD grid")
    offset = 0.5 if orientation == "v" else 0.0
    jf = (z_nm - grid.z0_nm) / grid.dz_nm - offset
    j = round(jf)
    if abs(jf - j) > 1e-6:
        raise ParameterError("z_nm", z_nm, "must fall on the grid node of the dipole")
    if orientation == "v":
        volume = math.pi * grid.dr_nm**2 * grid.dz_nm / 4.0
        return AxisDipole("v", 0, j, 2, 1.0 / volume, volume, 1)
    volume = math.pi * grid.dr_nm**2 * grid.dz_nm
    return AxisDipole("h", 1, j, 0, 2.0 / volume, volume, 2)
