"""Error verification: Toeplitz hash against the naive product, ε_cor, leak."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import pp_toeplitz_hash

from qlight.errors import ParameterError
from qlight.qkd.postprocess.channel import channel_pair
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.verification import tag_bits_for, toeplitz_hash, verify


@given(n=st.integers(1, 200), t=st.integers(1, 140), seed=st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_toeplitz_hash_matches_naive(n: int, t: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    key = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n + t - 1, dtype=np.uint8)
    assert toeplitz_hash(key, s, t).tolist() == pp_toeplitz_hash(key.tolist(), s.tolist(), t)


def test_tag_bits_and_bad_input() -> None:
    assert tag_bits_for(1e-10) == 34  # ceil(log2 1e10) = ceil(33.22)
    assert tag_bits_for(0.5) == 1
    with pytest.raises(ParameterError):
        tag_bits_for(0.0)
    with pytest.raises(ParameterError):
        toeplitz_hash(np.ones(5, np.uint8), np.ones(5, np.uint8), 3)


def test_verify_accepts_equal_and_rejects_different_keys() -> None:
    rng = np.random.default_rng(8)
    a = rng.integers(0, 2, 10_000, dtype=np.uint8)
    ok = verify(a, a.copy(), channel_pair(), eps_cor=1e-12, rng=rng)
    assert ok.ok
    assert ok.tag_bits == 40
    assert ok.leaked_bits == 40
    b = a.copy()
    b[1234] ^= 1
    bad = verify(a, b, channel_pair(), eps_cor=1e-12, rng=rng)
    assert not bad.ok
    assert bad.leaked_bits == 40
    with pytest.raises(ProtocolAbort, match="mismatched block sizes"):
        verify(a, a[:-1], channel_pair(timeout_s=5.0), rng=rng)


def test_collision_probability_is_two_to_minus_t() -> None:
    # With t = 4 two different keys collide with probability exactly 1/16 (universality).
    # 4000 trials: expected 250, sd = sqrt(4000 * 1/16 * 15/16) = 15.3; accept +-5 sd.
    rng = np.random.default_rng(77)
    n, t, trials = 64, 4, 4000
    hits = 0
    for _ in range(trials):
        a = rng.integers(0, 2, n, dtype=np.uint8)
        b = a ^ (rng.random(n) < 0.05).astype(np.uint8)
        if not (a != b).any():
            b[0] ^= 1
        s = rng.integers(0, 2, n + t - 1, dtype=np.uint8)
        hits += bool((toeplitz_hash(a, s, t) == toeplitz_hash(b, s, t)).all())
    assert abs(hits - trials / 16) <= 5 * np.sqrt(trials / 16 * 15 / 16)
