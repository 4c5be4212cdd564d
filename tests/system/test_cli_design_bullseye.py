"""`qlight design bullseye|layout` end to end: the installed command in a subprocess.

Solves are kept few and coarse (no optimisation steps, 25 nm grid without the gold mirror);
the optimiser itself is covered by tests/unit/test_photonics_design.py and the benchmark.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import gdstk
import numpy as np
import pytest
from tests.system._cli import json_run, run_qlight

from qlight.mapping.registry import Registry
from qlight.photonics.design import BullseyeDesign
from qlight.photonics.design_table import BullseyeTable, TableEntry, load_design_table
from qlight.photonics.layout import cell_name


def _json_run(args: list[str], cwd: Path) -> dict[str, Any]:
    # a few small solves: seconds on a quiet machine, minutes on a loaded one
    return json_run(args, cwd, timeout_s=600)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_qlight(args, cwd, timeout_s=600)


_TINY = [
    "design",
    "bullseye",
    "--wavelength-nm",
    "650",
    "--na",
    "0.9",
    "--rings",
    "1",
    "--membrane-nm",
    "160",
    "--reflector",
    "none",
    "--max-evaluations",
    "0",
    "--no-ring-search",
    "--refine-resolution-nm",
    "0",
    "--center-span",
    "0",
    "--search-resolution-nm",
    "25",
    "--resolution-nm",
    "25",
]


def test_bullseye_json_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "b.png"
    out = _json_run([*_TINY, "--plot", str(png)], tmp_path)
    g = out["geometry"]
    assert g["n_rings"] == 1
    assert g["membrane_nm"] == 160.0
    assert g["reflector"] is None
    assert 0.0 < out["collection_efficiency"] < 1.0
    assert out["purcell"] > 0.0
    assert out["resolution_nm"] == 25.0
    assert out["n_evaluations"] == 1  # the start only: no search steps
    ff = out["far_field"]
    assert len(ff["pattern_per_sr"]) == 18
    assert 0.0 <= ff["half_power_angle_deg"] <= 90.0
    assert {"iso", "v", "convergence"} <= set(out)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bullseye_from_a_design_table(tmp_path: Path) -> None:
    # a small table (1 ring, no mirror) so that the two solves stay cheap
    base = BullseyeDesign(650.0, 160.0, 300.0, 100.0, 350.0, 1, 160.0, 0.0, "air", None)
    entries = tuple(
        TableEntry(replace(base, wavelength_nm=lam, period_nm=p), 0.5, 1.0)
        for lam, p in ((640.0, 290.0), (660.0, 310.0))
    )
    path = tmp_path / "t.json"
    path.write_text(json.dumps(BullseyeTable(0.9, 25.0, entries, "test").to_dict()))
    args = ["design", "bullseye", "--wavelength-nm", "650", "--from-table", "--table", str(path)]
    out = _json_run([*args, "--resolution-nm", "25"], tmp_path)
    assert out["geometry"]["period_nm"] == 300.0  # interpolated
    assert out["geometry"]["disc_radius_nm"] == 350.0
    assert out["n_evaluations"] == 2  # h and v, no optimisation
    assert out["convergence"][0]["resolution_nm"] == 25.0
    assert 0.0 < out["collection_efficiency"] < 1.0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--na", "1.2"], "na"),
        (["--wavelength-nm", "100"], "wavelength"),
        (["--reflector", "mirror"], "--reflector"),
        (["--reflector", "Au", "--search-resolution-nm", "30"], "resolution_nm"),
        (["--membrane-nm", "-5"], "membrane_nm"),
        (["--from-table", "--na", "0.7"], "table"),
        (["--from-table", "--wavelength-nm", "900"], "within the table"),
        (["--center-span", "0.5"], "center_span"),
    ],
)
def test_bullseye_bad_input(tmp_path: Path, args: list[str], needle: str) -> None:
    base = ["design", "bullseye", "--wavelength-nm", "650", "--max-evaluations", "0"]
    proc = _run([*base, *args], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert needle in proc.stderr


def _registry(path: Path) -> None:
    with Registry.open(path) as reg:
        reg.add_chip("C1")
        for x, y, zpl in ((0.0, 0.0, 612.3), (20.5e-6, -10.25e-6, 688.8)):
            reg.add_emitter(
                "C1",
                x_chip_m=x,
                y_chip_m=y,
                sigma_x_m=5e-9,
                sigma_y_m=5e-9,
                fingerprint={"zpl_nm": zpl},
            )
        reg.add_emitter("C1", x_chip_m=40e-6, y_chip_m=30e-6, sigma_x_m=5e-9, sigma_y_m=5e-9)


def test_layout_from_registry(tmp_path: Path) -> None:
    db = tmp_path / "reg.db"
    _registry(db)
    gds = tmp_path / "chip.gds"
    out = _json_run(
        [
            "design",
            "layout",
            "--registry",
            str(db),
            "--emitters",
            "E-0001,E-0002",
            "--out",
            str(gds),
            "--zpl-from-registry",
        ],
        tmp_path,
    )
    assert out["top_cell"] == "CHIP"
    assert out["layers"]["etch"] == [1, 0]
    table = load_design_table()
    cells = {c.name: c for c in gdstk.read_gds(str(gds)).cells}
    refs = {r.cell.name: r for r in cells["CHIP"].references if isinstance(r.cell, gdstk.Cell)}
    for row, (x_um, y_um, zpl) in zip(
        out["emitters"], ((0.0, 0.0, 612.3), (20.5, -10.25, 688.8)), strict=True
    ):
        assert row["zpl_nm"] == zpl
        design = table.design_for(zpl)
        assert row["geometry"]["period_nm"] == design.period_nm
        name = cell_name(row["emitter_id"])
        np.testing.assert_allclose(refs[name].origin, (x_um, y_um), atol=1e-3)
        outer = max(float(np.hypot(*p.points.T).max()) for p in cells[name].polygons)
        assert outer == pytest.approx(design.outer_radius_nm * 1e-3, abs=1e-3)
    assert "MARKS" in cells


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--emitters", "E-0009"], "E-0009"),
        (["--emitters", "E-0003", "--zpl-from-registry"], "zpl_nm"),
        (["--emitters", "E-0001", "--wavelength-nm", "800"], "within the table"),
        (["--emitters", ","], "--emitters"),
    ],
)
def test_layout_bad_input(tmp_path: Path, args: list[str], needle: str) -> None:
    db = tmp_path / "reg.db"
    _registry(db)
    gds = tmp_path / "chip.gds"
    proc = _run(["design", "layout", "--registry", str(db), "--out", str(gds), *args], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert needle in proc.stderr
    assert not gds.exists()


def test_layout_missing_registry(tmp_path: Path) -> None:
    proc = _run(
        [
            "design",
            "layout",
            "--registry",
            str(tmp_path / "no.db"),
            "--emitters",
            "E-0001",
            "--out",
            str(tmp_path / "c.gds"),
        ],
        tmp_path,
    )
    assert proc.returncode == 2
    assert "--registry" in proc.stderr
