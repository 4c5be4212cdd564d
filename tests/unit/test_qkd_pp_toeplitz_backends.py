"""Toeplitz hashing on every FFT back end (numpy, scipy, MKL, CuPy) and the batch API.

Every path must equal the naive GF(2) products of tests/naive.py bit for bit, including at
sizes around the power-of-two transform lengths and the row-split switch.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import pa_toeplitz_product, pp_modified_toeplitz

from qlight.errors import ParameterError
from qlight.qkd.postprocess import toeplitz
from qlight.qkd.postprocess._gf2_clmul import clmul_available
from qlight.qkd.postprocess._toeplitz_fft import CPU_BACKENDS, fft_pair, resolve_backend
from qlight.qkd.postprocess._toeplitz_tiles import tiled_error_bound, tiled_toeplitz
from qlight.qkd.postprocess.toeplitz import (
    fft_error_bound,
    modified_seed_length,
    modified_toeplitz_hash,
    seed_length,
    toeplitz_hash,
)
from qlight.qkd.postprocess.toeplitz_batch import modified_toeplitz_hash_many

INSTALLED = [b for b in CPU_BACKENDS if b != "mkl" or importlib.util.find_spec("mkl_fft")]


def _gpu_or_skip() -> None:
    cp = pytest.importorskip("cupy")
    try:
        n_gpu = int(cp.cuda.runtime.getDeviceCount())
    except Exception:  # CUDA runtime error without a driver
        n_gpu = 0
    if n_gpu < 1:
        pytest.skip("no CUDA GPU")


def _boundary_sizes(data: st.DataObject) -> tuple[int, int]:
    """(n, m) with m > 256 (the FFT path) and m + n − 1 within 3 of 2^k: both sides of a
    transform-length jump; where m + n − 1 just exceeds 2^k the row split is taken."""
    k = data.draw(st.sampled_from([9, 10]), label="k")
    total = (1 << k) + data.draw(st.integers(-3, 3), label="offset")  # m + n − 1
    m = data.draw(st.integers(257, total - 1), label="m")
    return total - m + 1, m


@pytest.mark.parametrize("backend", INSTALLED)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_backend_equals_naive_near_power_of_two(backend: str, data: st.DataObject) -> None:
    n, m = _boundary_sizes(data)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32), label="seed"))
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, seed_length(m, n), dtype=np.uint8)
    workers = data.draw(st.sampled_from([1, 2]), label="workers")
    got = toeplitz_hash(x, s, m, workers=workers, backend=backend)
    assert got.tolist() == pa_toeplitz_product(x.tolist(), s.tolist(), m)


@pytest.mark.parametrize("backend", INSTALLED)
@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 700), frac=st.floats(0.05, 0.95), seed=st.integers(0, 2**32))
def test_modified_hash_every_backend_equals_naive(
    backend: str, n: int, frac: float, seed: int
) -> None:
    m = min(max(1, int(n * frac)), n - 1)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, modified_seed_length(m, n), dtype=np.uint8)
    got = modified_toeplitz_hash(x, s, m, backend=backend)
    assert got.tolist() == pp_modified_toeplitz(x.tolist(), s.tolist(), m)


def test_backends_agree_bit_for_bit_at_1e6_bits_and_rows_are_exact() -> None:
    # 10^6-bit block (three 2^20-point transforms): every installed back end gives the same
    # bits, and 30 random rows equal their explicit GF(2) dot product.
    rng = np.random.default_rng(11)
    n, m = 1_000_000, 500_000
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n - 1, dtype=np.uint8)
    ref = modified_toeplitz_hash(x, s, m, backend="numpy")
    for backend in INSTALLED:
        assert np.array_equal(modified_toeplitz_hash(x, s, m, backend=backend), ref), backend
    nb = n - m
    xb = x[m:].astype(np.int64)
    for i in rng.integers(0, m, 30):
        row = s[i : i + nb][::-1].astype(np.int64)  # T[i, j] = s[i − j + nb − 1]
        assert int(ref[i]) == (int(x[i]) + int(np.dot(row, xb))) % 2


def test_auto_picks_the_fastest_installed_backend() -> None:
    expected = "mkl" if importlib.util.find_spec("mkl_fft") else "numpy"
    if clmul_available():  # the exact carry-less back end beats every FFT
        expected = "clmul"
    assert resolve_backend("auto") == expected


@pytest.mark.parametrize("backend", ["fftw", "", "NUMPY"])
def test_unknown_backend_raises(backend: str) -> None:
    x = np.ones(600, np.uint8)
    with pytest.raises(ParameterError, match="backend"):
        modified_toeplitz_hash(x, np.ones(599, np.uint8), 300, backend=backend)


def test_cupy_backend_without_gpu_names_the_backend() -> None:
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here; the GPU tests cover it")
    with pytest.raises(ParameterError, match="cupy"):
        toeplitz_hash(np.ones(8, np.uint8), np.ones(15, np.uint8), 8, backend="cupy")
    with pytest.raises(ParameterError, match="cupy"):
        modified_toeplitz_hash_many(
            [np.ones(8, np.uint8)], [np.ones(7, np.uint8)], 4, backend="cupy"
        )


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_many_equals_one_by_one(workers: int) -> None:
    rng = np.random.default_rng(workers)
    sizes = [300, 1000, 4097, 2, 20_000]
    keys = [rng.integers(0, 2, n, dtype=np.uint8) for n in sizes]
    seeds = [rng.integers(0, 2, n - 1, dtype=np.uint8) for n in sizes]
    lengths = [n // 2 if n > 2 else 1 for n in sizes]
    got = modified_toeplitz_hash_many(keys, seeds, lengths, workers=workers)
    assert len(got) == len(sizes)
    for g, k, s, m in zip(got, keys, seeds, lengths, strict=True):
        assert np.array_equal(g, modified_toeplitz_hash(k, s, m))
    small = modified_toeplitz_hash_many(keys[:1], seeds[:1], 150, workers=workers)[0]
    assert small.tolist() == pp_modified_toeplitz(keys[0].tolist(), seeds[0].tolist(), 150)


def test_many_rejects_mismatched_inputs() -> None:
    k = [np.ones(10, np.uint8)] * 2
    s = [np.ones(9, np.uint8)] * 2
    with pytest.raises(ParameterError, match="seeds"):
        modified_toeplitz_hash_many(k, s[:1], 5)
    with pytest.raises(ParameterError, match="n_out"):
        modified_toeplitz_hash_many(k, s, [5])
    with pytest.raises(ParameterError, match="workers"):
        modified_toeplitz_hash_many(k, s, 5, workers=0)
    with pytest.raises(ParameterError, match="seed_bits"):
        modified_toeplitz_hash_many(k, [np.ones(9, np.uint8), np.ones(8, np.uint8)], 5, workers=2)


# ---- GPU (CuPy / cuFFT): skipped without CuPy and a CUDA GPU ----


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_gpu_equals_naive_near_power_of_two(data: st.DataObject) -> None:
    _gpu_or_skip()
    n, m = _boundary_sizes(data)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32), label="seed"))
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, seed_length(m, n), dtype=np.uint8)
    got = toeplitz_hash(x, s, m, backend="cupy")
    assert got.dtype == np.uint8
    assert got.tolist() == pa_toeplitz_product(x.tolist(), s.tolist(), m)


def test_gpu_equals_cpu_at_1e6_and_1e7_bits_and_worst_case() -> None:
    _gpu_or_skip()
    rng = np.random.default_rng(3)
    for n in (1_000_000, 10_000_000):
        m = n // 2
        x = rng.integers(0, 2, n, dtype=np.uint8)
        s = rng.integers(0, 2, n - 1, dtype=np.uint8)
        cpu = modified_toeplitz_hash(x, s, m, backend="numpy")
        assert np.array_equal(modified_toeplitz_hash(x, s, m, backend="cupy"), cpu)
        many = modified_toeplitz_hash_many([x, x], [s, s], m, backend="cupy")
        assert all(np.array_equal(g, cpu) for g in many)
    # all-ones key and seed: the largest entries (= n) and the largest rounding error
    n, m = 1 << 20, 1 << 19
    ones = toeplitz_hash(np.ones(n, np.uint8), np.ones(m + n - 1, np.uint8), m, backend="cupy")
    assert np.all(ones == n % 2)


# ---- tiled product (long keys on pocketfft): B × B tiles accumulated per row block ----


def _serial(jobs: list[Callable[[], None]]) -> None:
    for job in jobs:
        job()


@pytest.mark.parametrize("backend", INSTALLED)
@settings(max_examples=30, deadline=None)
@given(
    tile=st.sampled_from([8, 16, 32]),
    n_blocks=st.integers(1, 5),
    m_blocks=st.integers(1, 5),
    dn=st.integers(-2, 2),
    dm=st.integers(-2, 2),
    threads=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**32),
)
def test_tiled_product_equals_naive(
    backend: str,
    tile: int,
    n_blocks: int,
    m_blocks: int,
    dn: int,
    dm: int,
    threads: int,
    seed: int,
) -> None:
    # Sizes at and around multiples of the tile (partial last blocks, one-block cases).
    n, m = max(1, n_blocks * tile + dn), max(1, m_blocks * tile + dm)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, seed_length(m, n), dtype=np.uint8)
    growth = math.log1p(fft_error_bound(2 * tile, 1, 1))
    run = _serial if threads == 1 else toeplitz._runner(2)
    got = tiled_toeplitz(x, s, m, fft_pair(backend), growth, run, tile)
    assert got.tolist() == pa_toeplitz_product(x.tolist(), s.tolist(), m)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 400), m=st.integers(1, 399), seed=st.integers(0, 2**32))
def test_public_hashes_take_the_tiles_and_equal_naive(n: int, m: int, seed: int) -> None:
    # With a 32-bit tile every product with m + n − 1 > 64 goes through the tiles.
    m = min(m, n - 1) if n > 1 else 1
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s_mod = rng.integers(0, 2, modified_seed_length(m, n), dtype=np.uint8)
    s = rng.integers(0, 2, seed_length(m, n), dtype=np.uint8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(toeplitz, "_TILE", 32)
        mp.setattr(toeplitz, "_DIRECT_MAX_BITS", 0)
        for workers in (1, 2):
            got = modified_toeplitz_hash(x, s_mod, m, workers=workers, backend="numpy")
            assert got.tolist() == pp_modified_toeplitz(x.tolist(), s_mod.tolist(), m)
        got = toeplitz_hash(x, s, m, backend="numpy")
        assert got.tolist() == pa_toeplitz_product(x.tolist(), s.tolist(), m)


def test_tiled_equals_untiled_at_1e7_bits_and_all_ones_worst_case() -> None:
    # 10^7-bit modified hash: tiles of 2^20 points (numpy) against the row-split product
    # (numpy, tiles switched off) and, where installed, MKL's untiled product.
    rng = np.random.default_rng(17)
    n, m = 10_000_000, 5_000_000
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n - 1, dtype=np.uint8)
    tiled = modified_toeplitz_hash(x, s, m, backend="numpy", workers=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(toeplitz, "_TILED_BACKENDS", frozenset())
        assert np.array_equal(modified_toeplitz_hash(x, s, m, backend="numpy"), tiled)
    # all ones: every entry of every accumulated tile is as large as it gets (= n − m);
    # row i of the modified product is 1 ⊕ (n − m) mod 2.
    n2, m2 = 3 << 20, 1 << 20
    ones = modified_toeplitz_hash(np.ones(n2, np.uint8), np.ones(n2 - 1, np.uint8), m2)
    assert np.all(ones == (1 + n2 - m2) % 2)
    ones_tiled = modified_toeplitz_hash(
        np.ones(n2, np.uint8), np.ones(n2 - 1, np.uint8), m2, backend="numpy"
    )
    assert np.all(ones_tiled == (1 + n2 - m2) % 2)


def test_tiled_bound_is_tiny_at_1e7_and_its_guard_can_trigger() -> None:
    tile = 1 << 19
    growth = math.log1p(fft_error_bound(2 * tile, 1, 1))
    n_j = 10
    pop_x = np.full(n_j, tile, dtype=np.int64)  # all-ones key chunks
    pop_s = np.full(19, 2 * tile - 1, dtype=np.int64)  # all-ones seed segments
    bound = tiled_error_bound(pop_x, pop_s, 10, growth)
    # ≤ the bound of one convolution with the norm product Σ_J √(|σ||x_J|) = 10 · √(2B·B).
    assert 0.0 < bound < 1e-6
    x = np.ones(64, np.uint8)
    s = np.ones(64 + 63, np.uint8)
    with pytest.raises(ParameterError, match="provably exact"):
        tiled_toeplitz(x, s, 64, fft_pair("numpy"), math.log(1e6), _serial, 16)
