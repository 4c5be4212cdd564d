"""Exact planar dipole emission: published values, closed forms, oracles, conservation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import simpson
from tests.naive import ph_abram_cavity, ph_pec_mirror, ph_total_power_real_axis

from qlight.errors import ParameterError
from qlight.photonics import (
    PlanarEmission,
    angular_pattern,
    collection_efficiency_table,
    guided_modes,
    material,
    parse_stack,
    planar_emission,
)
from qlight.physics.optics import planar_collection_efficiencies

LAM = 650.0


def _emit(spec: str, na: float | None = None, lam: float = LAM) -> PlanarEmission:
    return planar_emission(parse_stack(spec), lam, na=na)


# --------------------------------------------------------------- REFERENCES.md, 4 digits


@pytest.mark.parametrize(
    ("na", "h", "v", "iso"), [(0.9, 0.04298, 0.00364, 0.02987), (0.7, 0.02638, 0.00124, 0.01800)]
)
def test_deep_dipole_under_flat_gan_matches_references(
    na: float, h: float, v: float, iso: float
) -> None:
    # The power into the NA per bulk power does not depend on the depth (the upward plane
    # waves are propagating in GaN), so it is the deep-dipole fraction of REFERENCES.md;
    # 4 digits: |Δ| ≤ half a unit of the 5th decimal.
    for depth in (300.0, 1000.0, 5000.0):
        res = _emit(f"air/n=2.4@{depth:g}", na)
        assert res.na_h == pytest.approx(h, abs=5e-6)
        assert res.na_v == pytest.approx(v, abs=5e-6)
        assert (2 * res.na_h + res.na_v) / 3 == pytest.approx(iso, abs=5e-6)


def test_deep_limit_of_the_collection_efficiency() -> None:
    # Relative to the total power, the collected fraction approaches the per-bulk value as
    # the Purcell factor's interference term, ∝ |r|/(2 k₁ d), dies away: at d = 50 µm it is
    # ≲ 3/(2·2k₁d) ≈ 3e-4 relative; plus 5e-6 for the rounding of the published values.
    res = _emit("air/n=2.4@50000", 0.9)
    for dipole, ref in (("h", 0.04298), ("v", 0.00364)):
        assert res.collection_efficiency(dipole) == pytest.approx(ref, abs=5e-6 + 1e-3 * ref)
    assert res.purcell("h") == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("n", [1.5, 2.0, 2.4, 3.5])
@pytest.mark.parametrize("na", [0.3, 0.7, 0.95])
def test_two_media_agree_with_the_ray_optics_integral(n: float, na: float) -> None:
    # Independent quadrature of the Fresnel-weighted dipole pattern in the twin's optics.
    eta_h, eta_v = planar_collection_efficiencies(na, n)
    res = _emit(f"air/n={n}@700", na)
    assert res.na_h == pytest.approx(eta_h, rel=1e-8, abs=1e-12)
    assert res.na_v == pytest.approx(eta_v, rel=1e-8, abs=1e-12)


# ------------------------------------------------------------------- closed forms (PEC)


@pytest.mark.parametrize(
    ("length_nm", "z_nm"),
    [(200.0, 50.0), (500.0, 250.0), (500.0, 100.0), (900.0, 200.0), (1700.0, 1000.0)],
)
def test_perfect_conductor_cavity_matches_abram(length_nm: float, z_nm: float) -> None:
    # Abram et al., IEEE JQE 34, 71 (1998): a finite sum over the cavity modes (oracle).
    # The contour integral is converged to ~1e-10, so 1e-8 relative is a tight check.
    res = _emit(f"PEC/n=1.5:{length_nm:g}@{z_nm:g}/PEC")
    k_l = 2 * math.pi * 1.5 / LAM * length_nm
    par, perp = ph_abram_cavity(k_l, z_nm / length_nm)
    assert res.total_h == pytest.approx(par, rel=1e-8, abs=1e-10)
    assert res.total_v == pytest.approx(perp, rel=1e-8)
    assert res.top_h == res.bottom_h == 0.0


def test_cavity_modes_carry_all_the_power() -> None:
    # Between perfect mirrors every photon goes into a guided mode; the residues at the
    # cavity modes (and the TEM mode at u = n for the vertical dipole) add up to Abram.
    stack = parse_stack("PEC/n=1.5:900@200/PEC")
    modes = guided_modes(stack, LAM)
    par, perp = ph_abram_cavity(2 * math.pi * 1.5 / LAM * 900, 200 / 900)
    assert sum(m.power_h for m in modes) == pytest.approx(par, rel=1e-8)
    assert sum(m.power_v for m in modes) == pytest.approx(perp, rel=1e-8)
    assert any(m.polarization == "TM" and m.n_eff == 1.5 for m in modes)  # TEM


@pytest.mark.parametrize("d_nm", [5.0, 40.0, 100.0, 237.0, 500.0, 2000.0])
def test_dipole_over_a_perfect_mirror_matches_the_image_dipole(d_nm: float) -> None:
    # Image dipole (Morawitz 1969; CPS 1978): exact for a perfect conductor.
    res = _emit(f"n=1.5@{d_nm:g}/PEC")
    par, perp = ph_pec_mirror(2 * 2 * math.pi * 1.5 / LAM * d_nm)
    assert res.total_h == pytest.approx(par, rel=1e-8, abs=1e-10)
    assert res.total_v == pytest.approx(perp, rel=1e-8)
    # energy: lossless and no guided modes, so everything reaches the top far field
    assert res.top_h == pytest.approx(res.total_h, rel=1e-8, abs=1e-10)
    assert res.top_v == pytest.approx(res.total_v, rel=1e-8)


# -------------------------------------------------- Drexhage / Chance-Prock-Silbey (Au)


@pytest.mark.parametrize("d_nm", [50.0, 120.0, 200.0, 300.0])
def test_dipole_over_gold_matches_the_real_axis_oracle(d_nm: float) -> None:
    # Gold absorbs, so no pole sits on the real axis and quad along it (with 2x2 transfer
    # matrices) is a valid, independent oracle; both converge to ≲1e-9.
    au = material("Au").epsilon(LAM)
    res = _emit(f"n=1.5@{d_nm:g}/Au")
    h, v = ph_total_power_real_axis([2.25 + 0j], [], [2.25 + 0j, au], [], math.inf, d_nm, LAM, 40.0)
    assert res.total_h == pytest.approx(h, rel=1e-6)
    assert res.total_v == pytest.approx(v, rel=1e-6)


def test_lifetime_oscillates_with_distance_from_a_mirror() -> None:
    # Drexhage's experiment: the decay rate of a dipole in front of a mirror oscillates
    # with period λ/(2n) in distance (the round trip to the mirror gains 2π) with an
    # amplitude that decays like 1/d (Chance, Prock & Silbey 1978).
    d = np.linspace(150.0, 1200.0, 211)
    rates = np.array([_emit(f"n=1.5@{x:g}/Au").total_h for x in d])
    peaks = [i for i in range(1, d.size - 1) if rates[i - 1] < rates[i] > rates[i + 1]]
    spacing = np.diff(d[peaks])
    assert len(peaks) >= 4
    # grid step 5 nm: peak positions are known to ±5 nm, so ±10 nm on a difference
    assert np.all(np.abs(spacing - LAM / (2 * 1.5)) <= 10.0)
    amplitude = np.abs(rates[peaks] - 1.0)
    assert np.all(np.diff(amplitude) < 0)


def test_quenching_close_to_gold_grows_like_inverse_cube() -> None:
    # Non-radiative transfer to the metal: P ∝ d⁻³ at small d (CPS 1978, Eq. 4.12).
    p = [_emit(f"n=1.5@{x:g}/Au").total_v for x in (2.0, 4.0)]
    assert p[0] / p[1] == pytest.approx(8.0, rel=0.15)
    res = _emit("n=1.5@4/Au")
    assert res.top_v / res.total_v < 0.01  # nearly all of it absorbed


# ----------------------------------------------------------- Lukosz & Kunz (near surface)


def test_vertical_dipole_is_suppressed_close_to_the_surface() -> None:
    # A vertical dipole inside GaN just under the air interface: its total power drops
    # far below the bulk value (Lukosz & Kunz, JOSA 67, 1607 (1977)); the d → 0 limit is
    # the real-axis integral with d = 0 (only u < n₁ contributes, all media lossless).
    near = _emit("air/n=2.4@0.01")
    h0, v0 = ph_total_power_real_axis(
        [5.76 + 0j, 1 + 0j], [], [5.76 + 0j], [], 0.0, math.inf, LAM, 2.4, (1.0,)
    )
    # first order in k₁d ≈ 2e-4
    assert near.total_v == pytest.approx(v0, rel=1e-3)
    assert near.total_h == pytest.approx(h0, rel=1e-3)
    assert near.total_v < 0.1 < 0.9 < near.total_h
    deeper = [_emit(f"air/n=2.4@{x:g}").total_v for x in (1.0, 10.0, 30.0, 60.0)]
    assert np.all(np.diff(deeper) > 0)


# ------------------------------------------------------------------- energy conservation


@pytest.mark.parametrize(
    "spec",
    [
        "air/n=2.4@120",
        "air/SiO2:100/n=1.8:50/GaN@120",
        "n=1.5@80/n=2.0:40/sapphire",
        "air@30/GaN",
        "sapphire/SiO2:200@70/air",
    ],
)
def test_lossless_stack_without_guided_modes_conserves_energy(spec: str) -> None:
    # No guided modes (the densest medium is an outer one), so top + bottom = total: the
    # far-field transmission integrals and the contour integral are independent.
    res = _emit(spec)
    assert guided_modes(parse_stack(spec), LAM) == []
    assert res.top_h + res.bottom_h == pytest.approx(res.total_h, rel=1e-8)
    assert res.top_v + res.bottom_v == pytest.approx(res.total_v, rel=1e-8)


@pytest.mark.parametrize(
    "spec",
    [
        "air/n=2.4:200@60/n=1.45",
        "air/GaN:150@75/SiO2:300/n=1.45",
        "air/n=1.45:100@50/n=2.4:200/n=1.45",
        "air/GaN:600@100/sapphire",
        "air/GaN:150@75/PEC",
    ],
)
def test_guided_modes_close_the_energy_balance(spec: str) -> None:
    # top + bottom (far-field integrals) + Σ residues at the modes = total (contour).
    stack = parse_stack(spec)
    res = planar_emission(stack, LAM)
    modes = guided_modes(stack, LAM)
    assert modes
    assert all(m.power_h >= 0 and m.power_v >= 0 for m in modes)
    assert res.top_h + res.bottom_h + sum(m.power_h for m in modes) == pytest.approx(
        res.total_h, rel=1e-8
    )
    assert res.top_v + res.bottom_v + sum(m.power_v for m in modes) == pytest.approx(
        res.total_v, rel=1e-8
    )


def test_slab_mode_index_matches_the_slab_dispersion_relation() -> None:
    # Symmetric slab (n₁ = 2.4, 200 nm, cladding 1.45): TE₀ solves
    # tan(k₀ h w/2) = γ/w with w = (n₁² − u²)^½, γ = (u² − n₂²)^½ (Yariv & Yeh §11.2).
    from scipy.optimize import brentq

    k0h = 2 * math.pi / LAM * 200.0

    def te0(u: float) -> float:
        w, g = math.sqrt(5.76 - u * u), math.sqrt(u * u - 1.45**2)
        return math.tan(k0h * w / 2) - g / w

    expected = brentq(te0, 1.9, 2.399)
    modes = guided_modes(parse_stack("n=1.45/n=2.4:200@100/n=1.45"), LAM)
    te = [m for m in modes if m.polarization == "TE"]
    assert te[0].n_eff == pytest.approx(expected, abs=1e-10)
    assert te[0].power_v == 0.0


@pytest.mark.parametrize(
    "spec", ["air/GaN:150@75/SiO2:300/Au", "n=1.5@20/Au", "air/GaN:200@50/Au:30/SiO2"]
)
def test_absorbing_stack_leaves_a_nonnegative_remainder(spec: str) -> None:
    res = _emit(spec, 0.9)
    assert not res.lossless
    for dipole in ("h", "v", "iso"):
        assert res.guided_or_absorbed(dipole) >= 0.0
        assert res.summary(dipole)["guided"] is None
    with pytest.raises(ParameterError, match="lossless"):
        guided_modes(parse_stack(spec), LAM)


def test_lossy_cladding_agrees_with_the_transfer_matrix_oracle() -> None:
    # Slightly absorbing claddings move the guided poles off the real axis, so the oracle's
    # straight quad works; the contour and the oracle differ only by quadrature error.
    res = _emit("n=1.5+0.01i/n=2.4:200@60/n=1.45+0.01i")
    h, v = ph_total_power_real_axis(
        [5.76 + 0j, (1.5 + 0.01j) ** 2],
        [],
        [5.76 + 0j, (1.45 + 0.01j) ** 2],
        [],
        60.0,
        140.0,
        LAM,
        40.0,
    )
    assert res.total_h == pytest.approx(h, rel=1e-6)
    assert res.total_v == pytest.approx(v, rel=1e-6)


@pytest.mark.parametrize("t_nm", [5.0, 20.0])
def test_thin_gold_film_agrees_with_the_oracle(t_nm: float) -> None:
    # A thin metal film carries a short-range plasmon far out in u, beyond the contour's
    # end: it is integrated along the real axis. Oracle quad accuracy ~1e-8.
    eps = {m: material(m).epsilon(LAM) for m in ("GaN", "Au", "SiO2")}
    res = _emit(f"air/GaN:100@50/Au:{t_nm:g}/SiO2")
    h, v = ph_total_power_real_axis(
        [eps["GaN"], 1 + 0j],
        [],
        [eps["GaN"], eps["Au"], eps["SiO2"]],
        [t_nm],
        50.0,
        50.0,
        LAM,
        60.0,
        (1.0, 1.4565),
    )
    assert res.total_h == pytest.approx(h, rel=1e-7)
    assert res.total_v == pytest.approx(v, rel=1e-7)


def test_far_field_density_equals_the_total_power_integrand_pointwise() -> None:
    # Lossless: for u below every outer index each plane wave's share of the total power
    # (Re of the Purcell integrand) must leave through top or bottom. This ties the
    # far-field normalisation to the Purcell formula at every u, not only in the integral.
    from qlight.photonics._stackoptics import Geometry, total_integrand
    from qlight.photonics.planar import _far_field_density

    geo = Geometry.of(parse_stack("air/SiO2:100/n=2.4:150@40/n=1.6"), LAM)
    u = np.linspace(0.01, 0.99, 50).astype(np.complex128)
    g = total_integrand(geo, u).real
    far = _far_field_density(geo, "top", u).real + _far_field_density(geo, "bottom", u).real
    assert np.allclose(far, g, rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------- pattern, API, bad


def test_pattern_without_interface_is_the_bulk_dipole() -> None:
    theta = np.linspace(0.0, 1.5, 31)
    pat = angular_pattern(parse_stack("n=1.5/n=1.5@100"), LAM, theta)
    c2 = np.cos(theta) ** 2
    assert np.allclose(pat.v, 3 / (8 * math.pi) * (1 - c2), rtol=1e-10, atol=1e-15)
    assert np.allclose(pat.h_p, 3 / (8 * math.pi) * c2, rtol=1e-10, atol=1e-15)
    assert np.allclose(pat.h_s, 3 / (8 * math.pi), rtol=1e-10)
    assert np.allclose(pat.h, 3 / (16 * math.pi) * (1 + c2), rtol=1e-10)


def test_pattern_integrates_to_the_radiated_power() -> None:
    # Simpson on 4001 angles: error ~ (π/8000)⁴ × f'''' — far below 1e-6.
    stack = parse_stack("air/GaN:150@75/SiO2:300/Au")
    theta = np.linspace(0.0, 0.5 * math.pi - 1e-9, 4001)
    pat = angular_pattern(stack, LAM, theta)
    res = planar_emission(stack, LAM)
    w = 2 * math.pi * np.sin(theta)
    assert simpson(w * pat.h, x=theta) == pytest.approx(res.top_h, rel=1e-6)
    assert simpson(w * pat.v, x=theta) == pytest.approx(res.top_v, rel=1e-6)
    bottom = angular_pattern(stack, LAM, theta, side="bottom")
    assert np.all(bottom.h == 0.0)  # into gold: absorbed, nothing radiates


def test_quadrature_is_converged() -> None:
    # default tolerance 1e-9 against the tightest one allowed, on a thick lossy stack and on
    # a GaN λ-cavity over a 10-layer DBR (sharp leaky resonances in the far field)
    dbr = "/".join(["GaN:68", "SiO2:111"] * 5)
    for spec in ("air/GaN:1500@700/SiO2:2000/Au", f"air/GaN:272@136/{dbr}/sapphire"):
        stack = parse_stack(spec)
        a = planar_emission(stack, LAM, na=0.9)
        b = planar_emission(stack, LAM, na=0.9, tol=1e-12)
        for key in ("total_h", "total_v", "top_h", "top_v", "bottom_h", "bottom_v", "na_h"):
            assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-8), (spec, key)
    with pytest.raises(ParameterError, match="tol"):
        planar_emission(stack, LAM, tol=1e-14)


def test_orientation_mixing_and_summary() -> None:
    res = _emit("air/GaN:150@75/SiO2:300/n=1.45", 0.8)
    th = 0.7
    s2 = math.sin(th) ** 2
    assert res.purcell(th) == pytest.approx(s2 * res.total_h + (1 - s2) * res.total_v)
    assert res.purcell("iso") == pytest.approx((2 * res.total_h + res.total_v) / 3)
    assert res.purcell(math.pi / 2) == pytest.approx(res.purcell("h"))
    out = res.summary("h")
    assert {"collection_efficiency", "radiated_to_top", "purcell"} <= set(out)
    assert out["collection_efficiency"] == pytest.approx(res.na_h / res.total_h)
    assert out["guided"] == pytest.approx(1 - out["radiated_to_top"] - out["radiated_to_bottom"])
    with pytest.raises(ParameterError, match="dipole"):
        res.purcell("x")


def test_collection_table_feeds_the_twin() -> None:
    eta_h, eta_v = planar_collection_efficiencies(0.9, 2.4)
    theta = np.array([0.0, 0.5, 1.0, math.pi / 2])
    table = collection_efficiency_table(parse_stack("air/n=2.4@1000"), LAM, 0.9, theta)
    # same collected power as the twin's planar model; only the Purcell factor differs
    assert np.allclose(table.factor_vs_twin(eta_h, eta_v), 1.0 / table.purcell, rtol=1e-8)
    s2 = np.sin(theta) ** 2
    res = table.emission
    expected = (s2 * res.na_h + (1 - s2) * res.na_v) / (s2 * res.total_h + (1 - s2) * res.total_v)
    assert np.allclose(table.collection_efficiency, expected)


@pytest.mark.parametrize(
    ("spec", "na", "match"),
    [
        ("air/GaN@1000", 1.2, "must be <= the top medium's index 1"),
        ("air/GaN@1000", -0.1, "must be > 0"),
        ("PEC/GaN@1000", 0.5, "transparent top medium"),
        ("Au/GaN@1000", 0.5, "transparent top medium"),
        ("air/Au:50@10/GaN", None, "lossless dielectric"),
    ],
)
def test_bad_input(spec: str, na: float | None, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        _emit(spec, na)
    with pytest.raises(ParameterError, match="wavelength_nm"):
        _emit("air/GaN:100@50/Au", lam=300.0)
