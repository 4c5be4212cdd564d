"""Link records: npz and HDF5 round trips, sifting helpers, corrupted files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qlight.errors import FileFormatError
from qlight.qkd.link import (
    BobDetectors,
    Eve,
    LinkChannel,
    LinkConfig,
    LinkSource,
    load_record,
    save_record,
    simulate_link,
)
from qlight.qkd.theory.channel import DetectorModel


def _record() -> object:
    config = LinkConfig(
        LinkSource("wcp", (0.5, 0.1, 0.0), (0.6, 0.2, 0.2)),
        LinkChannel(0.3),
        BobDetectors(DetectorModel(0.5, 1e-3, 0.02, 0.01, 1.0), jitter_fwhm_ps=50.0),
        Eve("intercept-resend", 0.3),
        period_ps=1000,
    )
    return simulate_link(config, 50_000, np.random.default_rng(1))


@pytest.mark.parametrize("name", ["rec.npz", "rec.h5"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    rec = _record()
    path = save_record(rec, tmp_path / name)  # type: ignore[arg-type]
    back = load_record(path)
    for field in ("pulse_index", "t_ps", "alice_basis", "alice_bit", "intensity", "bob_basis",
                  "bob_bit", "flags", "sent_per_intensity"):  # fmt: skip
        np.testing.assert_array_equal(getattr(back, field), getattr(rec, field))
        assert getattr(back, field).dtype == getattr(rec, field).dtype
    assert back.n_pulses == 50_000
    assert back.intensities == (0.5, 0.1, 0.0)
    assert back.metadata["eve"] == "intercept-resend:0.3"
    assert back.metadata["detectors"]["efficiency"] == 0.5


def test_time_stamps_are_slot_times_plus_jitter() -> None:
    rec = _record()
    dt = rec.t_ps - rec.pulse_index * 1000  # type: ignore[attr-defined]
    # jitter σ = 50 / 2.355 ps: the sample standard deviation within 10 % (n ≈ 7k rows,
    # relative σ of s is 1/√(2n) ≈ 0.8 %)
    assert abs(np.std(dt) / (50 / 2.3548) - 1) < 0.1
    assert abs(np.mean(dt)) < 4 * 50 / 2.3548 / np.sqrt(dt.size) + 0.5


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError):
        load_record(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, header=np.array('{"format": "other"}'))
    with pytest.raises(FileFormatError):
        load_record(bad)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(FileFormatError):
        load_record(junk)
    rec = _record()
    p = save_record(rec, tmp_path / "ok.npz")  # type: ignore[arg-type]
    data = dict(np.load(p))
    data["bob_bit"] = data["bob_bit"][:-1]
    np.savez(tmp_path / "cut.npz", **data)
    with pytest.raises(FileFormatError, match="inconsistent"):
        load_record(tmp_path / "cut.npz")
