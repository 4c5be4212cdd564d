"""GDSII layout (photonics.layout): written, read back with gdstk, geometry checked."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import gdstk
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlight.errors import ParameterError
from qlight.photonics.design import BullseyeDesign
from qlight.photonics.layout import (
    LAYER_EMITTER,
    LAYER_ETCH,
    LAYER_LABEL,
    LAYER_MARKS,
    LayoutSite,
    bullseye_cell,
    cell_name,
    write_layout,
)
from qlight.physics.marks import MarkLayout, decode_mark_bits, encode_mark_bits

DESIGN = BullseyeDesign(
    wavelength_nm=650.0,
    membrane_nm=160.0,
    period_nm=300.0,
    trench_nm=110.0,
    disc_radius_nm=400.0,
    n_rings=10,
    etch_nm=160.0,
    spacer_nm=300.0,
)
CHIP = (200e-6, 200e-6)


def _sites() -> list[LayoutSite]:
    # between the marks of the default 20 µm lattice (marks at -90, -70, … µm)
    return [
        LayoutSite("E-0001", 0.0, 0.0, DESIGN),
        LayoutSite("E-0002", 20.0123e-6, -9.9876e-6, replace(DESIGN, period_nm=320.0)),
        LayoutSite("E-0003", -40.0e-6, 30.0e-6, replace(DESIGN, n_rings=4)),
    ]


def _read(path: Path) -> dict[str, gdstk.Cell]:
    lib = gdstk.read_gds(str(path))
    assert lib.unit == pytest.approx(1e-6)
    assert lib.precision == pytest.approx(1e-9)
    return {c.name: c for c in lib.cells}


def test_bullseye_rings_and_centres_read_back(tmp_path: Path) -> None:
    path = tmp_path / "chip.gds"
    sites = _sites()
    write_layout(sites, path, marks=MarkLayout(), chip_size_m=CHIP, tolerance_nm=1.0)
    cells = _read(path)
    assert {"CHIP", "MARKS", *(cell_name(s.emitter_id) for s in sites)} == set(cells)
    refs = {
        r.cell.name if isinstance(r.cell, gdstk.Cell) else r.cell: r
        for r in cells["CHIP"].references
    }
    for s in sites:
        cell = cells[cell_name(s.emitter_id)]
        polys = [p for p in cell.polygons if (p.layer, p.datatype) == LAYER_ETCH]
        assert len(polys) == s.design.n_rings
        # each annulus: vertices on its two circles. Vertices are rounded to the 1 nm
        # database grid (±0.71 nm radially) and the polygon chords stay within the 1 nm
        # tolerance, so min/max vertex radius = r_in/r_out within 1 nm.
        got = sorted(
            (float(np.hypot(*p.points.T).min()), float(np.hypot(*p.points.T).max())) for p in polys
        )
        want = s.design.ring_radii_nm() * 1e-3
        np.testing.assert_allclose(np.array(got), want, atol=1e-3)
        for p in polys:  # annuli centred on the cell origin (bounding-box centre, 1 nm)
            lo, hi = p.bounding_box()
            np.testing.assert_allclose(0.5 * (np.array(lo) + np.array(hi)), 0.0, atol=1e-3)
        ref = refs[cell_name(s.emitter_id)]
        np.testing.assert_allclose(ref.origin, (s.x_m * 1e6, s.y_m * 1e6), atol=1e-3)
    # emitter crosses and labels on their own layers
    # (paths are written as polygons: two 100 nm × 10 nm bars per emitter)
    bars = [p for p in cells["CHIP"].polygons if (p.layer, p.datatype) == LAYER_EMITTER]
    assert len(bars) == 2 * len(sites)
    np.testing.assert_allclose(sorted(p.area() for p in bars), 0.1 * 0.01, rtol=1e-6)
    texts = [lab.text for lab in cells["CHIP"].labels if (lab.layer, lab.texttype) == LAYER_LABEL]
    assert sorted(t.split()[0] for t in texts) == ["E-0001", "E-0002", "E-0003"]


def test_marks_decode_to_their_lattice_index(tmp_path: Path) -> None:
    path = tmp_path / "chip.gds"
    marks = MarkLayout()
    write_layout(_sites(), path, marks=marks, chip_size_m=CHIP)
    squares = [p for p in _read(path)["MARKS"].polygons if (p.layer, p.datatype) == LAYER_MARKS]
    n_rows, n_cols = marks.grid_shape(*CHIP)
    n_cells = sum(int(encode_mark_bits(i, marks.cells).sum()) for i in range(n_rows * n_cols))
    assert len(squares) == n_cells
    centres = np.array([p.points.mean(axis=0) for p in squares]) * 1e-6
    sides = np.array([np.ptp(p.points[:, 0]) for p in squares]) * 1e-6
    np.testing.assert_allclose(sides, marks.cell_size_m, atol=1e-9)
    for index in (0, 7, n_rows * n_cols - 1):
        cx, cy = marks.position_m(index, *CHIP)
        near = centres[np.max(np.abs(centres - [cx, cy]), axis=1) <= marks.half_extent_m]
        half = (marks.cells - 1) / 2
        cols = np.rint((near[:, 0] - cx) / marks.cell_pitch_m + half).astype(int)
        rows = np.rint((near[:, 1] - cy) / marks.cell_pitch_m + half).astype(int)
        bits = np.zeros((marks.cells, marks.cells), dtype=bool)
        bits[rows, cols] = True
        assert decode_mark_bits(bits) == index


def test_without_marks_and_in_memory() -> None:
    lib = write_layout(_sites()[:1], None, marks=None, chip_size_m=CHIP)
    assert sorted(c.name for c in lib.cells) == ["BULLSEYE_E_0001", "CHIP"]


def test_impossible_layouts_are_rejected(tmp_path: Path) -> None:
    out = tmp_path / "x.gds"
    with pytest.raises(ParameterError, match="at least one"):
        write_layout([], out)
    with pytest.raises(ParameterError, match="overlap"):
        write_layout(
            [LayoutSite("A", 0.0, 0.0, DESIGN), LayoutSite("B", 5e-6, 0.0, DESIGN)], out, marks=None
        )
    with pytest.raises(ParameterError, match="off the chip"):
        write_layout([LayoutSite("A", 98e-6, 0.0, DESIGN)], out, marks=None)
    with pytest.raises(ParameterError, match="on a mark"):
        write_layout([LayoutSite("A", -88e-6, -88e-6, DESIGN)], out, marks=MarkLayout())
    with pytest.raises(ParameterError, match="duplicate"):
        write_layout(
            [LayoutSite("E-1", 0.0, 0.0, DESIGN), LayoutSite("E_1", 30e-6, 0.0, DESIGN)], out
        )
    with pytest.raises(ParameterError, match="x_m"):
        LayoutSite("A", math.nan, 0.0, DESIGN)
    with pytest.raises(ParameterError, match="tolerance"):
        write_layout([LayoutSite("A", 0.0, 0.0, DESIGN)], out, marks=None, tolerance_nm=0.0)
    assert not out.exists()


def test_cell_names_are_gds_safe() -> None:
    assert cell_name("E-0001") == "BULLSEYE_E_0001"
    assert cell_name("a.b/c d") == "BULLSEYE_a_b_c_d"


@settings(max_examples=25, deadline=None)
@given(
    period=st.floats(150.0, 500.0),
    fraction=st.floats(0.1, 0.9),
    disc=st.floats(50.0, 1000.0),
    rings=st.integers(1, 5),
    tol=st.sampled_from([0.5, 1.0, 2.0]),
)
def test_any_bullseye_cell_has_its_radii(
    period: float, fraction: float, disc: float, rings: int, tol: float
) -> None:
    # in memory (no rounding to the database grid): every vertex of each annulus lies on
    # its inner or outer circle (to float precision), and the polygon reaches both radii
    d = replace(DESIGN, period_nm=period, trench_nm=fraction * period, disc_radius_nm=disc)
    d = replace(d, n_rings=rings)
    cell = bullseye_cell(d, "B", tolerance_nm=tol)
    assert len(cell.polygons) == rings
    for p, (r_in, r_out) in zip(cell.polygons, d.ring_radii_nm() * 1e-3, strict=True):
        r = np.hypot(*p.points.T)
        on_circle = np.isclose(r, r_in, atol=1e-9) | np.isclose(r, r_out, atol=1e-9)
        assert on_circle.all()
        assert r.min() == pytest.approx(r_in, abs=1e-9)
        assert r.max() == pytest.approx(r_out, abs=1e-9)
        # chord sag of the outer circle within the requested tolerance. gdstk chooses
        # n = ceil(π / acos(1 − tol/r)) points but the seam shares one, so the widest gap
        # is 2π/(n − 1): a sag up to (n/(n − 1))² < 1 + 3/n of tol (n >= 4).
        outer = p.points[np.isclose(r, r_out, atol=1e-9)]
        ang = np.sort(np.arctan2(outer[:, 1], outer[:, 0]))
        step = float(np.max(np.diff(ang)))
        assert r_out * (1 - math.cos(step / 2)) <= (1 + 3 / len(outer)) * tol * 1e-3
