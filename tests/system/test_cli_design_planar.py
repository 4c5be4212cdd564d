"""`qlight design planar|sil` end to end: the installed command in a subprocess."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tests.system._cli import json_run as _json_run
from tests.system._cli import run_qlight as _run


def test_deep_dipole_under_gan_reproduces_references(tmp_path: Path) -> None:
    # REFERENCES.md, isotropic deep dipole in n = 2.4 into NA 0.9: 0.02987 of the bulk power.
    out = _json_run(
        [
            "design",
            "planar",
            "--layers",
            "air/n=2.4@1000",
            "--wavelength-nm",
            "650",
            "--dipole",
            "iso",
            "--na",
            "0.9",
        ],
        tmp_path,
    )
    assert {"collection_efficiency", "radiated_to_top", "purcell"} <= set(out)
    assert out["collected_per_bulk"] == pytest.approx(0.02987, abs=5e-6)
    assert out["collection_efficiency"] == pytest.approx(
        out["collected_per_bulk"] / out["purcell"], rel=1e-12
    )
    assert out["guided_modes"] == []
    assert out["guided"] == pytest.approx(0.0, abs=1e-8)


def test_membrane_on_mirror_with_plot(tmp_path: Path) -> None:
    png = tmp_path / "pattern.png"
    out = _json_run(
        [
            "design",
            "planar",
            "--layers",
            "air/GaN:150@75/SiO2:300/Au",
            "--wavelength-nm",
            "650",
            "--dipole",
            "h",
            "--na",
            "0.9",
            "--plot",
            str(png),
        ],
        tmp_path,
    )
    assert 0.0 < out["collection_efficiency"] < out["radiated_to_top"] < 1.0
    assert out["lossless"] is False
    assert out["guided"] is None
    assert out["guided_or_absorbed"] > 0.5  # the membrane guides most of the light
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the rich table for people
    proc = _run(["design", "planar", "--layers", "air/GaN:150@75/SiO2:300/Au"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "collection_efficiency" in proc.stdout
    assert "purcell" in proc.stdout


def test_slab_lists_its_guided_modes(tmp_path: Path) -> None:
    out = _json_run(
        ["design", "planar", "--layers", "air/n=2.4:200@60/n=1.45", "--dipole", "v"], tmp_path
    )
    modes = out["guided_modes"]
    assert [m["polarization"] for m in modes] == ["TE", "TM", "TE"]
    assert sum(m["fraction"] for m in modes) == pytest.approx(out["guided"], rel=1e-8)


def test_perfect_conductor_cavity(tmp_path: Path) -> None:
    # Abram et al. 1998 for L = 500 nm, n = 1.5, centre, vertical dipole: kL = 7.25, modes
    # m = 1, 2: (3π/kL)[1/2 + (1 − (π/kL)²)·cos²(π/2) + (1 − (2π/kL)²)·cos²(π)].
    out = _json_run(
        ["design", "planar", "--layers", "PEC/n=1.5:500@250/PEC", "--dipole", "v"], tmp_path
    )
    k_l = 2 * math.pi * 1.5 * 500 / 650
    expected = 3 * math.pi / k_l * (0.5 + 1 - (2 * math.pi / k_l) ** 2)
    assert out["purcell"] == pytest.approx(expected, rel=1e-8)
    assert out["na"] is None
    assert out["collection_efficiency"] is None  # no objective behind a perfect mirror
    assert out["radiated_to_top"] == 0.0


def test_sil(tmp_path: Path) -> None:
    out = _json_run(["design", "sil", "--kind", "hemispherical", "--na", "0.9"], tmp_path)
    assert out["collection_efficiency_h"] == pytest.approx(0.27088, abs=1e-5)
    assert 5.0 < out["gain_vs_flat_iso"] < 9.0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--layers", "air/GaN@1000", "--na", "1.2"], "na=1.2 must be <= the top medium"),
        (["--layers", "air/GaN:-150@75/Au"], "thickness of GaN=-150.0 must be > 0"),
        (["--layers", "air/GaN:150@75"], "outer media are semi-infinite"),
        (["--layers", "air/kryptonite@75"], "must be one of air, GaN"),
        (["--layers", "air/GaN@75", "--dipole", "x"], "--dipole='x'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = _run(["design", "planar", *args, "--json"], tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Traceback" not in proc.stderr
    assert needle in lines[0]
