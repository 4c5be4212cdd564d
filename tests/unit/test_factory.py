"""The composition root: protocol-typed instruments, configuration errors, reproducibility."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from qlight.device.config import TwinConfig
from qlight.device.factory import Instruments, build_instruments, build_twin
from qlight.errors import ConfigurationError, FileFormatError, ParameterError
from qlight.instruments import protocols
from qlight.instruments.sim.clock import SimClock

SMALL = {"size_x_m": 40e-6, "size_y_m": 40e-6}


def test_default_config_builds_protocol_typed_instruments() -> None:
    ins = build_instruments()
    hints = typing.get_type_hints(Instruments)
    assert [f.name for f in dataclasses.fields(Instruments)] == [
        "stage", "scanner", "laser", "tagger", "spectrometer", "thermometer", "power", "clock",
    ]  # fmt: skip
    for name, hint in hints.items():
        assert getattr(hint, "__module__", "") == protocols.__name__, name
        assert getattr(hint, "_is_protocol", False), name
        assert isinstance(getattr(ins, name), hint), name


def test_same_seed_same_twin_different_seed_different_chip() -> None:
    def run(seed: int) -> tuple[np.ndarray, tuple[int, ...], float]:
        ins = build_instruments(TwinConfig(seed=seed, chip=SMALL))
        ins.laser.on()
        img = ins.scanner.raster_scan(0.0, 0.0, 4e-6, 4e-6, 200e-9, 1e-3)
        return img.pl_counts, ins.tagger.acquire(0.05).counts, ins.thermometer.temperature_k()

    a, b, c = run(5), run(5), run(6)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:]
    assert not np.array_equal(a[0], c[0])
    _, t5 = build_twin(TwinConfig(seed=5, chip=SMALL))
    _, t6 = build_twin(TwinConfig(seed=6, chip=SMALL))
    assert t5.transform != t6.transform
    assert [e.x_chip_m for e in t5.emitters()] != [e.x_chip_m for e in t6.emitters()]


def test_overrides_reach_the_physics_and_bad_ones_are_named() -> None:
    _, truth = build_twin(
        TwinConfig(
            seed=1, chip={**SMALL, "marks": {"cell_size_m": 0.5e-6}}, stage={"settle_time_s": 0.5}
        )
    )
    assert truth.chip.config.size_x_m == 40e-6
    assert truth.chip.config.marks.cell_size_m == 0.5e-6
    with pytest.raises(ConfigurationError, match="unknown field 'nonsense'"):
        build_instruments(TwinConfig(chip={"nonsense": 1}))
    with pytest.raises(ConfigurationError, match=r"stage\.thermal: unknown field"):
        build_instruments(TwinConfig(stage={"thermal": {"bad": 1}}))
    with pytest.raises(ParameterError, match="emitter_density_per_m2"):
        build_instruments(TwinConfig(chip={"emitter_density_per_m2": -1.0}))
    with pytest.raises(ValidationError):
        TwinConfig(preset="ultraviolet")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TwinConfig(seed=-1)
    with pytest.raises(ValidationError):
        TwinConfig(pace="slow")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TwinConfig(unknown=1)  # type: ignore[call-arg]


def test_chip_file_round_trip(tmp_path: Path) -> None:
    _, truth = build_twin(TwinConfig(seed=3, chip=SMALL))
    path = tmp_path / "chip.json"
    truth.chip.save(path)
    _, loaded = build_twin(TwinConfig(seed=99, chip_file=path))
    assert loaded.chip == truth.chip
    with pytest.raises(ConfigurationError, match="chip file"):
        build_instruments(TwinConfig(chip_file=path, chip={"size_x_m": 1e-4}))
    path.write_text("{ not json")
    with pytest.raises(FileFormatError):
        build_instruments(TwinConfig(chip_file=path))


def test_pace_reaches_the_clock() -> None:
    ins = build_instruments(TwinConfig(pace="realtime", chip=SMALL))
    assert isinstance(ins.clock, SimClock)
    assert ins.clock.pace == "realtime"
    assert build_instruments(TwinConfig(chip=SMALL)).clock.now_s() == 0.0
