"""Parameter estimation: Clopper–Pearson and Serfling bounds, two-party sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from qlight.errors import ParameterError
from qlight.qkd.postprocess.channel import channel_pair, run_two_party
from qlight.qkd.postprocess.estimation import (
    clopper_pearson,
    estimate_alice,
    estimate_bob,
    serfling_upper,
)


def test_clopper_pearson_closed_forms() -> None:
    # k = 0: upper bound solves (1 - p)^m = eps; k = m: lower bound solves p^m = eps
    m, eps = 200, 1e-3
    assert clopper_pearson(0, m, eps)[1] == pytest.approx(1 - eps ** (1 / m), rel=1e-9)
    assert clopper_pearson(m, m, eps)[0] == pytest.approx(eps ** (1 / m), rel=1e-9)
    # definition: P[Bin(m, hi) <= k] = eps and P[Bin(m, lo) >= k] = eps
    lo, hi = clopper_pearson(7, m, eps)
    assert binom.cdf(7, m, hi) == pytest.approx(eps, rel=1e-6)
    assert binom.sf(6, m, lo) == pytest.approx(eps, rel=1e-6)
    with pytest.raises(ParameterError):
        clopper_pearson(5, 3, eps)
    with pytest.raises(ParameterError):
        clopper_pearson(1, 3, 1.5)


def test_serfling_bound_value() -> None:
    n, m, eps = 10_000, 1_000, 1e-10
    mu = math.sqrt((n + m) / (n * m) * (m + 1) / m * math.log(1 / eps))
    assert serfling_upper(0.02, n, m, eps) == pytest.approx(0.02 + mu)
    assert serfling_upper(0.9, 10, 1, eps) == 1.0


def test_clopper_pearson_coverage() -> None:
    # Exact interval: the upper bound fails with probability <= eps. 2000 samples at
    # eps = 0.05: expected failures <= 100, sd <= sqrt(2000 * 0.05 * 0.95) = 9.7; allow 100 + 4 sd.
    rng = np.random.default_rng(12)
    p, m = 0.03, 500
    ks = rng.binomial(m, p, 2000)
    fails = sum(clopper_pearson(int(k), m, 0.05)[1] < p for k in ks)
    assert fails <= 100 + 4 * 9.7
    assert fails > 0  # the bound is not trivially loose: some failures do occur


def test_two_party_estimate() -> None:
    rng = np.random.default_rng(6)
    n, q = 50_000, 0.04
    a = rng.integers(0, 2, n, dtype=np.uint8)
    b = a ^ (rng.random(n) < q).astype(np.uint8)
    chans = channel_pair()
    (ka, ea), (kb, eb) = run_two_party(
        lambda: estimate_alice(a, chans[0], sample_size=5000, eps=1e-6, rng=rng),
        lambda: estimate_bob(b, chans[1]),
        chans,
    )
    assert ka.size == kb.size == n - 5000
    assert ea == eb
    # the sampled QBER: binomial(5000, 0.04), sd = sqrt(0.04 * 0.96 / 5000) = 0.0028; 5 sd
    assert abs(ea.qber - q) < 5 * 0.0028
    assert ea.lower <= ea.qber <= ea.upper_sample <= ea.upper
    # the remaining keys carry exactly the remaining errors
    rest = int(np.count_nonzero(ka != kb))
    assert rest + ea.n_errors == int(np.count_nonzero(a != b))
    assert chans[1].ledger.leaked_bits_sent == 5000  # the revealed sample
    with pytest.raises(ParameterError):
        estimate_alice(a, chans[0], sample_size=n, rng=rng)
