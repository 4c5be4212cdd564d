"""GDSII fabrication layout: a bullseye around each located emitter, plus alignment marks.

Deterministic fabrication (issue 10): the emitters found and localised by the mapping layer
get a circular Bragg grating written around them, centred on their chip-frame coordinates,
each designed for the emitter's own zero-phonon line. This module takes plain coordinates
and designs (the registry glue lives in ``qlight.cli.design``) and writes the file with
``gdstk`` (Heitor Pascoal de Abreu, https://heitorpb.github.io/gdstk).

File conventions (all documented in docs/photonics-design.md):

* user unit 1 µm, database unit (precision) 1 nm; coordinates are the chip frame of
  :mod:`qlight.physics.chipconfig` (origin at the chip centre, x right, y up);
* layer 1/0 ``ETCH``: the trenches of each bullseye, one annulus polygon per ring
  (``gdstk.ellipse`` with an inner radius, polygonised to ``tolerance_nm``, at most 8190
  vertices: the GDSII limit, gdstk's default of 199 would split the rings); etch inside;
* layer 2/0 ``MARKS``: the fiducial marks of :class:`~qlight.physics.marks.MarkLayout`,
  one square per filled code cell (:func:`~qlight.physics.marks.encode_mark_bits`);
* layer 10/0 ``EMITTER`` (not to be written): a 100 nm cross at each emitter;
* layer 11/0 ``LABEL``: text labels (emitter id, design wavelength; mark index);
* cells: ``CHIP`` (top) references one ``BULLSEYE_<id>`` per emitter (its geometry at the
  origin, placed by a reference at the emitter) and ``MARKS`` (all marks); ``<id>`` is
  the emitter id with characters other than letters, digits and ``_`` replaced by ``_``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gdstk
import numpy as np

from qlight.errors import ParameterError
from qlight.photonics.design import BullseyeDesign
from qlight.physics.marks import MarkLayout, encode_mark_bits

__all__ = [
    "LAYER_EMITTER",
    "LAYER_ETCH",
    "LAYER_LABEL",
    "LAYER_MARKS",
    "TOP_CELL",
    "LayoutSite",
    "bullseye_cell",
    "cell_name",
    "write_layout",
]

#: (layer, datatype) of each kind of shape.
LAYER_ETCH = (1, 0)
LAYER_MARKS = (2, 0)
LAYER_EMITTER = (10, 0)
LAYER_LABEL = (11, 0)
#: Name of the top cell of the written chip.
TOP_CELL = "CHIP"

_UM = 1e6  # metres → µm


@dataclass(frozen=True)
class LayoutSite:
    """One emitter to be enclosed: id, chip-frame position (m), and its bullseye design."""

    emitter_id: str
    x_m: float
    y_m: float
    design: BullseyeDesign

    def __post_init__(self) -> None:
        for name in ("x_m", "y_m"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ParameterError(name, value, "must be finite")
        if not self.emitter_id:
            raise ParameterError("emitter_id", self.emitter_id, "must be non-empty")


def cell_name(emitter_id: str) -> str:
    """``BULLSEYE_<id>`` with the id made GDS-safe (letters, digits, ``_``)."""
    return "BULLSEYE_" + re.sub(r"[^A-Za-z0-9_]", "_", emitter_id)


def bullseye_cell(design: BullseyeDesign, name: str, *, tolerance_nm: float = 1.0) -> gdstk.Cell:
    """A cell with the design's trenches (layer ``ETCH``) centred on the origin (µm)."""
    if not (math.isfinite(tolerance_nm) and 0 < tolerance_nm <= 10):
        raise ParameterError("tolerance_nm", tolerance_nm, "must be in (0, 10] nm")
    cell = gdstk.Cell(name)
    layer, datatype = LAYER_ETCH
    for r_in, r_out in design.ring_radii_nm():
        cell.add(
            gdstk.ellipse(
                (0.0, 0.0),
                float(r_out) * 1e-3,
                inner_radius=float(r_in) * 1e-3,
                tolerance=tolerance_nm * 1e-3,
                layer=layer,
                datatype=datatype,
            )
        )
    return cell


def _marks_cell(
    marks: MarkLayout, size_x_m: float, size_y_m: float
) -> tuple[gdstk.Cell, list[tuple[float, float, float]]]:
    """All marks (squares on ``MARKS``, index labels) and their (x, y, half side) in m."""
    cell = gdstk.Cell("MARKS")
    n_rows, n_cols = marks.grid_shape(size_x_m, size_y_m)
    half = marks.cell_size_m / 2
    boxes = []
    for index in range(n_rows * n_cols):
        cx, cy = marks.position_m(index, size_x_m, size_y_m)
        offsets = marks.cell_offsets_m(encode_mark_bits(index, marks.cells))
        for dx, dy in offsets:
            x, y = cx + dx, cy + dy
            cell.add(
                gdstk.rectangle(
                    ((x - half) * _UM, (y - half) * _UM),
                    ((x + half) * _UM, (y + half) * _UM),
                    layer=LAYER_MARKS[0],
                    datatype=LAYER_MARKS[1],
                )
            )
        cell.add(
            gdstk.Label(
                f"M{index}",
                (cx * _UM, (cy - marks.half_extent_m) * _UM - 0.5),
                layer=LAYER_LABEL[0],
                texttype=LAYER_LABEL[1],
            )
        )
        boxes.append((cx, cy, marks.half_extent_m))
    return cell, boxes


def write_layout(
    sites: Sequence[LayoutSite],
    path: str | Path | None,
    *,
    marks: MarkLayout | None = None,
    chip_size_m: tuple[float, float] = (200e-6, 200e-6),
    tolerance_nm: float = 1.0,
    library_name: str = "QLIGHT",
) -> gdstk.Library:
    """Write (``path`` not None) and return the GDSII library of ``sites`` and the marks.

    Raises
    ------
    ParameterError
        No sites; duplicate emitter ids; a bullseye reaching beyond the chip, overlapping a
        mark or another bullseye; a non-positive chip size.
    """
    if not sites:
        raise ParameterError("sites", 0, "need at least one emitter")
    size_x, size_y = chip_size_m
    if not (size_x > 0 and size_y > 0 and math.isfinite(size_x) and math.isfinite(size_y)):
        raise ParameterError("chip_size_m", chip_size_m, "must be finite and > 0")
    ids = [s.emitter_id for s in sites]
    names = [cell_name(i) for i in ids]
    if len(set(names)) != len(names):
        raise ParameterError("emitters", ids, "contain duplicate ids (after GDS name mangling)")
    lib = gdstk.Library(library_name, unit=1e-6, precision=1e-9)
    top = gdstk.Cell(TOP_CELL)
    boxes: list[tuple[float, float, float]] = []
    if marks is not None:
        mcell, boxes = _marks_cell(marks, size_x, size_y)
        lib.add(mcell)
        top.add(gdstk.Reference(mcell))
    xy = np.array([[s.x_m, s.y_m] for s in sites])
    radius = np.array([s.design.outer_radius_nm * 1e-9 for s in sites])
    for k, s in enumerate(sites):
        r = radius[k]
        if abs(s.x_m) + r > size_x / 2 or abs(s.y_m) + r > size_y / 2:
            raise ParameterError(
                "emitter position", (s.emitter_id, s.x_m, s.y_m), "puts its bullseye off the chip"
            )
        for mx, my, mh in boxes:  # square mark vs disc: distance from the centre to the box
            dx = max(abs(s.x_m - mx) - mh, 0.0)
            dy = max(abs(s.y_m - my) - mh, 0.0)
            if math.hypot(dx, dy) < r:
                raise ParameterError(
                    "emitter position", (s.emitter_id, s.x_m, s.y_m), "puts its bullseye on a mark"
                )
        d = np.hypot(*(xy[k + 1 :] - xy[k]).T) if k + 1 < len(sites) else np.array([])
        clash = np.nonzero(d < r + radius[k + 1 :])[0]
        if clash.size:
            other = sites[k + 1 + int(clash[0])].emitter_id
            raise ParameterError(
                "emitters", (s.emitter_id, other), "are too close: their bullseyes overlap"
            )
    for s, name in zip(sites, names, strict=True):
        cell = bullseye_cell(s.design, name, tolerance_nm=tolerance_nm)
        lib.add(cell)
        x, y = s.x_m * _UM, s.y_m * _UM
        top.add(gdstk.Reference(cell, (x, y)))
        arm = 0.05
        for (x0, y0), (x1, y1) in (((x - arm, y), (x + arm, y)), ((x, y - arm), (x, y + arm))):
            top.add(
                gdstk.FlexPath(
                    [(x0, y0), (x1, y1)], 0.01, layer=LAYER_EMITTER[0], datatype=LAYER_EMITTER[1]
                )
            )
        top.add(
            gdstk.Label(
                f"{s.emitter_id} {s.design.wavelength_nm:.2f}nm",
                (x, y - s.design.outer_radius_nm * 1e-3 - 0.5),
                layer=LAYER_LABEL[0],
                texttype=LAYER_LABEL[1],
            )
        )
    lib.add(top)
    if path is not None:
        lib.write_gds(str(path), max_points=8190)  # one polygon per ring (GDSII limit)
    return lib
