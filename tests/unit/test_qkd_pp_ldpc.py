"""Rate-adaptive LDPC reconciliation as a two-party protocol over the authenticated channel."""

from __future__ import annotations

import numpy as np
import pytest
from tests.naive import ldpc_has_4_cycle, pa_syndrome

from qlight.errors import ParameterError
from qlight.qkd.postprocess._ldpc_codes import (
    LAMBDA,
    degree_profile,
    peg_code,
    peg_matrix,
    variable_degrees,
)
from qlight.qkd.postprocess.channel import channel_pair, run_two_party
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.ldpc import (
    MOTHER_RATES,
    LdpcReconciler,
    choose_rate,
    make_code,
    make_random_code,
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


def _rows(h: object) -> list[list[int]]:
    import scipy.sparse as sp

    assert isinstance(h, sp.csr_matrix)
    return [h.indices[h.indptr[i] : h.indptr[i + 1]].tolist() for i in range(h.shape[0])]


def test_profiles_are_normalised_and_give_the_design_rate() -> None:
    for rate, prof in LAMBDA.items():
        total = sum(w for _, w in prof)
        # printed to 4-6 digits; the 0.85 row of the paper sums to 1.05 (renormalised)
        assert total == pytest.approx(1.0, abs=0.06 if rate == 0.85 else 2e-4)
        deg = variable_degrees(prof, 10_000)
        assert deg.size == 10_000
        assert np.all(np.diff(deg) >= 0)
        # node fractions L_i = (λ_i/i)/Σ(λ_j/j): each count within rounding (±1) of n L_i
        lam = np.array([w for _, w in prof])
        d = np.array([i for i, _ in prof])
        expect = 10_000 * (lam / d) / np.sum(lam / d)
        got = np.array([np.count_nonzero(deg == i) for i in d])
        assert np.all(np.abs(got - expect) <= 1.0)
    assert degree_profile(0.4) == LAMBDA[0.5]
    assert degree_profile(0.62) == LAMBDA[0.6]


@pytest.mark.parametrize("rate", [0.5, 0.7, 0.9])
def test_peg_code_degrees_follow_the_profile(rate: float) -> None:
    n = 4096
    h = make_code(rate, n)
    m = round((1 - rate) * n)
    assert h.shape == (m, n)
    assert set(np.unique(h.data)) == {1}
    col = np.sort(np.asarray(h.sum(axis=0)).ravel())
    # every variable gets exactly its designed degree (PEG never drops an edge here)
    assert np.array_equal(col, np.minimum(variable_degrees(degree_profile(rate), n), m))
    row = np.diff(h.indptr)
    lo = h.nnz // m
    # concentrated check degrees: nearly all on ⌊E/m⌋, ⌈E/m⌉ (a few more where the
    # farthest-check rule overrides the lowest-degree rule)
    assert np.count_nonzero((row == lo) | (row == lo + 1)) >= 0.9 * m
    assert row.max() - row.min() <= 4
    assert (make_code(rate, n) != h).nnz == 0
    assert (peg_code.__wrapped__(rate, n) != h).nnz == 0  # deterministic, not only cached


def test_peg_small_code_has_no_4_cycles_random_code_has() -> None:
    # (3, 6)-regular, n = 600: PEG (depth >= 1) promises girth >= 6 (Hu et al. 2005, Sec. III)
    h = peg_matrix(np.full(600, 3, dtype=np.int64), 300, seed=5)
    assert np.array_equal(np.asarray(h.sum(axis=0)).ravel(), np.full(600, 3))
    row = np.diff(h.indptr)
    assert row.sum() == 1800
    assert row.min() >= 5
    assert row.max() <= 7
    assert not ldpc_has_4_cycle(_rows(h))
    # depth 0 (first edge rule only) and the random codes do have 4-cycles: the oracle bites
    assert ldpc_has_4_cycle(_rows(make_random_code(0.5, 600)))
    assert ldpc_has_4_cycle(_rows(peg_matrix(np.full(600, 3, dtype=np.int64), 300, 5, 0)))


def test_peg_bad_input() -> None:
    with pytest.raises(ParameterError):
        peg_matrix(np.array([0, 2], dtype=np.int64), 10)
    with pytest.raises(ParameterError):
        peg_matrix(np.array([20], dtype=np.int64), 10)
    with pytest.raises(ParameterError):
        LdpcReconciler(code="turbo")


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


def test_choose_rate_prefers_shortening() -> None:
    # R = 0.913 lies in the ranges of 0.85 ([0.833, 0.944]) and 0.9 ([0.889, 1.0]): the
    # higher mother rate is taken, so the frame is mostly shortened, not punctured.
    r0, r = choose_rate(0.01, 1.08)
    assert r0 == 0.9
    assert r == pytest.approx(1 - 1.08 * binary_entropy(0.01))


def test_random_code_family_still_runs_and_bob_follows_alices_choice() -> None:
    a, b = _pair(30_000, 0.02, 4)
    rec = LdpcReconciler(code="random", f_target=1.5)
    res = reconcile(rec, a, b, 0.02, channel_pair(), np.random.default_rng(3))
    assert rec._plan(0.02)["code"] == "random"
    assert rec.frames == 2
    assert rec.frame_errors == 0  # f = 1.5 is far above what the random codes need at 2 %
    assert np.array_equal(res.alice_key, res.bob_key)


def test_blind_rounds_reveal_punctured_bits_and_account_for_them() -> None:
    # Start at f = 1.0 (the Shannon limit: round 1 fails for every frame), then reveal a
    # third of the punctured bits of the failed frames per round (Martinez-Mateo 2012).
    q = 0.03
    rec = LdpcReconciler(f_target=1.0, rounds=4)
    plan = rec._plan(q)
    k = plan["n"] - plan["p"] - plan["s"]
    assert plan["rate"] == 0.75  # lowest mother rate covering R: puncturing-heavy
    a, b = _pair(4 * k, q, 21)
    chans = channel_pair()
    res = reconcile(rec, a, b, q, chans, np.random.default_rng(5))
    m = make_code(plan["rate"], plan["n"]).shape[0]
    step = plan["p"] // 3
    assert rec.revealed_bits > 0
    assert rec.revealed_bits % step == 0
    assert rec.revealed_bits <= 4 * 3 * step
    assert res.leaked_bits == rec.frames * (m - plan["p"]) + rec.revealed_bits
    assert chans[0].ledger.leaked_bits_sent == res.leaked_bits
    assert chans[1].ledger.leaked_bits_sent == 0
    assert np.array_equal(res.alice_key, res.bob_key)
    assert res.alice_key.size == (rec.frames - rec.frame_errors) * k
    # at Q = 3 % the fully revealed code (f = m/(k h) = 1.43) decodes: measured 0 failures
    assert rec.frame_errors == 0


def test_bad_rounds() -> None:
    with pytest.raises(ParameterError):
        LdpcReconciler(rounds=0)
