"""Rate-adaptive LDPC reconciliation as a two-party protocol over the authenticated channel."""

from __future__ import annotations

import numpy as np
import pytest
from tests.naive import pa_syndrome

from qlight.errors import ParameterError
from qlight.qkd.postprocess.channel import channel_pair, run_two_party
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.ldpc import (
    MOTHER_RATES,
    LdpcReconciler,
    choose_rate,
    make_code,
    syndrome,
)
from qlight.qkd.postprocess.reconcile import reconcile
from qlight.qkd.theory import binary_entropy


def _pair(n: int, q: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n, dtype=np.uint8)
    return a, a ^ (rng.random(n) < q).astype(np.uint8)


def test_code_shape_degrees_and_determinism() -> None:
    h = make_code(0.7, 4096)
    assert h.shape == (round(0.3 * 4096), 4096)
    col = np.asarray(h.sum(axis=0)).ravel()
    assert col.min() >= 1
    assert set(np.unique(h.data)) == {1}
    assert (make_code(0.7, 4096) != h).nnz == 0  # public code: both parties build the same


def test_syndrome_equals_naive() -> None:
    h = make_code(0.5, 256)
    x = np.random.default_rng(3).integers(0, 2, 256, dtype=np.uint8)
    rows = [list(h.indices[h.indptr[i] : h.indptr[i + 1]]) for i in range(h.shape[0])]
    assert syndrome(h, x).tolist() == pa_syndrome(rows, x.tolist())


@pytest.mark.parametrize("q", [0.01, 0.02, 0.05, 0.08, 0.1])
def test_rates_cover_qber_1_to_10_percent(q: float) -> None:
    r0, r = choose_rate(q, 1.2)
    assert r0 in MOTHER_RATES
    assert (r0 - 0.1) / 0.9 <= r <= r0 / 0.9
    assert r == pytest.approx(1.0 - 1.2 * binary_entropy(q))


@pytest.mark.parametrize("q", [0.02, 0.05])
def test_two_party_keys_agree_and_leak_is_accounted(q: float) -> None:
    a, b = _pair(120_000, q, 11)
    rec = LdpcReconciler()
    chans = channel_pair()
    res = reconcile(rec, a, b, q, chans, np.random.default_rng(1))
    plan = rec._plan(q)
    k = plan["n"] - plan["p"] - plan["s"]
    m = make_code(plan["rate"], plan["n"]).shape[0]
    assert rec.frames == a.size // k
    # Leak = (syndrome − punctured) bits of every frame sent, failed ones included.
    assert res.leaked_bits == rec.frames * (m - plan["p"])
    assert chans[0].ledger.leaked_bits_sent == res.leaked_bits
    assert chans[1].ledger.leaked_bits_sent == 0
    ok = rec.frames - rec.frame_errors
    assert res.alice_key.size == res.bob_key.size == ok * k
    assert np.array_equal(res.alice_key, res.bob_key)
    # Alice keeps her own bits: the surviving frames are prefixes of her key's frames.
    assert rec.frame_error_rate <= 0.35  # measured 0-3 failed frames of 8 at these settings
    f = (m - plan["p"]) / (k * binary_entropy(q))
    assert 1.0 < f < 1.7


def test_at_the_shannon_limit_frames_fail_and_are_dropped() -> None:
    # f = 1.0 (rate = capacity) cannot be decoded by a finite-length code: frame errors are
    # reported and the failed frames dropped by both sides, never returned as key.
    a, b = _pair(60_000, 0.05, 5)
    rec = LdpcReconciler(f_target=1.0)
    res = reconcile(rec, a, b, 0.05, channel_pair(), np.random.default_rng(2))
    assert rec.frame_errors >= rec.frames - 1
    assert np.array_equal(res.alice_key, res.bob_key)


def test_qber_too_high_aborts() -> None:
    a, b = _pair(40_000, 0.15, 1)
    with pytest.raises(ProtocolAbort, match="QBER"):
        reconcile(LdpcReconciler(), a, b, 0.15, channel_pair(), np.random.default_rng(0))


def test_mismatched_block_sizes_abort() -> None:
    a, b = _pair(40_000, 0.02, 1)
    rec = LdpcReconciler()
    ca, cb = channel_pair()
    rng = np.random.default_rng(0)
    with pytest.raises(ProtocolAbort, match="mismatched block sizes"):
        run_two_party(
            lambda: rec.alice(a, 0.02, ca, rng),
            lambda: rec.bob(b[:-5], 0.02, cb, np.random.default_rng(1)),
            (ca, cb),
        )


def test_bad_parameters() -> None:
    with pytest.raises(ParameterError):
        LdpcReconciler(frame_bits=100)
    with pytest.raises(ParameterError):
        LdpcReconciler(f_target=0.9)
    with pytest.raises(ParameterError):
        make_code(1.2, 1024)
