"""Fuzzing the PTU parser: arbitrary or corrupted bytes give FileFormatError, never a crash,
another exception or a hang (hypothesis, bounded examples)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlight.errors import FileFormatError
from qlight.timetags.io import read_ptu, read_ptu_header, write_ptu

_FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _valid_file(path: Path, mode: str) -> bytes:
    rng = np.random.default_rng(3)
    chans = [np.sort(rng.integers(0, 10**9, 40)) * 16 for _ in range(2)]
    if mode == "T2":
        write_ptu(path, chans)
    else:
        write_ptu(path, chans, mode="T3", resolution_ps=16, sync_period_ps=12_800)
    return path.read_bytes()


def _read_all(path: Path) -> None:
    """Parse and decode everything; only FileFormatError may come out."""
    message = str(path)
    try:
        read_ptu(path, chunk_records=7)
    except FileFormatError as exc:
        message = str(exc)
    assert str(path) in message  # every error message names the file


@_FUZZ
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "fuzz.ptu"
    p.write_bytes(data)
    with pytest.raises(FileFormatError):
        read_ptu_header(p)  # without the magic nothing is a PTU file


@_FUZZ
@given(tail=st.binary(max_size=600))
def test_magic_then_arbitrary_bytes(tmp_path: Path, tail: bytes) -> None:
    p = tmp_path / "fuzz.ptu"
    p.write_bytes(b"PQTTTR\0\0" + tail)
    _read_all(p)


@_FUZZ
@given(
    mode=st.sampled_from(["T2", "T3"]),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_corrupted_valid_file(
    tmp_path: Path, mode: str, edits: list[tuple[float, int]], cut: float | None
) -> None:
    # byte edits anywhere (header tags, lengths, record type, records) and truncation
    p = tmp_path / "fuzz.ptu"
    raw = bytearray(_valid_file(p, mode))
    for where, value in edits:
        raw[int(where * len(raw))] = value
    if cut is not None:
        raw = raw[: int(cut * len(raw))]
    p.write_bytes(bytes(raw))
    _read_all(p)
