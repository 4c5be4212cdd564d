"""Planar layer stacks and the SPEC strings that describe them.

A stack lists media from top to bottom. The two outer media are semi-infinite; the inner
ones have a thickness. One medium holds the emitter (a point dipole) at a depth below that
medium's top interface. The SPEC grammar (issue 10) is::

    SPEC   := MEDIUM ("/" MEDIUM)+
    MEDIUM := MATERIAL [":" THICKNESS_NM] ["@" DEPTH_NM]
    MATERIAL := air | GaN | sapphire | SiO2 | Au | PEC | n=VALUE

``air/GaN@1000`` is a dipole 1 µm under a flat GaN surface; ``air/GaN:150@75/SiO2:300/Au``
one in the middle of a 150 nm GaN membrane on 300 nm of silica on gold. In the *top*
semi-infinite medium, which has no top interface, ``@D`` is the height D above its lower
interface (an extension: ``air@20/GaN`` is a dipole 20 nm above a GaN surface).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qlight.errors import ParameterError
from qlight.photonics.materials import Material, material

__all__ = ["Layer", "Stack", "parse_stack"]


@dataclass(frozen=True, slots=True)
class Layer:
    """One medium of a stack: a material and a thickness (``None``: semi-infinite)."""

    material: Material
    thickness_nm: float | None = None


@dataclass(frozen=True, slots=True)
class Stack:
    """A planar multilayer with a dipole emitter.

    Parameters
    ----------
    layers : tuple of Layer
        Media from top to bottom; the first and last are semi-infinite (``thickness_nm``
        None), every other one has a finite thickness > 0.
    emitter_layer : int
        Index into ``layers`` of the medium holding the dipole (not PEC; lossless at the
        wavelength used, checked by the solver).
    depth_nm : float
        Distance of the dipole below the top interface of its medium; for the top medium,
        its height above that medium's lower interface. Strictly inside the medium.
    """

    layers: tuple[Layer, ...]
    emitter_layer: int
    depth_nm: float

    def __post_init__(self) -> None:
        n = len(self.layers)
        if n < 2:
            raise ParameterError("layers", n, "must hold at least two media (the outer two)")
        for end in (0, n - 1):
            if self.layers[end].thickness_nm is not None:
                raise ParameterError(
                    "layers",
                    self.layers[end].material.name,
                    "the outer media are semi-infinite: give no thickness",
                )
        for layer in self.layers[1:-1]:
            t = layer.thickness_nm
            if t is None or not math.isfinite(t) or t <= 0.0:
                raise ParameterError(
                    f"thickness of {layer.material.name}", t, "must be finite and > 0 nm"
                )
        e = self.emitter_layer
        if not 0 <= e < n:
            raise ParameterError("emitter_layer", e, f"must be in [0, {n - 1}]")
        if self.layers[e].material.is_pec:
            raise ParameterError("emitter", "PEC", "cannot sit inside a perfect conductor")
        d = self.depth_nm
        if not math.isfinite(d) or d <= 0.0:
            raise ParameterError("depth_nm", d, "must be finite and > 0 (off the interface)")
        t_e = self.layers[e].thickness_nm
        if t_e is not None and d >= t_e:
            raise ParameterError("depth_nm", d, f"must be < the layer thickness {t_e:g} nm")

    @property
    def top(self) -> Material:
        """The upper semi-infinite medium (where the objective is)."""
        return self.layers[0].material

    @property
    def bottom(self) -> Material:
        """The lower semi-infinite medium."""
        return self.layers[-1].material

    def distances_nm(self) -> tuple[float, float]:
        """Distances (d_top, d_bottom) of the dipole to its medium's interfaces (inf: none)."""
        e = self.emitter_layer
        t_e = self.layers[e].thickness_nm
        if e == 0:
            return math.inf, self.depth_nm
        if t_e is None:  # bottom semi-infinite medium
            return self.depth_nm, math.inf
        return self.depth_nm, t_e - self.depth_nm

    def spec(self) -> str:
        """The SPEC string of this stack (inverse of :func:`parse_stack`)."""
        parts = []
        for i, layer in enumerate(self.layers):
            text = layer.material.name
            if layer.thickness_nm is not None:
                text += f":{layer.thickness_nm:g}"
            if i == self.emitter_layer:
                text += f"@{self.depth_nm:g}"
            parts.append(text)
        return "/".join(parts)


def _number(text: str, what: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(what, text, f"must be a number (in {spec!r})") from None
    if not math.isfinite(value):
        raise ParameterError(what, text, "must be finite")
    return value


def parse_stack(spec: str) -> Stack:
    """Parse a SPEC string (module docstring) into a :class:`Stack`.

    Raises
    ------
    ParameterError
        Naming the offending medium: an unknown material, a negative or missing thickness,
        a thickness on an outer (semi-infinite) medium, no or several ``@`` markers, a depth
        outside its medium.

    Examples
    --------
    >>> s = parse_stack("air/GaN:150@75/SiO2:300/Au")
    >>> [layer.material.name for layer in s.layers], s.emitter_layer, s.depth_nm
    (['air', 'GaN', 'SiO2', 'Au'], 1, 75.0)
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ParameterError("layers", spec, "must be a SPEC like air/GaN:150@75/SiO2:300/Au")
    items = [item.strip() for item in spec.split("/")]
    if len(items) < 2:
        raise ParameterError(
            "layers", spec, "needs at least two media (the semi-infinite outer two)"
        )
    layers: list[Layer] = []
    emitter: int | None = None
    depth = math.nan
    for i, item in enumerate(items):
        if not item:
            raise ParameterError("layers", spec, f"medium {i + 1} is empty")
        body, at, depth_text = item.partition("@")
        if at:
            if emitter is not None:
                raise ParameterError("layers", spec, "must mark exactly one emitter with @")
            emitter = i
            depth = _number(depth_text, f"depth of medium {i + 1}", spec)
        name, colon, thick_text = body.partition(":")
        mat = material(name)
        thickness: float | None = None
        if colon:
            thickness = _number(thick_text, f"thickness of {mat.name}", spec)
            if thickness <= 0.0:
                raise ParameterError(f"thickness of {mat.name}", thickness, "must be > 0 nm")
            if i in (0, len(items) - 1):
                raise ParameterError(
                    "layers",
                    spec,
                    f"the outer media are semi-infinite: remove the thickness of {mat.name}",
                )
        elif 0 < i < len(items) - 1:
            raise ParameterError(
                "layers",
                spec,
                f"inner medium {i + 1} ({mat.name}) needs a thickness, e.g. {mat.name}:100;"
                " only the outer two are semi-infinite",
            )
        layers.append(Layer(mat, thickness))
    if emitter is None:
        raise ParameterError("layers", spec, "must mark the emitter's medium with @DEPTH_NM")
    return Stack(tuple(layers), emitter, depth)
