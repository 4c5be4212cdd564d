"""Photon extraction: dipole emission in planar multilayers and solid immersion lenses.

Layer 2 (imports numpy/scipy only). See docs/photonics.md.

* :mod:`~qlight.photonics.materials` — permittivities (GaN, sapphire, SiO₂, Au, PEC, n=…);
* :mod:`~qlight.photonics.layers` — the stack and its SPEC string (``air/GaN:150@75/Au``);
* :mod:`~qlight.photonics.planar` — exact Purcell factor, radiation, collection, pattern;
* :mod:`~qlight.photonics.modes` — guided modes and the power coupled into each;
* :mod:`~qlight.photonics.sil` — hemispherical and Weierstrass solid immersion lenses;
* :mod:`~qlight.photonics.collection` — tables that feed the twin's collection efficiency;
* :mod:`~qlight.photonics.fdfd`, :mod:`~qlight.photonics.structures` — axisymmetric FDFD;
* :mod:`~qlight.photonics.design`, :mod:`~qlight.photonics.design_search` — bullseye geometry
  and evaluation, and its optimisation (docs/photonics-design.md);
* :mod:`~qlight.photonics.design_table` — designs over wavelength, the twin's tables;
* :mod:`~qlight.photonics.layout` — GDSII fabrication layout (gdstk).
"""

from qlight.photonics._stackoptics import NotConvergedError
from qlight.photonics.collection import CollectionTable, collection_efficiency_table
from qlight.photonics.layers import Layer, Stack, parse_stack
from qlight.photonics.materials import MATERIAL_NAMES, Material, material
from qlight.photonics.modes import GuidedMode, guided_modes
from qlight.photonics.planar import (
    AngularPattern,
    PlanarEmission,
    angular_pattern,
    planar_emission,
)
from qlight.photonics.sil import SILCollection, sil_collection

__all__ = [
    "MATERIAL_NAMES",
    "AngularPattern",
    "CollectionTable",
    "GuidedMode",
    "Layer",
    "Material",
    "NotConvergedError",
    "PlanarEmission",
    "SILCollection",
    "Stack",
    "angular_pattern",
    "collection_efficiency_table",
    "guided_modes",
    "material",
    "parse_stack",
    "planar_emission",
    "sil_collection",
]
