"""The post-processing pipeline: link record → identical final keys, or a clean abort."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from qlight.errors import ParameterError
from qlight.qkd.link import (
    BobDetectors,
    Eve,
    LinkChannel,
    LinkConfig,
    LinkRecord,
    LinkSource,
    simulate_link,
)
from qlight.qkd.postprocess.channel import Transport, channel_pair
from qlight.qkd.postprocess.errors import AuthenticationError, ProtocolAbort
from qlight.qkd.postprocess.keystore import KeyNotFoundError, MemoryKeyStore, SqliteKeyStore
from qlight.qkd.postprocess.pa_length import secret_length
from qlight.qkd.postprocess.pipeline import PipelineSettings, run_pipeline, store_final_key
from qlight.qkd.postprocess.sifting import sift
from qlight.qkd.theory.channel import DetectorModel, FibreChannel
from qlight.qkd.theory.presets import get_preset

_SRC = LinkSource("sps", (0.5,), (1.0,), 0.05)


def _config(distance_km: float, eve: Eve | None = None) -> LinkConfig:
    p = get_preset("gys")
    m = p.detector
    model = DetectorModel(m.efficiency, m.dark_yield, m.misalignment, 0.0, 0.0)
    chan = LinkChannel.from_theory(FibreChannel(distance_km, p.loss_db_per_km))
    return LinkConfig(_SRC, chan, BobDetectors(model), eve if eve is not None else Eve())


@cache
def _record(pulses: int = 60_000_000, distance_km: float = 10.0) -> LinkRecord:
    return simulate_link(_config(distance_km), pulses, np.random.default_rng(7))


@pytest.mark.parametrize("method", ["cascade-opt", "ldpc"])
def test_keys_identical_and_every_stage_accounted(method: str) -> None:
    rec = _record()
    chans = channel_pair()
    res = run_pipeline(
        rec, p_multi=_SRC.p_multi, settings=PipelineSettings(method=method),
        rng=np.random.default_rng(1), channels=chans,
    )  # fmt: skip
    st = {s.stage: s for s in res.stages}
    a_sift, b_sift = sift(rec)
    assert st["sifting"].alice_bits == st["sifting"].bob_bits == a_sift.size
    est = st["estimation"]
    assert est.detail["sample_bits"] == round(0.1 * a_sift.size)
    assert est.alice_bits == a_sift.size - est.detail["sample_bits"]
    # QBER of the sample vs the true QBER of the sifted key: binomial, sample ≥ 2·10^4 bits,
    # QBER ~3 %: sd = sqrt(q(1-q)/n) ≤ 1.2e-3; 5 sd = 6e-3.
    true_q = float(np.mean(a_sift != b_sift))
    assert abs(est.detail["qber"] - true_q) < 6e-3
    # Every leaked bit on the channel is in exactly one stage.
    total = chans[0].ledger.leaked_bits_sent + chans[1].ledger.leaked_bits_sent
    assert total == sum(s.leaked_bits for s in res.stages)
    assert st["verification"].leaked_bits == 50  # ceil(log2(1/1e-15))
    # The final length is the finite-key formula on the stage counts.
    n_rec = st["reconciliation"].alice_bits
    expected = secret_length(
        n_rec, est.detail["sample_bits"], est.detail["sample_errors"],
        st["reconciliation"].leaked_bits + st["verification"].leaked_bits,
        gain=float(np.mean(rec.intensity == 0)) * rec.intensity.size / rec.sent_per_intensity[0],
        p_multi=_SRC.p_multi,
    )  # fmt: skip
    assert res.final_key.size == expected.length_bits == st["privacy amplification"].alice_bits
    assert 0 < res.final_key.size < n_rec
    # A Toeplitz hash of a uniformly random key: mean of ~10^4 bits, sd ≤ 0.005; 6 sd.
    assert abs(float(res.final_key.mean()) - 0.5) < 0.03


def test_same_seed_same_stage_counts() -> None:
    rec = _record()
    runs = [run_pipeline(rec, p_multi=_SRC.p_multi, rng=np.random.default_rng(3)) for _ in range(2)]
    assert [s.alice_bits for s in runs[0].stages] == [s.alice_bits for s in runs[1].stages]
    assert [s.leaked_bits for s in runs[0].stages] == [s.leaked_bits for s in runs[1].stages]
    # Privacy-amplification seeds come from the OS CSPRNG: the final keys differ.
    assert not np.array_equal(runs[0].final_key, runs[1].final_key)


def test_intercept_resend_aborts_on_qber() -> None:
    rec = simulate_link(
        _config(10.0, Eve("intercept-resend", 1.0)), 10_000_000, np.random.default_rng(2)
    )
    with pytest.raises(ProtocolAbort, match="QBER"):
        run_pipeline(rec, p_multi=_SRC.p_multi, rng=np.random.default_rng(0))


def test_too_short_a_run_aborts_without_key() -> None:
    rec = simulate_link(_config(10.0), 3_000_000, np.random.default_rng(4))
    with pytest.raises(ProtocolAbort, match="no secret key"):
        run_pipeline(rec, p_multi=_SRC.p_multi, rng=np.random.default_rng(0))


class _Tamper:
    """Flip one bit of the ``index``-th frame this end sends."""

    def __init__(self, inner: Transport, index: int) -> None:
        self.inner, self.index, self.n = inner, index, 0

    def send_frame(self, data: bytes) -> None:
        if self.n == self.index:
            data = data[:-1] + bytes([data[-1] ^ 1])
        self.n += 1
        self.inner.send_frame(data)

    def recv_frame(self, timeout_s: float) -> bytes:
        return self.inner.recv_frame(timeout_s)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("frame", [0, 3])
def test_tampered_message_aborts(frame: int) -> None:
    chans = channel_pair(timeout_s=5.0)
    chans[0].transport = _Tamper(chans[0].transport, frame)
    with pytest.raises(AuthenticationError):
        run_pipeline(_record(), p_multi=_SRC.p_multi, rng=np.random.default_rng(0), channels=chans)


def test_store_final_key_in_both_stores(tmp_path: Path) -> None:
    res = run_pipeline(_record(), p_multi=_SRC.p_multi, rng=np.random.default_rng(5))
    alice, bob = MemoryKeyStore(), SqliteKeyStore(tmp_path / "bob.db")
    ids = store_final_key(res, alice, bob, 256)
    assert len(ids) == res.final_key.size // 256 == alice.count() == bob.count()
    assert [k.key for k in alice.take(ids[:3])] == [k.key for k in bob.take(ids[:3])]
    with pytest.raises(KeyNotFoundError):  # delivered keys are gone
        bob.take(ids[:1])


def test_bad_settings() -> None:
    with pytest.raises(ParameterError):
        PipelineSettings(method="winnow")
    with pytest.raises(ParameterError):
        PipelineSettings(sample_fraction=1.0)
    with pytest.raises(ParameterError):
        run_pipeline(_record(), p_multi=1.5, rng=np.random.default_rng(0))


def test_full_store_stores_nothing() -> None:
    res = run_pipeline(_record(), p_multi=_SRC.p_multi, rng=np.random.default_rng(6))
    alice, bob = MemoryKeyStore(), MemoryKeyStore(max_key_count=3)
    with pytest.raises(ParameterError, match="no room"):
        store_final_key(res, alice, bob, 256)
    assert alice.count() == bob.count() == 0


def test_privacy_amplification_uses_the_modified_toeplitz_family(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import qlight.qkd.postprocess.pipeline as pl
    from qlight.qkd.postprocess.toeplitz import toeplitz_hash

    calls: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]] = []
    real = pl.modified_toeplitz_hash

    def spy(key: np.ndarray, seed: np.ndarray, n_out: int) -> np.ndarray:
        out = real(key, seed, n_out)
        calls.append((key.copy(), seed.copy(), n_out, out))
        return out

    monkeypatch.setattr(pl, "modified_toeplitz_hash", spy)
    res = run_pipeline(_record(), p_multi=_SRC.p_multi, rng=np.random.default_rng(6))
    assert len(calls) == 2  # Alice and Bob, on the same key with the same public seed
    (ka, sa, ma, ya), (kb, sb, mb, yb) = calls
    assert np.array_equal(ka, kb)
    assert np.array_equal(sa, sb)
    assert ma == mb == res.final_key.size
    assert sa.size == ka.size - 1  # (I | T): n - 1 seed bits instead of n + m - 1
    # y = x[:m] xor T x[m:], T the m x (n - m) Toeplitz matrix of the seed (definition).
    assert np.array_equal(ya, ka[:ma] ^ toeplitz_hash(ka[ma:], sa, ma))
    assert np.array_equal(ya, res.final_key)
    assert np.array_equal(yb, res.final_key)
