"""Bullseye design (photonics.design) and the design table (photonics.design_table).

Full-size solves are in benchmarks/bench_bullseye.py; here every FDFD solve runs on a small
domain (margins 100-150 nm, PML 250 nm) at a coarse grid, so the tests check the machinery
(parametrisation, search, bookkeeping), not converged optics.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qlight.errors import FileFormatError, ParameterError
from qlight.photonics import design_search, guided_modes, parse_stack
from qlight.photonics.design import (
    BullseyeDesign,
    evaluate_design,
    far_field_summary,
    initial_design,
    scale_lateral,
)
from qlight.photonics.design_search import _center_resonance, _set, optimize_bullseye
from qlight.photonics.design_table import BullseyeTable, TableEntry, load_design_table
from qlight.physics.chip import generate_chip
from qlight.physics.chipconfig import ChipConfig
from qlight.physics.optics import planar_collection_efficiencies

SMALL = {"margin_nm": 150.0, "margin_below_nm": 100.0, "pml_nm": 250.0}


def _suspended(n_rings: int = 1) -> BullseyeDesign:
    return replace(initial_design(650.0, n_rings=n_rings), spacer_nm=0.0, reflector=None)


def test_initial_design_follows_the_design_rules() -> None:
    d = initial_design(650.0, membrane_nm=160.0)
    modes = guided_modes(parse_stack("air/GaN:160@80/air"), 650.0)
    n_eff = max(m.n_eff for m in modes if m.polarization == "TE")
    assert d.period_nm == pytest.approx(650.0 / n_eff, rel=1e-12)
    assert d.trench_nm == pytest.approx(0.3 * d.period_nm, rel=1e-12)
    assert d.disc_radius_nm == pytest.approx(1.25 * 650.0 / n_eff, rel=1e-12)
    assert d.etch_nm == d.membrane_nm
    # optical distance dipole -> mirror = 3λ/4 (λ/4 would need a negative air gap)
    n_gan = 2.380  # docs/photonics.md: ordinary GaN index at 650 nm, 4 digits
    assert n_gan * 80.0 + d.spacer_nm == pytest.approx(3 * 650.0 / 4, abs=0.1)
    assert d.spacer_nm > 650.0 / 8
    # a thicker membrane confines TE0 more: higher n_eff, shorter period
    assert initial_design(650.0, membrane_nm=250.0).period_nm < d.period_nm
    assert initial_design(650.0, reflector=None).spacer_nm == 0.0


def test_design_geometry_matches_its_structure() -> None:
    d = replace(initial_design(650.0, n_rings=3), etch_nm=120.0)
    s = d.structure()
    radii = d.ring_radii_nm()
    assert radii.shape == (3, 2)
    np.testing.assert_allclose(np.diff(radii[:, 0]), d.period_nm)
    np.testing.assert_allclose(radii[:, 1] - radii[:, 0], d.trench_nm)
    assert d.outer_radius_nm == pytest.approx(radii[-1, 1])
    for r_in, r_out in radii:
        mid = 0.5 * (r_in + r_out)
        assert s.material_at(mid, -10.0).name == "air"  # etched from the top …
        assert s.material_at(mid, -150.0).name == "GaN"  # … 120 nm deep, GaN below
        assert s.material_at(r_out + 5.0, -10.0).name == "GaN"
    assert s.material_at(0.0, -180.0).name == "air"  # the spacer
    assert s.material_at(0.0, -160.0 - d.spacer_nm - 5.0).name == "Au"
    assert s.emitter_z_nm == pytest.approx(-80.0)


def test_parameter_updates_keep_the_geometry_valid() -> None:
    d = initial_design(650.0)
    frac = d.trench_nm / d.period_nm
    d2 = _set(d, "period_nm", 400.0)
    assert d2.period_nm == 400.0
    assert d2.trench_nm == pytest.approx(frac * 400.0, abs=0.05)
    d3 = _set(replace(d, etch_nm=80.0), "membrane_nm", 200.0)
    assert d3.etch_nm == pytest.approx(100.0)  # etch fraction kept
    assert _set(d, "etch_fraction", 0.5).etch_nm == pytest.approx(0.5 * d.membrane_nm)


def test_optimizer_never_returns_worse_than_its_start() -> None:
    # Every stage returns the best design it evaluated (cached by geometry), so the result's
    # merit at the search grid is the history's maximum and >= the starting merit. All
    # stages run: search, ring count (1 ring only), refinement, final evaluation.
    start = _suspended(1)
    ticks: list[float] = []
    res = optimize_bullseye(
        650.0,
        0.9,
        free=("disc_radius_nm",),
        n_rings=1,
        ring_candidates=(1,),
        purcell_target=1.0,
        search_resolution_nm=25.0,
        refine_resolution_nm=25.0,
        final_resolution_nm=25.0,
        max_evaluations=3,
        refine_evaluations=2,
        center_span=0.0,
        start=start,
        progress=ticks.append,
        domain=SMALL,
    )
    merits = [m for _, m in res.history]
    assert res.initial_merit == merits[0]
    # only the disc radius was free
    assert replace(res.design, disc_radius_nm=start.disc_radius_nm) == start
    assert res.n_evaluations == len(res.history) <= 1 + 4 + 3  # NM may overshoot by one
    assert sum(ticks) == res.n_evaluations + 1  # plus the final evaluation
    em = res.emission  # final grid = search grid: the same solve as in the history
    best_merit = em.collection_efficiency("h") - 0.5 * max(0.0, 1.0 - em.purcell("h"))
    assert best_merit == pytest.approx(max(merits), abs=1e-12)
    assert best_merit >= res.initial_merit
    s = res.summary()
    assert s["geometry"]["disc_radius_nm"] == res.design.disc_radius_nm
    assert [c["resolution_nm"] for c in s["convergence"]] == [25.0]
    assert s["collection_efficiency"] == res.collection_efficiency
    assert 0.0 < s["iso"]["collection_efficiency"] < 1.0
    # far field: the pattern integrates (trapezoid, 256 nodes) to the upward fraction
    ff = s["far_field"]
    assert len(ff["angles_deg"]) == len(ff["pattern_per_sr"]) == 18
    assert 0.0 <= ff["half_power_angle_deg"] <= 90.0
    assert ff["upward_fraction"] == pytest.approx(em.radiated_to_top("h"), abs=2e-3)
    assert ff == far_field_summary(em, "h")


def test_refinement_varies_only_refine_free(monkeypatch: pytest.MonkeyPatch) -> None:
    # no global search (budget 0), then a refinement restricted to the period: every design
    # the optimiser evaluates must keep the start's disc radius (recorded at the solver
    # call), although the disc radius is free in the search, while the period must move
    start = _suspended(1)
    seen: list[BullseyeDesign] = []
    real = design_search.evaluate_design

    def recording(d: BullseyeDesign, *args: object, **kw: object) -> object:
        seen.append(d)
        return real(d, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(design_search, "evaluate_design", recording)
    res = optimize_bullseye(
        650.0,
        0.9,
        free=("disc_radius_nm", "period_nm"),
        n_rings=1,
        ring_candidates=(),
        search_resolution_nm=25.0,
        refine_resolution_nm=25.0,
        final_resolution_nm=25.0,
        max_evaluations=0,
        refine_evaluations=3,
        refine_free=("period_nm",),
        refine_step=0.2,
        center_span=0.0,
        start=start,
        domain=SMALL,
    )
    assert len(seen) >= 3  # the start, refinement solves, the final evaluation
    assert {d.disc_radius_nm for d in seen} == {start.disc_radius_nm}
    assert len({d.period_nm for d in seen}) >= 2
    assert res.design.disc_radius_nm == start.disc_radius_nm
    assert max(m for _, m in res.history) >= res.initial_merit


def test_center_resonance_finds_the_peak_of_a_narrow_resonance() -> None:
    # F_P(s) a Lorentzian in the lateral scale s peaked at 1.013 (half width 0.004, like the
    # 650 nm design's); the two-stage scan (step 0.005, then 0.0025) must land within half
    # the fine step of the peak, and skip scales whose collection drops by more than 0.02.
    d = _suspended(3)
    period0 = d.period_nm

    def score(x: BullseyeDesign) -> tuple[float, float, float]:
        s = x.period_nm / period0
        p = 10.0 / (1.0 + ((s - 1.013) / 0.004) ** 2)
        return (0.0, 0.9, p)

    best = _center_resonance(d, score, 0.02, 9)
    assert best.period_nm / period0 == pytest.approx(1.013, abs=0.00125 + 0.001)
    assert best.disc_radius_nm == pytest.approx(
        d.disc_radius_nm * best.period_nm / period0, abs=0.2
    )
    assert best.membrane_nm == d.membrane_nm
    assert best.spacer_nm == d.spacer_nm

    def lossy(x: BullseyeDesign) -> tuple[float, float, float]:
        m, _, p = score(x)
        return (m, 0.9 if x.period_nm / period0 < 1.004 else 0.85, p)

    kept = _center_resonance(d, lossy, 0.02, 9)
    assert kept.period_nm / period0 < 1.004  # the peak's collection is 0.05 lower: refused
    assert scale_lateral(d, 1.0).period_nm == round(d.period_nm, 1)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ParameterError, match="center_span"):
        optimize_bullseye(650.0, 0.9, center_span=0.5)
    with pytest.raises(ParameterError, match="refine_free"):
        optimize_bullseye(650.0, 0.9, refine_free=("colour",))
    with pytest.raises(ParameterError, match="refine_step"):
        optimize_bullseye(650.0, 0.9, refine_step=0.0)
    with pytest.raises(ParameterError, match="free"):
        optimize_bullseye(650.0, 0.9, free=("colour",))
    with pytest.raises(ParameterError, match="na"):
        optimize_bullseye(650.0, 1.2)
    with pytest.raises(ParameterError, match="final_resolution_nm"):
        optimize_bullseye(650.0, 0.9, search_resolution_nm=10.0, final_resolution_nm=20.0)
    with pytest.raises(ParameterError, match="n_rings"):
        optimize_bullseye(650.0, 0.9, n_rings=0)
    # too coarse for gold (|n| = 3.55: <= 22.9 nm) or the membrane: fails before any solve
    with pytest.raises(ParameterError, match="8 cells per wavelength"):
        optimize_bullseye(650.0, 0.9, search_resolution_nm=30.0, final_resolution_nm=10.0)
    with pytest.raises(ParameterError, match="resolve the 30 nm layer"):
        optimize_bullseye(650.0, 0.9, membrane_nm=30.0, search_resolution_nm=20.0)
    with pytest.raises(ParameterError, match="wavelength"):
        initial_design(-5.0)
    with pytest.raises(ParameterError):
        initial_design(100.0)  # outside the GaN dispersion fit
    with pytest.raises(ParameterError, match="domain"):
        evaluate_design(_suspended(1), 0.9, 25.0, domain={"r_nm": 1.0})
    with pytest.raises(ParameterError, match="resolution"):
        evaluate_design(initial_design(650.0), 0.9, 40.0)  # Au needs <= 22.9 nm


# ------------------------------------------------------------------------- design table
def _table() -> BullseyeTable:
    base = initial_design(600.0)
    entries = []
    for lam, scale, eta, fp in ((600.0, 1.0, 0.80, 3.0), (700.0, 1.2, 0.70, 5.0)):
        d = replace(
            base,
            wavelength_nm=lam,
            period_nm=300.0 * scale,
            trench_nm=90.0 * scale,
            disc_radius_nm=320.0 * scale,
        )
        entries.append(TableEntry(d, eta, fp))
    return BullseyeTable(0.9, 10.0, tuple(entries), "test")


def test_table_interpolates_lateral_geometry_and_results() -> None:
    t = _table()
    d = t.design_for(650.0)
    assert (d.period_nm, d.trench_nm, d.disc_radius_nm) == (330.0, 99.0, 352.0)
    assert d.membrane_nm == t.entries[0].design.membrane_nm  # vertical stack shared
    assert t.design_for(600.0) == t.entries[0].design
    assert t.collection_efficiency(650.0) == pytest.approx(0.75)
    assert t.purcell(675.0) == pytest.approx(4.5)
    with pytest.raises(ParameterError, match="within the table"):
        t.design_for(720.0)


def test_twin_tables_reproduce_the_bullseye_collection() -> None:
    t = _table()
    coll, purc = t.twin_tables()
    eta_h, _ = planar_collection_efficiencies(0.9, 2.4)
    assert coll[0] == (600.0, pytest.approx(0.80 / eta_h, rel=1e-12))
    assert purc == ((600.0, 3.0), (700.0, 5.0))
    # the twin's factor times its flat-surface η_h gives back the bullseye's collection
    cfg = ChipConfig(structure_collection_table=coll)
    assert float(cfg.structure_factor(650.0)) * eta_h == pytest.approx(0.75, rel=1e-12)


def test_table_file_round_trip_and_errors(tmp_path: Path) -> None:
    t = _table()
    p = tmp_path / "t.json"
    p.write_text(json.dumps(t.to_dict()))
    assert load_design_table(p) == t
    p.write_text('{"na": 0.9}')
    with pytest.raises(FileFormatError, match="not a bullseye design table"):
        load_design_table(p)
    with pytest.raises(FileFormatError):
        load_design_table(tmp_path / "missing.json")
    other = replace(t.entries[1].design, membrane_nm=200.0)
    with pytest.raises(ParameterError, match="vertical stack"):
        BullseyeTable(0.9, 10.0, (t.entries[0], TableEntry(other, 0.5, 1.0)))


def test_committed_table_is_consistent() -> None:
    t = load_design_table()
    assert t.na == 0.9
    lam = t.wavelengths_nm
    assert lam[0] <= 600.0
    assert lam[-1] >= 700.0
    for e in t.entries:
        assert 0.0 < e.collection_efficiency < 1.0
        assert e.purcell > 0.0
        assert math.isfinite(e.design.period_nm)
    coll, _ = t.twin_tables()
    ChipConfig(structure_collection_table=coll)  # accepted by the twin


def test_twin_applies_the_purcell_table_at_structure_sites() -> None:
    # Same seed, same draws: only the radiative rate k21 of emitters at sites changes, by
    # the Purcell factor interpolated at their ZPL; collection factors from the same table.
    t = _table()
    coll, purc = t.twin_tables()
    base = ChipConfig(structure_collection_table=coll)
    plain = generate_chip(base, seed=7)
    boosted = generate_chip(replace(base, structure_purcell_table=purc), seed=7)
    n_site = 0
    for a, b in zip(plain.emitters, boosted.emitters, strict=True):
        assert b.collection_factor == a.collection_factor
        zpl = a.photophysics.zpl_nm
        want = a.photophysics.k21_per_ns * (t.purcell(float(np.clip(zpl, 600, 700))))
        if a.at_structure:
            n_site += 1
            assert b.photophysics.k21_per_ns == pytest.approx(want, rel=1e-12)
        else:
            assert b.photophysics.k21_per_ns == a.photophysics.k21_per_ns
    assert n_site > 0
    with pytest.raises(ParameterError, match="structure_purcell_table"):
        ChipConfig(structure_purcell_table=((700.0, 2.0), (600.0, 1.0)))
