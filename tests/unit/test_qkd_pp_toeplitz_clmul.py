"""The carry-less (PCLMULQDQ) Toeplitz back end: bit-exact against the naive GF(2) products.

Sizes straddle the word (1, 63, 64, 65 bits), block-grid and Karatsuba-threshold boundaries:
with a small ``base`` the recursion goes many levels deep on keys the naive oracle can
check. Tests that compile the intrinsic are skipped on a CPU without PCLMULQDQ.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import pa_toeplitz_product, pp_modified_toeplitz

from qlight.errors import ParameterError
from qlight.qkd.postprocess import _gf2_clmul
from qlight.qkd.postprocess._gf2_clmul import (
    BASE_WORDS,
    clmul_available,
    clmul_toeplitz_bits,
    plan_words,
    vector_words,
)
from qlight.qkd.postprocess._toeplitz_fft import resolve_backend
from qlight.qkd.postprocess.toeplitz import modified_toeplitz_hash, toeplitz_hash
from qlight.qkd.postprocess.toeplitz_batch import modified_toeplitz_hash_many

needs_pclmul = pytest.mark.skipif(
    not clmul_available(), reason="CPU without PCLMULQDQ (or not x86-64): no clmul back end"
)

#: Bit lengths on word boundaries and on Karatsuba split points for bases 1..4 (64·B·2^k).
EDGES = [1, 2, 63, 64, 65, 127, 128, 129, 191, 192, 193, 255, 256, 257, 383, 384, 385, 511, 513]


def _slow_clmul(a: int, b: int) -> tuple[int, int]:
    r = 0
    for i in range(64):
        if (b >> i) & 1:
            r ^= a << i
    return r & (2**64 - 1), r >> 64


@needs_pclmul
@settings(max_examples=200, deadline=None)
@given(a=st.integers(0, 2**64 - 1), b=st.integers(0, 2**64 - 1))
def test_clmul64_intrinsic_equals_schoolbook(a: int, b: int) -> None:
    lo, hi = _gf2_clmul._clmul_pair(np.uint64(a), np.uint64(b))
    assert (int(lo), int(hi)) == _slow_clmul(a, b)


@needs_pclmul
@settings(max_examples=60, deadline=None)
@given(
    n=st.one_of(st.sampled_from(EDGES), st.integers(1, 600)),
    m=st.one_of(st.sampled_from(EDGES), st.integers(1, 600)),
    base=st.sampled_from([1, 2, 3, 5, 8, 12, 20]),
    seed=st.integers(0, 2**32),
)
def test_product_equals_naive_across_word_and_karatsuba_boundaries(
    n: int, m: int, base: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, m + n - 1, dtype=np.uint8)
    want = pa_toeplitz_product(x.tolist(), s.tolist(), m)
    assert clmul_toeplitz_bits(x, s, m, base).tolist() == want


@needs_pclmul
@pytest.mark.parametrize("base", [1, 3, 8, 12, None])
def test_all_ones_and_single_bits_are_exact(base: int | None) -> None:
    # all ones: y_i = number of seed-key products in row i (= n) mod 2
    n, m = 1000, 700
    ones = clmul_toeplitz_bits(np.ones(n, np.uint8), np.ones(m + n - 1, np.uint8), m, base)
    assert ones.tolist() == [n % 2] * m
    # a single key bit j selects column j of T: y_i = s[i − j + n − 1]
    rng = np.random.default_rng(5)
    s = rng.integers(0, 2, m + n - 1, dtype=np.uint8)
    for j in (0, 63, 64, 511, n - 1):
        x = np.zeros(n, np.uint8)
        x[j] = 1
        got = clmul_toeplitz_bits(x, s, m, base)
        assert np.array_equal(got, s[n - 1 - j : n - 1 - j + m])


def test_plan_words_covers_the_key_with_little_padding() -> None:
    width = vector_words()
    base = BASE_WORDS[width]
    assert base % width == 0
    for bits in (1, 64, 65, 640 * base + 1, 64 * 78125, 10**6, 5 * 10**6):
        q = plan_words(bits, 2 * bits)
        need = -(-bits // 64)
        assert q >= need
        # q = B·2^k with a block B of whole vectors, B <= base
        assert any(
            q % (1 << k) == 0 and (q >> k) % width == 0 and (q >> k) <= base for k in range(40)
        )
        # least k with ceil(need / 2^k) <= base, so for k >= 1 need > base·2^(k−1); the
        # padding is below W·2^k (ceil, then rounding up to W words): below 2·W·need/base
        assert q - need < max(width, 2 * width * need / base)


@needs_pclmul
@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 500), data=st.data())
def test_public_hashes_with_clmul_equal_naive(n: int, data: st.DataObject) -> None:
    m = data.draw(st.integers(1, n - 1), label="m")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32), label="seed"))
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, m + n - 1, dtype=np.uint8)
    assert toeplitz_hash(x, s, m, backend="clmul").tolist() == pa_toeplitz_product(
        x.tolist(), s.tolist(), m
    )
    sm = s[: n - 1]
    want = pp_modified_toeplitz(x.tolist(), sm.tolist(), m)
    assert modified_toeplitz_hash(x, sm, m, backend="clmul").tolist() == want
    assert modified_toeplitz_hash(x, sm, m).tolist() == want  # "auto" is clmul here


@needs_pclmul
def test_equals_fft_backend_at_1e6_bits() -> None:
    rng = np.random.default_rng(2026)
    n, m = 1_000_000, 500_000
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, n - 1, dtype=np.uint8)
    fast = modified_toeplitz_hash(x, s, m, backend="clmul")
    assert np.array_equal(fast, modified_toeplitz_hash(x, s, m, backend="numpy"))
    plain_seed = rng.integers(0, 2, 2 * n - 1, dtype=np.uint8)
    # a tall plain hash (m > n: several row blocks) against the FFT
    xs = x[:300_000]
    tall = toeplitz_hash(xs, plain_seed[: 700_000 + xs.size - 1], 700_000, backend="clmul")
    ref = toeplitz_hash(xs, plain_seed[: 700_000 + xs.size - 1], 700_000, backend="numpy")
    assert np.array_equal(tall, ref)


@needs_pclmul
def test_many_with_clmul_equals_one_by_one() -> None:
    rng = np.random.default_rng(9)
    keys = [rng.integers(0, 2, n, dtype=np.uint8) for n in (700, 1500, 3000)]
    seeds = [rng.integers(0, 2, k.size - 1, dtype=np.uint8) for k in keys]
    got = modified_toeplitz_hash_many(keys, seeds, 300, workers=2, backend="clmul")
    for k, s, g in zip(keys, seeds, got, strict=True):
        assert g.tolist() == pp_modified_toeplitz(k.tolist(), s.tolist(), 300)


def test_availability_matches_the_host_and_auto_follows_it() -> None:
    from llvmlite import binding

    expected = platform.machine().lower() in ("x86_64", "amd64") and bool(
        binding.get_host_cpu_features().get("pclmul", False)
    )
    assert clmul_available() is expected
    assert (resolve_backend("auto") == "clmul") is expected


def test_without_pclmul_auto_uses_the_fft_and_clmul_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_gf2_clmul, "_AVAILABLE", [False])
    assert resolve_backend("auto") in ("mkl", "numpy")
    x = np.ones(600, np.uint8)
    with pytest.raises(ParameterError, match="PCLMULQDQ"):
        modified_toeplitz_hash(x, np.ones(599, np.uint8), 300, backend="clmul")
    with pytest.raises(ParameterError, match="PCLMULQDQ"):
        modified_toeplitz_hash_many([x], [np.ones(599, np.uint8)], 300, backend="clmul")
    got = modified_toeplitz_hash(x, np.ones(599, np.uint8), 300)  # auto -> FFT, still exact
    assert got.tolist() == pp_modified_toeplitz([1] * 600, [1] * 599, 300)


_WIDTH_CHECK = """
import numpy as np
from tests.naive import pa_toeplitz_product
from qlight.qkd.postprocess._gf2_clmul import clmul_toeplitz_bits, vector_words
assert vector_words() == {width}, vector_words()
rng = np.random.default_rng({width})
for n, m, base in [(1, 1, None), (65, 700, None), (900, 800, None), (700, 900, 3),
                   (1500, 1400, 8), (1300, 600, 12), (5000, 300, None)]:
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = rng.integers(0, 2, m + n - 1, dtype=np.uint8)
    got = clmul_toeplitz_bits(x, s, m, base).tolist()
    assert got == pa_toeplitz_product(x.tolist(), s.tolist(), m), (n, m, base)
print("ok")
"""


@needs_pclmul
@pytest.mark.parametrize("width", [2, 4])
def test_narrower_vector_widths_are_exact(width: int, tmp_path: Path) -> None:
    # The vector width is fixed when the kernels compile; a fresh process with its own numba
    # cache directory and QLIGHT_CLMUL_WIDTH covers the XMM (plain PCLMULQDQ) and AVX2 paths.
    if width > vector_words():
        pytest.skip(f"this CPU has no {width}-word carry-less vectors")
    env = dict(os.environ, QLIGHT_CLMUL_WIDTH=str(width), NUMBA_CACHE_DIR=str(tmp_path))
    code = _WIDTH_CHECK.format(width=width)
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "ok"
