"""Robust surface search (second z ring) and the widened mark search after a power cycle."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.errors import ParameterError
from qlight.mapping.fiducials import locate_marks, search_surface
from qlight.mapping.similarity import Similarity2D
from qlight.physics.marks import MarkLayout


class _AxialScanner:
    """Reflection = peak·exp(−(z − z_s)²/2σ²) + N(0, noise²) per 4×4 patch (the twin's
    axial response has σ ≈ 0.35 µm and a peak ~10⁴ × the off-focus noise)."""

    def __init__(self, z_surface_m: float | None, seed: int = 0) -> None:
        self.z_s = z_surface_m
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def raster_scan(self, x: float, y: float, w: float, h: float, step: float, dwell: float,
                    *, z_m: float) -> Any:  # fmt: skip
        self.calls += 1
        sig = 0.0 if self.z_s is None else 4.5e5 * math.exp(-((z_m - self.z_s) ** 2) / 2.45e-13)
        return SimpleNamespace(reflection=sig + self.rng.normal(0.0, 20.0, (4, 4)))


@pytest.mark.parametrize("z_s", [3e-6, 35e-6, -41e-6, 60e-6])
def test_the_surface_is_found_beyond_the_first_coarse_sweep(z_s: float) -> None:
    sc = _AxialScanner(z_s)
    z = search_surface(sc, 0.0, 0.0, 0.0, (-1e-4, 1e-4))  # type: ignore[arg-type]
    assert z is not None
    # the fine 0.1 µm sweep and the exact log-parabola of a Gaussian: the noise (20 of a
    # 4.5e5 peak averaged over 16 px) moves the vertex by ≪ 10 nm
    assert z == pytest.approx(z_s, abs=10e-9)
    # the old single coarse sweep (±22 µm) would have missed all but the first
    if abs(z_s) > 22e-6:
        assert sc.calls > 45 + 31


def test_a_range_without_a_surface_returns_none_after_covering_it() -> None:
    sc = _AxialScanner(None)
    assert search_surface(sc, 0.0, 0.0, 0.0, (-1e-4, 1e-4)) is None  # type: ignore[arg-type]
    # 200 µm of travel at 1 µm steps: every z sampled once (windows do not overlap)
    assert 200 <= sc.calls <= 210
    with pytest.raises(ParameterError):
        search_surface(sc, 0.0, 0.0, 0.0, (1e-4, -1e-4))  # type: ignore[arg-type]


def test_a_surface_at_the_end_of_the_travel_is_still_found() -> None:
    sc = _AxialScanner(99.6e-6)
    z = search_surface(sc, 0.0, 0.0, 0.0, (-1e-4, 1e-4))  # type: ignore[arg-type]
    assert z is not None
    assert abs(z - 99.6e-6) < 0.2e-6


def test_on_the_twin_a_z_error_beyond_the_coarse_span_is_recovered() -> None:
    ins, truth = build_twin(TwinConfig(seed=7))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    z_true = truth.focus_offset_m + truth.drift_m()[2]
    # start 35 µm away: one ±22 µm sweep cannot see it (the failure of the old harness)
    z = search_surface(ins.scanner, 0.0, 0.0, z_true + 35e-6, ins.stage.travel_range_m[2])
    assert z is not None
    assert z == pytest.approx(truth.focus_offset_m + truth.drift_m()[2], abs=30e-9)


def test_marks_outside_the_first_window_are_found_in_the_second_ring() -> None:
    ins, truth = build_twin(TwinConfig(seed=4))
    ins.laser.set_power(1e-3)
    ins.laser.on()
    lay = MarkLayout()
    size = (truth.chip.config.size_x_m, truth.chip.config.size_y_m)
    z = truth.focus_offset_m + truth.drift_m()[2]
    # a prior 125 µm off: its window lies beyond the chip's edge (marks reach ±90 µm)
    prior = Similarity2D(125e-6, 0.0, 0.0, 1.0)
    assert locate_marks(ins.scanner, prior, lay, *size, z, ring=False) == []
    marks = locate_marks(ins.scanner, prior, lay, *size, z)
    assert marks
    designed = {m.index: (m.x_m, m.y_m) for m in truth.marks()}
    for m in marks:
        tx, ty = truth.chip_to_stage(m.x_chip_m, m.y_chip_m)
        assert math.hypot(m.x_stage_m - float(tx), m.y_stage_m - float(ty)) < 100e-9
        assert (m.x_chip_m, m.y_chip_m) == pytest.approx(designed[m.index], abs=1e-12)
