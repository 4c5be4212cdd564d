"""Toeplitz privacy amplification: exact over GF(2), against the explicit matrix product."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import pa_toeplitz_product

from qlight.errors import ParameterError
from qlight.qkd.postprocess.toeplitz import (
    fft_error_bound,
    random_seed_bits,
    seed_length,
    toeplitz_hash,
)


@pytest.mark.parametrize(("n", "m"), [(1, 1), (2, 1), (7, 7), (64, 13), (257, 200), (1000, 31)])
def test_equals_the_naive_gf2_product(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 1000 + m)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, seed_length(m, n), dtype=np.uint8)
    got = toeplitz_hash(x, s, m)
    assert got.dtype == np.uint8
    assert got.tolist() == pa_toeplitz_product(x.tolist(), s.tolist(), m)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_property_equals_naive(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 120))
    m = data.draw(st.integers(1, n))
    x = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    s = data.draw(st.lists(st.integers(0, 1), min_size=m + n - 1, max_size=m + n - 1))
    got = toeplitz_hash(np.array(x, dtype=np.uint8), np.array(s, dtype=np.uint8), m)
    assert got.tolist() == pa_toeplitz_product(x, s, m)


def test_large_all_ones_block_is_exact() -> None:
    # Worst case for the rounding: all-ones key and seed make every convolution entry as
    # large as possible (= n in the middle). Row i of T·x then has n ones: parity n mod 2.
    n, m = 1 << 20, 1 << 19
    got = toeplitz_hash(np.ones(n, np.uint8), np.ones(m + n - 1, np.uint8), m)
    assert np.all(got == n % 2)
    n2 = n - 1
    got2 = toeplitz_hash(np.ones(n2, np.uint8), np.ones(m + n2 - 1, np.uint8), m)
    assert np.all(got2 == n2 % 2)


def test_large_random_block_spot_checked_rows() -> None:
    # 10^6-bit block: check 40 random rows exactly against T[i, :]·x (mod 2).
    rng = np.random.default_rng(5)
    n, m = 1_000_000, 400_000
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, m + n - 1, dtype=np.uint8)
    y = toeplitz_hash(x, s, m)
    for i in rng.integers(0, m, 40):
        row = s[i : i + n][::-1]  # T[i, j] = s[i − j + n − 1]
        assert int(y[i]) == int(np.dot(row.astype(np.int64), x.astype(np.int64)) % 2)


def test_linear_and_2_universal_structure() -> None:
    # T(x ⊕ x') = T x ⊕ T x' (linearity over GF(2)); a zero key hashes to zero.
    rng = np.random.default_rng(9)
    n, m = 3000, 1000
    s = rng.integers(0, 2, m + n - 1, dtype=np.uint8)
    a = rng.integers(0, 2, n, dtype=np.uint8)
    b = rng.integers(0, 2, n, dtype=np.uint8)
    assert np.array_equal(
        toeplitz_hash(a ^ b, s, m), toeplitz_hash(a, s, m) ^ toeplitz_hash(b, s, m)
    )
    assert not toeplitz_hash(np.zeros(n, np.uint8), s, m).any()


def test_error_bound_is_far_below_half_at_1e7_bits() -> None:
    bound = fft_error_bound(1 << 25, 10_000_000, 15_000_000)
    assert 0.0 < bound < 1e-5
    assert fft_error_bound(1 << 47, 1 << 46, 1 << 46) > 0.25  # the guard can trigger


def test_random_seed_bits_are_bits_and_differ() -> None:
    a, b = random_seed_bits(4096), random_seed_bits(4096)
    assert a.dtype == np.uint8
    assert a.size == 4096
    assert set(np.unique(a)) <= {0, 1}
    # Two independent 4096-bit draws coincide with probability 2^-4096.
    assert not np.array_equal(a, b)
    # Mean of 4096 fair bits: sd = 0.5/64 ≈ 0.0078; 6 sd = 0.047.
    assert abs(float(a.mean()) - 0.5) < 0.047


@pytest.mark.parametrize(
    ("key", "seed", "m"),
    [
        (np.array([0, 1, 2], np.uint8), np.zeros(5, np.uint8), 3),
        (np.zeros(4, np.uint8), np.zeros(6, np.uint8), 4),  # seed must be 7
        (np.zeros(4, np.uint8), np.zeros(7, np.uint8), 5),  # seed must be 8
        (np.zeros(4, np.uint8), np.zeros(3, np.uint8), 0),
        (np.zeros((2, 2), np.uint8), np.zeros(3, np.uint8), 1),
        (np.zeros(3, np.float64), np.zeros(3, np.uint8), 1),
    ],
)
def test_bad_input_raises_parameter_error(key: object, seed: object, m: int) -> None:
    with pytest.raises(ParameterError):
        toeplitz_hash(key, seed, m)  # type: ignore[arg-type]


def test_bad_seed_length_request() -> None:
    with pytest.raises(ParameterError):
        random_seed_bits(0)


@given(
    n=st.integers(1, 300),
    m=st.sampled_from([1, 63, 64, 65, 256, 257, 400]),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=40, deadline=None)
def test_direct_and_fft_paths_agree_with_the_oracle(n: int, m: int, seed: int) -> None:
    # Outputs up to 256 bits take the word-packed direct product, longer ones the FFT;
    # both must equal the naive GF(2) product on either side of the switch.
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, m + n - 1, dtype=np.uint8)
    assert toeplitz_hash(x, s, m).tolist() == pa_toeplitz_product(x.tolist(), s.tolist(), m)
