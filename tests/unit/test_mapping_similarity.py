"""2-D similarity transforms: algebra, weighted Umeyama against an oracle, calibrated covariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import reg_similarity_lsq

from qlight.errors import ParameterError
from qlight.mapping.similarity import Similarity2D, fit_similarity

shift = st.floats(-60e-6, 60e-6)
angle = st.floats(-math.pi, math.pi)
scale = st.floats(0.9, 1.1)
transforms = st.builds(Similarity2D, shift, shift, angle, scale)


@given(transforms, transforms, st.floats(-1e-4, 1e-4), st.floats(-1e-4, 1e-4))
def test_compose_and_inverse_match_the_matrices(
    a: Similarity2D, b: Similarity2D, x: float, y: float
) -> None:
    np.testing.assert_allclose(a.compose(b).matrix(), a.matrix() @ b.matrix(), atol=1e-12)
    np.testing.assert_allclose(a.inverse().matrix(), np.linalg.inv(a.matrix()), atol=1e-9)
    u, v = a.apply(x, y)
    x2, y2 = a.apply_inverse(u, v)
    assert float(x2) == pytest.approx(x, abs=1e-15)
    assert float(y2) == pytest.approx(y, abs=1e-15)


@settings(max_examples=30, deadline=None)
@given(transforms, st.integers(0, 2**32 - 1))
def test_noise_free_fit_is_exact(t: Similarity2D, seed: int) -> None:
    rng = np.random.default_rng(seed)
    src = rng.uniform(-50e-6, 50e-6, (6, 2))
    fit = fit_similarity(src, t.apply_points(src), sigma_m=1e-9)
    got = fit.transform
    assert got.tx_m == pytest.approx(t.tx_m, abs=1e-14)
    assert got.ty_m == pytest.approx(t.ty_m, abs=1e-14)
    assert math.remainder(got.rotation_rad - t.rotation_rad, 2 * math.pi) == pytest.approx(
        0, abs=1e-10
    )
    assert got.scale == pytest.approx(t.scale, rel=1e-10)
    assert not fit.reflected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_weighted_fit_matches_the_nonlinear_least_squares_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = Similarity2D(20e-6, -35e-6, 0.04, 1.001)
    src = rng.uniform(-30e-6, 30e-6, (8, 2))
    dst = t.apply_points(src) + rng.normal(0.0, 200e-9, src.shape)
    w = rng.uniform(0.2, 3.0, 8)
    fit = fit_similarity(src, dst, weights=w)
    tx, ty, th, s = reg_similarity_lsq([tuple(p) for p in src], [tuple(p) for p in dst], list(w))
    assert fit.transform.tx_m == pytest.approx(tx, abs=1e-12)
    assert fit.transform.ty_m == pytest.approx(ty, abs=1e-12)
    assert fit.transform.rotation_rad == pytest.approx(th, abs=1e-8)
    assert fit.transform.scale == pytest.approx(s, rel=1e-8)


def test_reported_covariance_matches_the_scatter_of_repeated_fits() -> None:
    # 400 independent fits: the sample SD of each parameter estimates the true SD with
    # relative standard error 1/sqrt(2(n − 1)) = 3.5 %; 4 standard errors = 14 %.
    rng = np.random.default_rng(7)
    t = Similarity2D(5e-6, 3e-6, 0.01, 1.0)
    src = rng.uniform(-15e-6, 15e-6, (12, 2))
    sigma = 40e-9
    est = []
    for _ in range(400):
        fit = fit_similarity(
            src, t.apply_points(src) + rng.normal(0, sigma, src.shape), sigma_m=sigma
        )
        p = fit.transform
        est.append((p.tx_m, p.ty_m, p.rotation_rad, p.scale))
    sd = np.std(np.array(est), axis=0, ddof=1)
    # the Gauss–Markov covariance at the true parameters (no χ² inflation: use the exact data)
    exact = fit_similarity(src, t.apply_points(src), sigma_m=sigma)
    predicted = np.sqrt(np.diag(exact.covariance))
    np.testing.assert_allclose(sd, predicted, rtol=0.14)
    # predicted position covariance at a far point agrees with the scatter of predictions
    far = np.array(
        [
            fit_similarity(
                src, t.apply_points(src) + rng.normal(0, sigma, src.shape), sigma_m=sigma
            ).transform.apply(60e-6, -40e-6)[0]
            for _ in range(400)
        ]
    )
    _, _, cov = exact.predict(60e-6, -40e-6)
    assert float(np.std(far, ddof=1)) == pytest.approx(math.sqrt(cov[0, 0]), rel=0.14)


def test_covariance_is_inflated_when_the_residuals_exceed_the_stated_noise() -> None:
    rng = np.random.default_rng(3)
    src = rng.uniform(-10e-6, 10e-6, (20, 2))
    dst = src + rng.normal(0, 100e-9, src.shape)
    honest = fit_similarity(src, dst, sigma_m=100e-9)
    optimistic = fit_similarity(src, dst, sigma_m=10e-9)
    # χ²/dof ≈ 100 → the covariance is scaled back up to the honest one
    c = honest.param_covariance
    atol = 1e-9 * np.sqrt(np.outer(np.diag(c), np.diag(c)))  # round-off of exact zeros
    assert np.all(np.abs(optimistic.param_covariance - c) <= 1e-9 * np.abs(c) + atol)
    assert optimistic.chi2_per_dof == pytest.approx(100 * honest.chi2_per_dof)


def test_mirror_images_are_only_fitted_when_allowed() -> None:
    rng = np.random.default_rng(4)
    src = rng.uniform(-20e-6, 20e-6, (10, 2))
    t = Similarity2D(1e-6, 2e-6, 0.3, 1.0)
    mirrored = src * np.array([1.0, -1.0])
    dst = t.apply_points(mirrored)
    proper = fit_similarity(src, dst)
    assert not proper.reflected
    assert proper.rms_m > 1e-6
    free = fit_similarity(src, dst, allow_reflection=True)
    assert free.reflected
    assert free.rms_m < 1e-15
    assert free.transform.rotation_rad == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("src", "dst", "kw"),
    [
        (np.zeros((3, 3)), np.zeros((3, 3)), {}),
        (np.ones((1, 2)), np.ones((1, 2)), {}),
        (np.ones((3, 2)), np.ones((3, 2)), {}),
        (np.eye(2), np.eye(2)[:1], {}),
        (np.eye(3)[:, :2], np.eye(3)[:, :2], {"sigma_m": -1.0}),
        (np.eye(3)[:, :2], np.eye(3)[:, :2], {"weights": [1, 0, 0]}),
        ([[0, 0], [np.nan, 1], [1, 1]], np.eye(3)[:, :2], {}),
    ],
)
def test_bad_input_raises_parameter_error(src: object, dst: object, kw: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        fit_similarity(src, dst, **kw)  # type: ignore[arg-type]
