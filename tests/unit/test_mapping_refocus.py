"""Refocus: recovers from 300 nm and 1 µm offsets, never runs away, falls back with a reason."""

from __future__ import annotations

import math
from typing import Any

import pytest

from qlight.device.config import TwinConfig
from qlight.device.factory import Instruments, build_twin
from qlight.instruments.sim.truth import EmitterTruth, TwinTruth
from qlight.mapping.refocus import refocus, refocus_xy, refocus_z


def _twin(**chip: Any) -> tuple[Instruments, TwinTruth, EmitterTruth]:
    ins, truth = build_twin(TwinConfig(seed=3, chip={"size_x_m": 40e-6, "size_y_m": 40e-6,
        "cluster_probability": 0.0, "bleachable_fraction": 0.0, "spot_density_per_m2": 0.0,
        **chip}))  # fmt: skip
    ins.laser.set_power(1e-3)
    ins.laser.on()
    em = [e for e in truth.emitters() if abs(e.x_chip_m) < 15e-6 and abs(e.y_chip_m) < 15e-6]
    return ins, truth, max(em, key=lambda e: e.eta)


@pytest.mark.parametrize(("dxy", "dz"), [(300e-9, 300e-9), (1e-6, 1e-6), (-1e-6, -0.3e-6)])
def test_refocus_recovers_from_offsets(dxy: float, dz: float) -> None:
    ins, truth, e = _twin()
    r = refocus(ins.stage, ins.scanner, ins.tagger,
                e.x_stage_m + dxy, e.y_stage_m - 0.6 * dxy, e.z_stage_m + dz)  # fmt: skip
    assert r.ok
    now = truth.emitters()[e.index]  # truth at the end (drift during the refocus)
    # xy: CRLB of a few nm + 3 nm stage noise + drift during the final scan: < 30 nm
    assert math.hypot(r.x_m - now.x_stage_m, r.y_m - now.y_stage_m) < 30e-9
    # z: the count-rate maximum of a saturated emitter is flat over ~±0.2 µm; the axial
    # PSF is ~1.5 µm FWHM: within 250 nm of the true focus
    assert abs(r.z_m - now.z_stage_m) < 250e-9
    assert r.rate_per_s > 5e4
    pos = ins.stage.position()
    assert (pos.x_m, pos.y_m, pos.z_m) == (r.x_m, r.y_m, r.z_m)


def test_refocus_never_runs_away_and_falls_back() -> None:
    ins, truth, e = _twin()
    # no emitter within reach: 5 µm from the bright one, in a dark corner of the chip
    x0, y0 = (float(v) for v in truth.chip_to_stage(19e-6, 19e-6))
    r = refocus(ins.stage, ins.scanner, ins.tagger, x0, y0, e.z_stage_m)
    assert not r.ok
    assert r.reason
    assert (r.x_m, r.y_m, r.z_m) == (x0, y0, e.z_stage_m)
    pos = ins.stage.position()
    assert (pos.x_m, pos.y_m, pos.z_m) == (x0, y0, e.z_stage_m)
    # an emitter 1.2 µm away but a max shift of 0.5 µm: no jump, fallback with reason
    r2 = refocus_xy(ins.stage, ins.scanner, e.x_stage_m + 1.2e-6, e.y_stage_m, e.z_stage_m,
                    max_shift_m=0.5e-6)  # fmt: skip
    assert not r2.ok
    assert "max shift" in r2.reason
    assert r2.x_m == e.x_stage_m + 1.2e-6


def test_z_sweep_without_a_peak_keeps_the_previous_focus() -> None:
    ins, _truth, e = _twin()
    ins.laser.off()  # only dark counts: no significant peak
    z = refocus_z(ins.stage, ins.tagger, e.x_stage_m, e.y_stage_m, e.z_stage_m)
    assert not z.ok
    assert z.z_fit_m == e.z_stage_m
    assert ins.stage.position().z_m == e.z_stage_m
    ins.laser.on()
    # the focus 2.5 µm away: the maximum is at the end of a 3 µm sweep → fallback
    z2 = refocus_z(ins.stage, ins.tagger, e.x_stage_m, e.y_stage_m, e.z_stage_m + 2.5e-6)
    assert not z2.ok
    assert "end" in z2.reason
    assert ins.stage.position().z_m == e.z_stage_m + 2.5e-6
