"""`qlight qkd pipeline` end to end: the installed command in a subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from tests.system._cli import one_json_object, run_qlight

from qlight.qkd.link import simulate_link
from qlight.qkd.link.records import save_record
from qlight.qkd.postprocess.keystore import SqliteKeyStore

_BASE = ["qkd", "pipeline", "--pulses", "60000000", "--distance-km", "10", "--seed", "3"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_qlight(args, cwd, prefix=[], timeout_s=300)


def _json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return one_json_object(proc)


def test_final_key_file_and_both_key_stores(tmp_path: Path) -> None:
    key = tmp_path / "final.key"
    proc = _run([*_BASE, "--json", "--key-file", str(key), "--store-dir", str(tmp_path)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = _json(proc)
    assert out["aborted"] is False
    names = [s["stage"] for s in out["stages"]]
    assert names == [
        "sifting", "estimation", "reconciliation", "verification", "privacy amplification"
    ]  # fmt: skip
    bits = out["final_key_bits"]
    assert bits == out["stages"][-1]["alice_bits"] == out["stages"][-1]["bob_bits"] > 0
    for s in out["stages"]:
        assert s["alice_bits"] == s["bob_bits"]
    assert 0.0 < out["qber"] < out["qber_upper"] < 0.15
    assert key.stat().st_size == (bits + 7) // 8
    assert out["stored_keys"] == bits // 256
    with (
        SqliteKeyStore(tmp_path / "alice.sqlite") as alice,
        SqliteKeyStore(tmp_path / "bob.sqlite") as bob,
    ):
        assert alice.count() == bob.count() == bits // 256
        a_keys = alice.take_any(alice.count())
        b_keys = bob.take([k.key_id for k in a_keys])
        assert [k.key for k in a_keys] == [k.key for k in b_keys]
        # The stored keys are the key file cut into 32-byte pieces.
        assert b"".join(k.key for k in a_keys) == key.read_bytes()[: 32 * len(a_keys)]


def test_saved_record_with_ldpc_and_table_output(tmp_path: Path) -> None:
    from tests.unit.test_qkd_pp_pipeline import _config

    rec = simulate_link(_config(10.0), 60_000_000, np.random.default_rng(11))
    path = save_record(rec, tmp_path / "link.npz")
    proc = _run(["qkd", "pipeline", "--record", str(path), "--method", "ldpc"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "privacy amplification" in proc.stdout
    assert "identical on both sides" in proc.stdout
    assert "frame_errors=" in proc.stdout


def test_eavesdropper_aborts_without_key(tmp_path: Path) -> None:
    key = tmp_path / "k.bin"
    args = ["qkd", "pipeline", "--pulses", "5000000", "--eve", "intercept-resend:1"]
    proc = _run([*args, "--json", "--key-file", str(key)], tmp_path)
    assert proc.returncode == 1
    out = _json(proc)
    assert out["aborted"] is True
    assert "QBER" in out["reason"]
    assert not key.exists()


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    for args in (
        ["--method", "winnow"],
        ["--sample-fraction", "1.5"],
    ):
        proc = _run(["qkd", "pipeline", *args], tmp_path)
        assert proc.returncode == 2, args
        assert proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1
        assert proc.stderr.startswith("error:")
