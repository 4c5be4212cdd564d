"""Tiled scan plans, stitching, and the first-boot discovery pipeline against the twin truth."""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np
import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import build_twin
from qlight.errors import ParameterError
from qlight.instruments.protocols import OperationCancelled, ScanImage
from qlight.mapping.discovery import DiscoveryConfig, discover
from qlight.mapping.scanplan import plan_tiles, run_tiled_scan


class FieldScanner:
    """A fake scanner whose counts are a known function of the commanded pixel position."""

    psf_fwhm_m = 300e-9

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (
            7 * np.round(x / 1e-7).astype(np.int64)
            + 1000 * np.round(y / 1e-7).astype(np.int64)
            + 10**6
        )

    def raster_scan(self, x_center_m: float, y_center_m: float, width_m: float,
                    height_m: float, step_m: float, dwell_s: float, *, z_m: float | None = None,
                    progress: object = None, cancel: object = None) -> ScanImage:  # fmt: skip
        nx, ny = round(width_m / step_m), round(height_m / step_m)
        x = x_center_m + (np.arange(nx) - (nx - 1) / 2) * step_m
        y = y_center_m + (np.arange(ny) - (ny - 1) / 2) * step_m
        self.calls += 1
        for i in range(ny):
            if cancel is not None and cancel.is_set():  # type: ignore[attr-defined]
                raise OperationCancelled("raster_scan", i, ny)
            if progress is not None:
                progress(i + 1, ny)  # type: ignore[operator]
        pl = self.field(x[None, :], y[:, None])
        return ScanImage(pl, pl.astype(float), x, y, 0.0, dwell_s, 1e-3,
                         np.arange(ny, dtype=float), 0.0, 1.0)  # fmt: skip


def test_plan_covers_the_region_with_overlap_and_stitches_exactly() -> None:
    plan = plan_tiles(-5e-6, 7e-6, 1e-6, 9e-6, step_m=100e-9, tile_m=5e-6, overlap_m=0.5e-6)
    assert plan.nx == 121
    assert plan.ny == 81
    cover = np.zeros((plan.ny, plan.nx), dtype=int)
    for t in plan.tiles:
        cover[t.row0 : t.row0 + t.ny, t.col0 : t.col0 + t.nx] += 1
    assert cover.min() >= 1
    # neighbouring tiles overlap by ≥ 5 pixels
    cols = sorted({t.col0 for t in plan.tiles})
    assert all(b - a <= 50 - 5 for a, b in itertools.pairwise(cols))
    sc = FieldScanner()
    seen: list[tuple[int, int]] = []
    mos = run_tiled_scan(sc, plan, dwell_s=1e-3, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_array_equal(
        mos.pl_counts, FieldScanner.field(mos.x_m[None, :], mos.y_m[:, None])
    )
    assert mos.x_m[0] == -5e-6
    assert mos.y_m[-1] == pytest.approx(9e-6)
    assert sc.calls == len(plan.tiles)
    assert mos.tile_index.min() == 0
    assert [d for d, _ in seen] == list(range(1, plan.n_lines + 1))
    assert {t for _, t in seen} == {plan.n_lines}


def test_plan_rejects_bad_parameters_and_cancels() -> None:
    with pytest.raises(ParameterError, match="x_max_m"):
        plan_tiles(1e-6, 0.0, 0.0, 1e-6, step_m=1e-7)
    with pytest.raises(ParameterError, match="overlap_m"):
        plan_tiles(0.0, 1e-5, 0.0, 1e-5, step_m=1e-7, tile_m=2e-6, overlap_m=1.5e-6)
    with pytest.raises(ParameterError, match="tile_m"):
        plan_tiles(0.0, 1e-5, 0.0, 1e-5, step_m=1e-7, tile_m=5e-7)
    stop = threading.Event()
    stop.set()
    plan = plan_tiles(0.0, 5e-6, 0.0, 5e-6, step_m=1e-7, tile_m=2e-6, overlap_m=3e-7)
    with pytest.raises(OperationCancelled):
        run_tiled_scan(FieldScanner(), plan, dwell_s=1e-3, cancel=stop)


def test_discovery_finds_true_single_emitters_and_rejects_clusters() -> None:
    ins, truth = build_twin(TwinConfig(seed=3, chip={"size_x_m": 40e-6, "size_y_m": 40e-6,
        "cluster_probability": 0.3}))  # fmt: skip
    cx, cy = (float(v) for v in truth.chip_to_stage(0.0, 0.0))
    events: list[tuple[int, int]] = []
    res = discover(ins, cx - 8e-6, cx + 8e-6, cy - 8e-6, cy + 8e-6,
                   config=DiscoveryConfig(tile_m=8e-6, z_m=0.0, max_g2_duration_s=15.0),
                   progress=lambda d, t: events.append((d, t)))  # fmt: skip
    assert len(res.qualified) >= 5
    assert [d for d, _ in events] == sorted(d for d, _ in events)
    assert events[-1][0] == events[-1][1]
    scores = [e.score for e in res.emitters]
    assert scores == sorted(scores, reverse=True)
    em = truth.emitters()
    for d in res.emitters:
        xs = [truth.chip_to_stage(e.x_chip_m, e.y_chip_m, t_s=d.t_s) for e in em]
        k = int(np.argmin([math.hypot(x - d.x_stage_m, y - d.y_stage_m) for x, y in xs]))
        err = math.hypot(xs[k][0] - d.x_stage_m, xs[k][1] - d.y_stage_m)
        if d.single:
            # a qualified emitter is a true isolated emitter, located within 50 nm
            # (CRLB ~ 5 nm, 3 nm stage noise, drift during the final fine scan)
            assert em[k].cluster < 0, f"cluster {em[k].cluster} qualified"
            assert err < 50e-9
            assert d.fingerprint is not None
            assert len(d.fingerprint.neighbour_dist_m) == 3
            assert 0.0 < d.sigma_x_m < 20e-9
        else:
            assert d.score == 0.0
            assert d.reason


def test_discovery_on_a_blank_region_and_cancel() -> None:
    ins, truth = build_twin(TwinConfig(seed=5, chip={"size_x_m": 20e-6, "size_y_m": 20e-6,
        "emitter_density_per_m2": 0.0, "spot_density_per_m2": 0.0}))  # fmt: skip
    cx, cy = (float(v) for v in truth.chip_to_stage(0.0, 0.0))
    res = discover(ins, cx - 3e-6, cx + 3e-6, cy - 3e-6, cy + 3e-6,
                   config=DiscoveryConfig(tile_m=6e-6))  # fmt: skip
    assert res.emitters == ()
    assert res.qualified == ()
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == 5:
            stop.set()

    with pytest.raises(OperationCancelled):
        discover(ins, cx - 3e-6, cx + 3e-6, cy - 3e-6, cy + 3e-6,
                 config=DiscoveryConfig(tile_m=6e-6), progress=progress, cancel=stop)  # fmt: skip
