"""Materials and the SPEC parser of qlight.photonics."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlight.errors import ParameterError
from qlight.photonics.layers import Layer, Stack, parse_stack
from qlight.photonics.materials import MATERIAL_NAMES, material

# ------------------------------------------------------------------------------ materials


def test_gan_index_is_barker_ilegems() -> None:
    # n² = 3.60 + 1.75 λ²/(λ² − 0.256²) + 4.1 λ²/(λ² − 17.86²) at λ = 0.65 µm, evaluated by
    # hand: 3.60 + 2.07128 − 0.00543 = 5.66585 → n = 2.38030 (≈ 2.4 of REFERENCES.md).
    assert material("GaN").n(650.0).real == pytest.approx(2.38030, abs=2e-5)
    assert material("GaN").n(650.0).imag == 0.0
    # normal dispersion: the index falls with wavelength across the visible
    assert material("GaN").n(450.0).real > material("GaN").n(700.0).real > 2.3


def test_dielectric_sellmeier_values() -> None:
    # Malitson (1965): fused silica n_d = 1.4585 at 587.6 nm; Malitson & Dodge (1972):
    # sapphire n_o = 1.7660 at 632.8 nm (published tables, 4 decimals).
    assert material("SiO2").n(587.56).real == pytest.approx(1.4585, abs=1e-4)
    assert material("sapphire").n(632.8).real == pytest.approx(1.7660, abs=1e-4)


def test_gold_is_a_lossy_metal_close_to_johnson_christy() -> None:
    # Johnson & Christy (1972) at 1.88 eV (659 nm): n = 0.14, k = 3.70 → ε ≈ −13.7 + 1.0i.
    # The Etchegoin fit reproduces J&C to a few per cent in ε′ in the red.
    eps = material("Au").epsilon(659.0)
    assert eps.real == pytest.approx(-13.7, rel=0.1)
    assert 0.7 < eps.imag < 1.5
    assert material("Au").n(659.0).imag > 3.0


def test_named_and_numeric_materials() -> None:
    assert {material(n).name for n in MATERIAL_NAMES} == set(MATERIAL_NAMES)
    assert material("gan").name == "GaN"
    assert material("n=1.5").n(500.0) == 1.5
    assert material("n=0.2+3.4i").epsilon(500.0) == pytest.approx((0.2 + 3.4j) ** 2)
    assert material("PEC").is_pec
    with pytest.raises(ParameterError, match="no finite permittivity"):
        material("PEC").epsilon(650.0)


@pytest.mark.parametrize("bad", ["foo", "n=", "n=abc", "n=-1.5", "n=1.5-0.1i", "n=inf"])
def test_bad_material_names(bad: str) -> None:
    with pytest.raises(ParameterError):
        material(bad)


def test_wavelength_outside_the_fit_is_refused() -> None:
    with pytest.raises(ParameterError, match=r"wavelength_nm.*\[400, 1000\] for Au"):
        material("Au").epsilon(300.0)
    with pytest.raises(ParameterError, match="wavelength_nm"):
        material("GaN").epsilon(-5.0)


# ------------------------------------------------------------------------------- parser


def test_issue_examples_parse() -> None:
    s = parse_stack("air/GaN@1000")
    assert [ly.material.name for ly in s.layers] == ["air", "GaN"]
    assert (s.emitter_layer, s.depth_nm, s.distances_nm()) == (1, 1000.0, (1000.0, math.inf))
    m = parse_stack("air/GaN:150@75/SiO2:300/Au")
    assert [ly.thickness_nm for ly in m.layers] == [None, 150.0, 300.0, None]
    assert m.distances_nm() == (75.0, 75.0)
    assert m.spec() == "air/GaN:150@75/SiO2:300/Au"


def test_emitter_in_the_top_medium_is_a_height() -> None:
    s = parse_stack("air@20/GaN")
    assert s.emitter_layer == 0
    assert s.distances_nm() == (math.inf, 20.0)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("air/GaN:-150@75/Au", "thickness of GaN=-150.0 must be > 0"),
        ("air/GaN:0@75/Au", "must be > 0"),
        ("air/GaN@75/Au:100", "needs a thickness"),  # GaN is inner, so needs a thickness
        ("air:5/GaN@75", "outer media are semi-infinite"),
        ("air/GaN:150@75/SiO2:5", "outer media are semi-infinite"),
        ("GaN@75", "at least two media"),
        ("air/GaN:150/Au", "mark the emitter"),
        ("air/GaN:150@10/SiO2:100@5/Au", "exactly one emitter"),
        ("air/GaN:150@150/Au", "must be < the layer thickness"),
        ("air/GaN:150@0/Au", "off the interface"),
        ("air/GaN:150@-3/Au", "off the interface"),
        ("air/Gan:150@x/Au", "must be a number"),
        ("air/unobtainium@3", "must be one of air, GaN"),
        ("air//GaN@3", "is empty"),
        ("air/PEC@3", "cannot sit inside a perfect conductor"),
        ("", "must be a SPEC"),
    ],
)
def test_bad_specs_name_the_problem(spec: str, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        parse_stack(spec)


def test_stack_constructor_validates_too() -> None:
    air, gan = material("air"), material("GaN")
    with pytest.raises(ParameterError, match="semi-infinite"):
        Stack((Layer(air, 5.0), Layer(gan)), 1, 10.0)
    with pytest.raises(ParameterError, match="emitter_layer"):
        Stack((Layer(air), Layer(gan)), 2, 10.0)


_NAMES = st.sampled_from(["air", "GaN", "SiO2", "sapphire", "Au", "n=1.7", "n=2.2"])
_THICK = st.integers(min_value=2, max_value=2000)


@given(
    outer=st.tuples(_NAMES, _NAMES),
    inner=st.lists(st.tuples(_NAMES, _THICK), max_size=4),
    data=st.data(),
)
@settings(max_examples=60, deadline=None)
def test_spec_round_trip(
    outer: tuple[str, str], inner: list[tuple[str, int]], data: st.DataObject
) -> None:
    names = [outer[0], *(n for n, _ in inner), outer[1]]
    thick: list[int | None] = [None, *(t for _, t in inner), None]
    candidates = [i for i, n in enumerate(names) if n != "Au"] or [0]
    e = data.draw(st.sampled_from(candidates))
    t_e = thick[e]
    depth = data.draw(st.integers(min_value=1, max_value=(t_e - 1) if t_e else 5000))
    if t_e == 1:
        return  # no integer depth strictly inside a 1 nm layer
    parts = []
    for i, (n, t) in enumerate(zip(names, thick, strict=True)):
        text = n if t is None else f"{n}:{t}"
        parts.append(text + (f"@{depth}" if i == e else ""))
    spec = "/".join(parts)
    stack = parse_stack(spec)
    assert parse_stack(stack.spec()) == stack
    assert stack.emitter_layer == e
    assert stack.depth_nm == depth
