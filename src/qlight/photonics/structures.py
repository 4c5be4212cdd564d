"""Axisymmetric structures for the body-of-revolution solver (:mod:`qlight.photonics.fdfd`).

A structure is a planar stack of media (top to bottom, the outer two semi-infinite) with
annular features painted over it, all symmetric about the z axis through the emitter.
Coordinates: ``z = 0`` at the top interface of the stack, ``z`` pointing up (into the
top medium), ``r`` the distance from the axis, all in nm. The emitter (a point dipole)
sits on the axis at ``emitter_z_nm``.

Builders:

* :func:`planar_structure` — a :class:`~qlight.photonics.layers.Stack` (no features);
* :func:`pillar` — a disc / micropillar of radius R etched into the top layers;
* :func:`bullseye` — a circular Bragg grating ("bullseye") in a membrane: central disc of
  radius R₀, ``n_rings`` trenches of width w and period Λ etched to a depth, the membrane on
  a spacer on an optional bottom reflector (Davanco et al., APL 99, 041102 (2011); the
  second-order period Λ ≈ λ/n_eff of the membrane's TE₀ mode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.photonics.layers import Layer, Stack
from qlight.photonics.materials import Material, material

__all__ = ["Annulus", "AxisymmetricStructure", "bullseye", "pillar", "planar_structure"]


@dataclass(frozen=True, slots=True)
class Annulus:
    """A ring-shaped region r_in ≤ r < r_out, z_bottom ≤ z < z_top filled with a material."""

    r_in_nm: float
    r_out_nm: float
    z_bottom_nm: float
    z_top_nm: float
    material: Material

    def __post_init__(self) -> None:
        if not (0.0 <= self.r_in_nm < self.r_out_nm and math.isfinite(self.r_out_nm)):
            raise ParameterError(
                "annulus radii", (self.r_in_nm, self.r_out_nm), "need 0 <= r_in < r_out"
            )
        if not (self.z_bottom_nm < self.z_top_nm):
            raise ParameterError(
                "annulus heights", (self.z_bottom_nm, self.z_top_nm), "need z_bottom < z_top"
            )


@dataclass(frozen=True, slots=True)
class AxisymmetricStructure:
    """Layers (top to bottom, like a :class:`Stack`), annular features, an emitter on axis.

    Parameters
    ----------
    layers : tuple of Layer
        Media top to bottom; the outer two semi-infinite, inner ones with thickness > 0.
        The top interface is at z = 0, the others below it.
    features : tuple of Annulus
        Regions painted over the layers in order (later ones win).
    emitter_z_nm : float
        Height of the dipole on the axis (negative: below the top surface).
    """

    layers: tuple[Layer, ...]
    features: tuple[Annulus, ...]
    emitter_z_nm: float

    def __post_init__(self) -> None:
        # Reuse the Stack checks on the layers (outer semi-infinite, thickness > 0, no PEC
        # emitter); the emitter's layer is found below.
        if len(self.layers) < 2:
            raise ParameterError("layers", len(self.layers), "need at least two media")
        for layer in self.layers:
            if layer.material.is_pec:
                raise ParameterError(
                    "material", "PEC", "is not supported by the FDFD solver (use Au)"
                )
        Stack(self.layers, 0, 1.0)  # validates outer/inner thicknesses
        if not math.isfinite(self.emitter_z_nm):
            raise ParameterError("emitter_z_nm", self.emitter_z_nm, "must be finite")

    def interfaces_nm(self) -> NDArray[np.float64]:
        """z of the layer interfaces, top (0) to bottom."""
        thick = [layer.thickness_nm or 0.0 for layer in self.layers[1:-1]]
        return -np.concatenate([[0.0], np.cumsum(thick)])

    @property
    def z_bottom_nm(self) -> float:
        """z of the lowest interface."""
        return float(self.interfaces_nm()[-1])

    def _layer_index(self, z_nm: NDArray[np.float64]) -> NDArray[np.intp]:
        # layer k spans interfaces[k-1] > z >= interfaces[k] (k=0: z >= 0 is the top medium)
        edges = self.interfaces_nm()
        return np.asarray(np.searchsorted(-edges, -z_nm, side="left"), dtype=np.intp)

    def material_at(self, r_nm: float, z_nm: float) -> Material:
        """The material at one point (features over layers)."""
        found = self.layers[int(self._layer_index(np.array([z_nm]))[0])].material
        for f in self.features:
            if f.r_in_nm <= abs(r_nm) < f.r_out_nm and f.z_bottom_nm <= z_nm < f.z_top_nm:
                found = f.material
        return found

    @property
    def emitter_material(self) -> Material:
        """The medium holding the dipole."""
        return self.material_at(0.0, self.emitter_z_nm)

    def epsilon(
        self, r_nm: NDArray[np.float64], z_nm: NDArray[np.float64], wavelength_nm: float
    ) -> NDArray[np.complex128]:
        """Relative permittivity at points (broadcast ``r_nm`` against ``z_nm``)."""
        r, z = np.broadcast_arrays(np.abs(np.asarray(r_nm, float)), np.asarray(z_nm, float))
        eps_layers = np.array([layer.material.epsilon(wavelength_nm) for layer in self.layers])
        out = eps_layers[self._layer_index(z)].astype(np.complex128)
        for f in self.features:
            inside = (r >= f.r_in_nm) & (r < f.r_out_nm) & (z >= f.z_bottom_nm) & (z < f.z_top_nm)
            out[inside] = f.material.epsilon(wavelength_nm)
        return out

    @property
    def max_feature_radius_nm(self) -> float:
        """Outermost radius of any feature (0 for a planar structure)."""
        return max((f.r_out_nm for f in self.features), default=0.0)

    @property
    def top_feature_nm(self) -> float:
        """Highest z of any interface or feature (≥ 0)."""
        return max([0.0] + [f.z_top_nm for f in self.features])


def planar_structure(stack: Stack) -> AxisymmetricStructure:
    """The planar stack as an axisymmetric structure (emitter on the axis)."""
    edges = AxisymmetricStructure(stack.layers, (), 0.0).interfaces_nm()
    e = stack.emitter_layer
    z_e = stack.depth_nm if e == 0 else float(edges[e - 1]) - stack.depth_nm
    return AxisymmetricStructure(stack.layers, (), z_e)


def pillar(
    radius_nm: float,
    height_nm: float,
    *,
    emitter_depth_nm: float,
    material_name: str = "GaN",
    substrate: str = "GaN",
    top: str = "air",
) -> AxisymmetricStructure:
    """A cylindrical pillar (disc) of ``material_name`` standing on a ``substrate``.

    The pillar occupies 0 ≤ r < radius, 0 ≤ z < height; the emitter is on its axis
    ``emitter_depth_nm`` below its top face (negative values: into the substrate).
    """
    for name, v in (("radius_nm", radius_nm), ("height_nm", height_nm)):
        if not (math.isfinite(v) and v > 0):
            raise ParameterError(name, v, "must be finite and > 0")
    layers = (Layer(material(top)), Layer(material(substrate)))
    feat = Annulus(0.0, radius_nm, 0.0, height_nm, material(material_name))
    return AxisymmetricStructure(layers, (feat,), height_nm - emitter_depth_nm)


def bullseye(
    *,
    membrane_nm: float,
    period_nm: float,
    trench_nm: float,
    disc_radius_nm: float,
    n_rings: int,
    etch_nm: float | None = None,
    spacer_nm: float = 0.0,
    reflector: str | None = None,
    emitter_depth_nm: float | None = None,
    membrane: str = "GaN",
    spacer: str = "SiO2",
    top: str = "air",
) -> AxisymmetricStructure:
    """A circular Bragg grating (bullseye) in a membrane (Davanco et al., APL 99, 041102).

    Trench k (k = 0 … n_rings−1) spans R₀ + kΛ ≤ r < R₀ + kΛ + w and is etched
    ``etch_nm`` (default: through the membrane) from the top, filled with the top medium.
    Below the membrane: ``spacer_nm`` of ``spacer`` (0: none) then the ``reflector``
    (e.g. ``"Au"``; ``None``: the spacer material, or the top medium when there is no
    spacer — a suspended membrane) as the semi-infinite bottom. The emitter sits on the
    axis ``emitter_depth_nm`` below the top surface (default: mid-membrane).
    """
    checks = (
        ("membrane_nm", membrane_nm),
        ("period_nm", period_nm),
        ("trench_nm", trench_nm),
        ("disc_radius_nm", disc_radius_nm),
    )
    for name, v in checks:
        if not (math.isfinite(v) and v > 0):
            raise ParameterError(name, v, "must be finite and > 0")
    if trench_nm >= period_nm:
        raise ParameterError("trench_nm", trench_nm, f"must be < the period {period_nm:g} nm")
    if not (isinstance(n_rings, int) and 0 <= n_rings <= 200):
        raise ParameterError("n_rings", n_rings, "must be an integer in [0, 200]")
    etch = membrane_nm if etch_nm is None else etch_nm
    if not (0 < etch <= membrane_nm):
        raise ParameterError("etch_nm", etch_nm, f"must be in (0, {membrane_nm:g}] nm")
    if not (math.isfinite(spacer_nm) and spacer_nm >= 0):
        raise ParameterError("spacer_nm", spacer_nm, "must be finite and >= 0")
    depth = membrane_nm / 2 if emitter_depth_nm is None else emitter_depth_nm
    if not (0 < depth < membrane_nm):
        raise ParameterError("emitter_depth_nm", depth, f"must be in (0, {membrane_nm:g}) nm")
    top_m = material(top)
    layers = [Layer(top_m), Layer(material(membrane), membrane_nm)]
    if spacer_nm > 0:
        if reflector is None:
            layers.append(Layer(material(spacer)))
        else:
            layers += [Layer(material(spacer), spacer_nm), Layer(material(reflector))]
    else:
        layers.append(Layer(material(reflector) if reflector else top_m))
    feats = tuple(
        Annulus(
            disc_radius_nm + k * period_nm,
            disc_radius_nm + k * period_nm + trench_nm,
            -etch,
            0.0,
            top_m,
        )
        for k in range(n_rings)
    )
    return AxisymmetricStructure(tuple(layers), feats, -depth)
