"""Chip generation, distributions, marks, structure sites and the chip file format."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from tests.naive import chip_mark_bits_from_cells

from qlight.errors import FileFormatError, ParameterError
from qlight.physics.chip import Chip, ChipConfig, draw_new_spots, generate_chip
from qlight.physics.chipconfig import mark_positions_m
from qlight.physics.chipfile import FORMAT_VERSION
from qlight.physics.marks import MarkLayout, decode_mark_bits, encode_mark_bits

#: KS tests use fixed seeds; a correct law fails one with probability 1e-3 per seed change.
ALPHA = 1e-3


@pytest.fixture(scope="module")
def chip() -> Chip:
    return generate_chip(ChipConfig(), seed=2024)


def test_same_seed_same_chip_other_seed_other_chip(chip: Chip) -> None:
    again = generate_chip(ChipConfig(), seed=2024)
    assert again == chip
    assert again.arrays.x_m.tobytes() == chip.arrays.x_m.tobytes()
    other = generate_chip(ChipConfig(), seed=2025)
    assert other != chip
    assert other.marks == chip.marks  # the lithography layout does not depend on the seed


def test_save_load_round_trip(chip: Chip, tmp_path: Path) -> None:
    path = tmp_path / "chip.json"
    chip.save(path)
    loaded = Chip.load(path)
    assert loaded == chip
    assert loaded.arrays.i_inf_per_s.tobytes() == chip.arrays.i_inf_per_s.tobytes()
    assert any(math.isinf(e.photon_budget) for e in loaded.emitters)
    assert any(e.photophysics.blinking is not None for e in loaded.emitters)


def _write(path: Path, doc: dict[str, object], *, rehash: bool = True) -> None:
    if rehash:
        canon = json.dumps(doc["payload"], sort_keys=True, separators=(",", ":")).encode()
        doc["sha256"] = hashlib.sha256(canon).hexdigest()
    path.write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def small_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    path = tmp_path_factory.mktemp("chip") / "small.json"
    generate_chip(ChipConfig(size_x_m=40e-6, size_y_m=40e-6), seed=3).save(path)
    doc: dict[str, object] = json.loads(path.read_text())
    return doc


def test_corrupted_files_raise_file_format_error(
    small_doc: dict[str, object], tmp_path: Path
) -> None:
    good = json.dumps(small_doc)
    p = tmp_path / "bad.json"

    p.write_text(good[: len(good) // 2])
    with pytest.raises(FileFormatError, match="truncated or not JSON"):
        Chip.load(p)

    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FileFormatError, match="not UTF-8"):
        Chip.load(p)

    p.write_text(json.dumps({"hello": 1}))
    with pytest.raises(FileFormatError, match="not a qlight chip file"):
        Chip.load(p)

    doc = json.loads(good)
    doc["format_version"] = FORMAT_VERSION + 1
    _write(p, doc)
    with pytest.raises(FileFormatError, match=r"format version 2 is not supported"):
        Chip.load(p)

    doc = json.loads(good)
    doc["payload"]["emitters"][0]["x_m"] += 1e-9
    _write(p, doc, rehash=False)
    with pytest.raises(FileFormatError, match="checksum mismatch"):
        Chip.load(p)

    doc = json.loads(good)
    del doc["payload"]["emitters"][0]["depth_m"]
    _write(p, doc)
    with pytest.raises(FileFormatError, match=r"emitters\[0\].*missing field 'depth_m'"):
        Chip.load(p)

    doc = json.loads(good)
    doc["payload"]["emitters"][0]["photophysics"]["k21_per_ns"] = -1.0
    _write(p, doc)
    with pytest.raises(FileFormatError, match=r"invalid chip data.*k21_per_ns"):
        Chip.load(p)

    doc = json.loads(good)
    doc["payload"]["config"]["bogus"] = 1
    _write(p, doc)
    with pytest.raises(FileFormatError, match="unknown field"):
        Chip.load(p)


# ------------------------------------------------------------------------- distributions


def _ks(sample: np.ndarray, cdf: object) -> float:
    return float(stats.kstest(sample, cdf).pvalue)


def test_property_distributions_match_documented_laws(chip: Chip) -> None:
    c = chip.config
    pp = [e.photophysics for e in chip.emitters]
    assert len(pp) > 1000
    k21 = np.array([p.k21_per_ns for p in pp])
    k23 = np.array([p.k23_per_ns for p in pp])
    k31 = np.array([p.k31_per_ns for p in pp])
    lo, hi = c.lifetime_ns
    assert _ks(1.0 / (k21 + k23), stats.uniform(lo, hi - lo).cdf) > ALPHA
    lo, hi = c.metastable_lifetime_ns
    assert _ks(np.log(1.0 / k31), stats.uniform(math.log(lo), math.log(hi / lo)).cdf) > ALPHA
    sat = np.array([p.saturation() for p in pp])
    lo, hi = c.p_sat_w
    assert _ks(np.log(sat[:, 1]), stats.uniform(math.log(lo), math.log(hi / lo)).cdf) > ALPHA
    shape = (c.brightness_mean_per_s / c.brightness_sd_per_s) ** 2
    law = stats.gamma(shape, scale=c.brightness_mean_per_s / shape)
    brightness = sat[:, 0] * c.reference_detection_efficiency
    assert _ks(brightness, law.cdf) > ALPHA
    # Gamma mean (427 kcps): SE = sd/sqrt(n)
    assert np.mean(brightness) == pytest.approx(427e3, abs=4 * 215e3 / math.sqrt(len(pp)))
    for name, (lo, hi) in (
        ("polarization_visibility", c.polarization_visibility),
        ("zpl_nm", c.zpl_nm),
        ("zpl_fwhm_nm", c.zpl_fwhm_nm),
    ):
        values = np.array([getattr(p, name) for p in pp])
        assert _ks(values, stats.uniform(lo, hi - lo).cdf) > ALPHA, name
    tilt = np.array([p.dipole_polar_rad for p in pp]) - math.pi / 2
    assert _ks(tilt, stats.norm(0.0, c.dipole_tilt_sd_rad).cdf) > ALPHA
    az = np.array([p.dipole_azimuth_rad for p in pp])
    assert _ks(az, stats.uniform(0.0, math.pi).cdf) > ALPHA
    depth = np.array([e.depth_m for e in chip.emitters if e.cluster < 0])
    lo, hi = c.depth_m
    assert _ks(depth, stats.uniform(lo, hi - lo).cdf) > ALPHA


def test_blinking_and_bleaching_fractions(chip: Chip) -> None:
    c = chip.config
    n = len(chip.emitters)
    blink = sum(e.photophysics.blinking is not None for e in chip.emitters)
    # binomial: SE = sqrt(p(1−p)/n)
    assert blink / n == pytest.approx(c.blinking_fraction, abs=4 * math.sqrt(0.2 * 0.8 / n))
    budgets = np.array([e.photon_budget for e in chip.emitters])
    finite = budgets[np.isfinite(budgets)]
    assert finite.size / n == pytest.approx(c.bleachable_fraction, abs=4 * math.sqrt(0.09 / n))
    assert _ks(finite, stats.expon(scale=c.mean_photon_budget).cdf) > ALPHA
    assert all(e.photon_budget == e.photophysics.photon_budget for e in chip.emitters)


def test_emitter_density_within_poisson_error() -> None:
    cfg = ChipConfig(
        size_x_m=300e-6, size_y_m=300e-6, cluster_probability=0.0, structure_occupancy=0.0
    )
    chip = generate_chip(cfg, seed=8)
    m = cfg.marks
    n_marks = len(chip.marks)
    open_area = cfg.size_x_m * cfg.size_y_m - n_marks * (2 * m.half_extent_m) ** 2
    lam = cfg.emitter_density_per_m2 * open_area
    assert abs(len(chip.emitters) - lam) < 4 * math.sqrt(lam)
    lam_spots = cfg.spot_density_per_m2 * cfg.size_x_m * cfg.size_y_m
    assert abs(len(chip.spots) - lam_spots) < 4 * math.sqrt(lam_spots)
    # no emitter sits under a mark's metal
    for e in chip.emitters:
        near = min(chip.marks, key=lambda k: (k.x_m - e.x_m) ** 2 + (k.y_m - e.y_m) ** 2)
        assert max(abs(e.x_m - near.x_m), abs(e.y_m - near.y_m)) > m.half_extent_m


def test_clusters_are_closer_than_the_psf(chip: Chip) -> None:
    lo, hi = chip.config.cluster_separation_m
    companions = [e for e in chip.emitters if e.cluster >= 0 and e.cluster != e.index]
    assert len(companions) > 20
    for e in companions:
        parent = chip.emitters[e.cluster]
        assert parent.cluster == parent.index
        d = math.hypot(e.x_m - parent.x_m, e.y_m - parent.y_m)
        assert lo - 1e-15 <= d <= hi + 1e-15
    labels = [e.cluster for e in chip.emitters if e.cluster >= 0]
    assert min(labels.count(k) for k in set(labels)) >= 2  # no cluster of one


def test_structure_sites_and_collection_factor(chip: Chip) -> None:
    c = chip.config
    occupied = [s for s in chip.structure_sites if s.emitter >= 0]
    n_sites = len(chip.structure_sites)
    assert len(occupied) == sum(e.at_structure for e in chip.emitters)
    # binomial: SE = sqrt(p(1 − p)/n_sites)
    se = math.sqrt(0.25 / n_sites)
    assert len(occupied) / n_sites == pytest.approx(c.structure_occupancy, abs=4 * se)
    for s in occupied:
        e = chip.emitters[s.emitter]
        assert e.at_structure
        assert math.hypot(e.x_m - s.x_m, e.y_m - s.y_m) < 6 * c.structure_placement_sd_m
        assert e.collection_factor == c.structure_collection_factor
    assert all(e.collection_factor == 1.0 for e in chip.emitters if not e.at_structure)
    table = dataclasses.replace(c, structure_collection_table=((600.0, 4.0), (710.0, 15.0)))
    with_table = generate_chip(table, seed=2024)
    for e in with_table.emitters:
        if e.at_structure:
            want = 4.0 + 11.0 * (e.photophysics.zpl_nm - 600.0) / 110.0
            assert e.collection_factor == pytest.approx(want, rel=1e-12)


def test_background_field_is_lognormal_and_smooth() -> None:
    cfg = ChipConfig(size_x_m=30e-6, size_y_m=30e-6, emitter_density_per_m2=0.0)
    n = 400
    d = 5e-6
    g0, g1 = np.empty(n), np.empty(n)
    for seed in range(n):
        bg = generate_chip(cfg, seed).background_pl_per_s_per_w([0.0, d], [0.0, 0.0])
        g0[seed], g1[seed] = np.log(bg / cfg.background_median_per_s_per_w) / cfg.background_log_sd
    # g is a unit-variance field: mean SE 1/sqrt(n), variance SE sqrt(2/n)
    assert abs(np.mean(g0)) < 4 / math.sqrt(n)
    assert np.var(g0) == pytest.approx(1.0, abs=4 * math.sqrt(2 / n))
    # correlation at distance d: exp(−d²/2ℓ²) = 0.986; its SE is about (1 − ρ²)/sqrt(n)
    rho = math.exp(-(d**2) / (2 * cfg.background_correlation_m**2))
    assert np.corrcoef(g0, g1)[0, 1] == pytest.approx(rho, abs=4 * (1 - rho**2) / math.sqrt(n))


def test_new_spots_follow_the_spot_laws(chip: Chip) -> None:
    rng = np.random.default_rng(0)
    spots = [s for _ in range(300) for s in draw_new_spots(chip, rng)]
    lo, hi = chip.config.spot_sigma_m
    assert all(lo <= s.sigma_m <= hi for s in spots)
    assert len(spots) / 300 == pytest.approx(1.0, abs=4 * math.sqrt(1.0 / 300))
    assert draw_new_spots(chip, np.random.default_rng(4)) == draw_new_spots(
        chip, np.random.default_rng(4)
    )


# ------------------------------------------------------------------------- marks


def test_each_mark_decodes_to_its_own_index(chip: Chip) -> None:
    lay = chip.config.marks
    codes = set()
    mx, my = mark_positions_m(chip.config)
    for mark in chip.marks:
        bits = chip_mark_bits_from_cells(mark.cells, lay.cells, lay.cell_pitch_m)
        assert decode_mark_bits(bits) == mark.index == mark.code
        for k in range(1, 4):  # any 90° orientation
            assert decode_mark_bits(np.rot90(np.array(bits), k)) == mark.index
        codes.add(mark.code)
        x, y = lay.position_m(mark.code, chip.config.size_x_m, chip.config.size_y_m)
        assert (x, y) == (mark.x_m, mark.y_m) == (mx[mark.index], my[mark.index])
    assert len(codes) == len(chip.marks) == 100


def test_mark_code_rejects_misreads() -> None:
    for code in (0, 1, 777, 2047):
        bits = encode_mark_bits(code)
        assert decode_mark_bits(bits) == code
        flipped = bits.copy()
        flipped[1, 2] = not flipped[1, 2]  # one data bit misread: parity fails
        assert decode_mark_bits(flipped) is None
        no_anchor = bits.copy()
        no_anchor[0, 0] = False
        assert decode_mark_bits(no_anchor) is None
    with pytest.raises(ParameterError, match="code"):
        encode_mark_bits(2048)
    assert MarkLayout(cells=5).capacity == 1 << 20


# ------------------------------------------------------------------------- validation


def test_config_validation_names_the_parameter() -> None:
    with pytest.raises(ParameterError, match="emitter_density_per_m2"):
        ChipConfig(emitter_density_per_m2=-1.0)
    with pytest.raises(ParameterError, match="lifetime_ns"):
        ChipConfig(lifetime_ns=(3.0, 1.0))
    with pytest.raises(ParameterError, match="marks"):
        ChipConfig(size_x_m=2e-3, size_y_m=2e-3)  # 10 000 marks > 2048 codes
    with pytest.raises(ParameterError, match="structure_offset_m"):
        ChipConfig(structure_offset_m=0.0)
    with pytest.raises(ParameterError, match="quantum_efficiency"):
        ChipConfig(quantum_efficiency=1.5)
    with pytest.raises(ParameterError, match="seed"):
        generate_chip(ChipConfig(), seed=-1)
