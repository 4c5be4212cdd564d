"""`qlight qkd keyrate` input checks, in-process (the subprocess test runs a few of them)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from qlight.cli._qkd_keyrate import parse_distances
from qlight.cli.qkd import qkd_app
from qlight.errors import ParameterError


def _invoke(args: list[str]) -> tuple[int, str, str]:
    res = CliRunner().invoke(qkd_app, ["keyrate", *args, "--json"])
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--source", "sps"], "--g2"),
        (["--source", "sps", "--g2", "0.1", "--mu", "0"], "--mu"),
        (["--source", "sps", "--g2", "0.1", "--mu", "1.5"], "--mu"),
        (["--source", "sps", "--g2", "5", "--mu", "0.5"], "--g2"),
        (["--source", "wcp", "--preset", "future"], "--preset"),
        (["--source", "wcp", "--distance-km", "0:10"], "--distance-km"),
        (["--source", "wcp", "--distance-km", "0:10:0"], "--distance-km"),
        (["--source", "wcp", "--distance-km", "-5:10:1"], "--distance-km"),
        (["--source", "wcp", "--distance-km", "0:1e9:1"], "--distance-km"),
        (["--source", "wcp-decoy", "--decoys", "many"], "--decoys"),
        (["--source", "sps", "--g2", "0.1", "--decoys", "two"], "--decoys"),
        (["--source", "wcp", "--decoy-intensities", "0.1"], "--decoy-intensities"),
        (["--source", "wcp-decoy", "--decoy-intensities", "0.1"], "--decoy-intensities"),
        (
            ["--source", "wcp-decoy", "--decoys", "two", "--decoy-intensities", "x"],
            "--decoy-intensities",
        ),
        (
            ["--source", "wcp-decoy", "--decoys", "two", "--decoy-intensities", "0.1"],
            "--decoy-intensities",
        ),
        (
            [
                "--source",
                "wcp-decoy",
                "--mu",
                "0.3",
                "--decoys",
                "two",
                "--decoy-intensities",
                "0.2,0.15",
            ],
            "--decoy-intensities",
        ),
        (
            ["--source", "wcp-decoy", "--decoys", "two", "--decoy-intensities", "0.8,0.3"],
            "--decoy-intensities",
        ),
        (["--source", "wcp-decoy", "--finite-n", "-5"], "--finite-n"),
        (["--source", "wcp-decoy", "--finite-n", "1e10", "--decoys", "vacuum+weak"], "--decoys"),
        (["--source", "sps", "--g2", "0.1", "--plot", "no/such/dir/p.png"], "--plot"),
        (["--source", "sps", "--g2", "0.1", "--plot", "p.pdf"], "--plot"),
    ],
)
def test_bad_input_exits_2_naming_the_flag(
    extra: list[str], flag: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(str(tmp_path))
    args = extra if "--distance-km" in extra else [*extra, "--distance-km", "0:10:10"]
    code, out, err = _invoke(args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {flag}=")


def test_vacuum_plus_weak_in_process() -> None:
    code, out, _ = _invoke(
        [
            "--source",
            "wcp-decoy",
            "--decoys",
            "vacuum+weak",
            "--decoy-intensities",
            "0.05",
            "--distance-km",
            "0:100:50",
        ]
    )
    assert code == 0
    res = json.loads(out)
    assert res["parameters"]["decoys"] == "vacuum+weak"
    assert all(r > 0 for r in res["rate_per_pulse"])
    assert "max_distance_km" not in res


def test_parse_distances() -> None:
    np.testing.assert_allclose(parse_distances("0:10:2.5"), [0, 2.5, 5, 7.5, 10])
    np.testing.assert_allclose(parse_distances("0:0.3:0.1"), [0, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(parse_distances("5:5:1"), [5])
    with pytest.raises(ParameterError):
        parse_distances("a:b:c")
