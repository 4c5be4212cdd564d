"""The whole post-processing chain, from a link record to identical final keys.

``simulate_link`` (or a saved record) → sifting → parameter estimation → reconciliation
(Cascade or LDPC) → verification → privacy amplification → final keys, which are then put,
under the same UUIDs, in Alice's and Bob's key stores (or written to a key file).

Alice and Bob run in two threads and share nothing but the authenticated channel
(:func:`~qlight.qkd.postprocess.channel.run_two_party`); every stage's bit counts go into
a :class:`StageSummary`. Privacy amplification hashes with the modified Toeplitz family
``(I | T)`` (:data:`PA_FAMILY`). Any failure — QBER too high, mismatched blocks, authentication
failure, verification mismatch, no secret key left — raises
:class:`~qlight.qkd.postprocess.errors.ProtocolAbort` with the reason; no key is returned
or stored unless both parties finished and their final keys are identical.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.link import LinkRecord
from qlight.qkd.postprocess.cascade import CascadeReconciler
from qlight.qkd.postprocess.channel import AuthenticatedChannel, channel_pair, run_two_party
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.estimation import estimate_alice, estimate_bob
from qlight.qkd.postprocess.keystore import KeyStore, split_key
from qlight.qkd.postprocess.ldpc import LdpcReconciler
from qlight.qkd.postprocess.messages import Message, public_message
from qlight.qkd.postprocess.pa_length import SecretLength, secret_length
from qlight.qkd.postprocess.reconcile import Reconciler, binary_entropy
from qlight.qkd.postprocess.sifting import alice_view, bob_view, sift_alice, sift_bob
from qlight.qkd.postprocess.toeplitz import (
    modified_seed_length,
    modified_toeplitz_hash,
    random_seed_bits,
)
from qlight.qkd.postprocess.verification import verify_alice, verify_bob

__all__ = [
    "METHODS",
    "PipelineResult",
    "PipelineSettings",
    "StageSummary",
    "make_reconciler",
    "run_pipeline",
    "store_final_key",
]

METHODS = ("cascade", "cascade-opt", "ldpc")
#: Stages reported to the progress callback (one unit each).
STAGES = ("sifting", "estimation", "reconciliation", "verification", "privacy amplification")
#: Hash family of privacy amplification, announced in the ``pa/seed`` message: the modified
#: Toeplitz matrix (I | T) of Hayashi & Tsurumaru, IEEE Trans. Inf. Theory 62, 2213 (2016),
#: 2-universal like the plain Toeplitz family, with n − 1 seed bits and half-length FFTs
#: (:func:`~qlight.qkd.postprocess.toeplitz.modified_toeplitz_hash`).
PA_FAMILY = "modified-toeplitz"


def make_reconciler(method: str) -> Reconciler:
    """The reconciler of a method name (``cascade``, ``cascade-opt`` or ``ldpc``)."""
    if method == "cascade":
        return CascadeReconciler(variant="original")
    if method == "cascade-opt":
        return CascadeReconciler(variant="optimized")
    if method == "ldpc":
        return LdpcReconciler()
    raise ParameterError("method", method, f"must be one of {' | '.join(METHODS)}")


@dataclass(frozen=True)
class PipelineSettings:
    """Security and protocol parameters of one post-processing run.

    Parameters
    ----------
    method : str
        ``cascade``, ``cascade-opt`` or ``ldpc``.
    sample_fraction : float
        Fraction of the sifted key disclosed to estimate the QBER, in (0, 1).
    eps_pe : float
        Failure probability of the QBER upper bound.
    eps_sec, eps_cor : float
        Secrecy and correctness parameters (ε_cor also sets the verification tag length).
    transport : str
        ``inprocess`` or ``tcp`` (loopback).
    """

    method: str = "cascade-opt"
    sample_fraction: float = 0.1
    eps_pe: float = 1e-10
    eps_sec: float = 1e-10
    eps_cor: float = 1e-15
    transport: str = "inprocess"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ParameterError("method", self.method, f"must be one of {' | '.join(METHODS)}")
        if not 0.0 < self.sample_fraction < 1.0:
            raise ParameterError("sample_fraction", self.sample_fraction, "must be in (0, 1)")
        for name in ("eps_pe", "eps_sec", "eps_cor"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise ParameterError(name, v, "must be in (0, 1)")
        if self.transport not in ("inprocess", "tcp"):
            raise ParameterError("transport", self.transport, "must be inprocess or tcp")


@dataclass(frozen=True)
class StageSummary:
    """Bits entering and leaving one stage on each side, and bits it disclosed."""

    stage: str
    alice_bits: int
    bob_bits: int
    leaked_bits: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineResult:
    """A successful run: the final key (identical on both sides) and every stage's counts."""

    final_key: NDArray[np.uint8]
    stages: list[StageSummary]
    secret: SecretLength
    qber: float
    qber_upper: float
    wall_s: float


@dataclass
class _Side:
    """What one party learned along the way (for the stage summary)."""

    counts: dict[str, Any] = field(default_factory=dict)


def _leak(ch: AuthenticatedChannel) -> int:
    return int(ch.ledger.leaked_bits_sent)


def _alice(
    record: LinkRecord,
    ch: AuthenticatedChannel,
    st: PipelineSettings,
    reconciler: Reconciler,
    rng: np.random.Generator,
    gain: float,
    p_multi: float,
    advance: Callable[[float], None],
) -> tuple[NDArray[np.uint8], dict[str, Any]]:
    c: dict[str, Any] = {}
    key = sift_alice(alice_view(record), ch)
    c["sifted"] = int(key.size)
    advance(1.0)
    sample = round(st.sample_fraction * key.size)
    if not 0 < sample < key.size:
        raise ProtocolAbort(f"sifted key of {key.size} bits too short to estimate the QBER")
    rem, est = estimate_alice(key, ch, sample_size=sample, eps=st.eps_pe, rng=rng)
    c["estimate"] = est
    c["remaining"] = int(rem.size)
    c["leak_estimation"] = int(est.n_sample)  # Bob reveals the sample; it is discarded
    advance(1.0)
    if est.upper > reconciler.max_qber:
        raise ProtocolAbort(
            f"QBER upper bound {est.upper:.4f} above what {reconciler.name} supports "
            f"({reconciler.max_qber})"
        )
    leak1 = _leak(ch)
    t0 = time.perf_counter()
    rec = reconciler.alice(rem, est.qber, ch, rng)
    c["reconcile_s"] = time.perf_counter() - t0
    c["reconciled"] = int(rec.size)
    c["leak_reconciliation"] = _leak(ch) - leak1
    advance(1.0)
    leak2 = _leak(ch)
    if not verify_alice(rec, ch, st.eps_cor, rng):
        raise ProtocolAbort("verification failed: the keys differ after reconciliation")
    c["leak_verification"] = _leak(ch) - leak2
    advance(1.0)
    bob_leak = int(ch.recv("pa/leak").meta["leaked_bits"])
    leak_ec = _leak(ch) - leak1 + bob_leak
    c["leak_bob"] = bob_leak
    sl = secret_length(
        int(rec.size), int(est.n_sample), int(est.n_errors), leak_ec,
        gain=gain, p_multi=p_multi, eps_sec=st.eps_sec, eps_cor=st.eps_cor,
    )  # fmt: skip
    c["secret"] = sl
    if sl.length_bits == 0:
        ch.send(public_message("pa/seed", {"n_out": 0, "n_in": int(rec.size)}))
        raise ProtocolAbort(f"no secret key: {sl.reason}")
    if sl.length_bits >= rec.size:  # pragma: no cover - the finite-key length is < n
        raise ProtocolAbort("finite-key length not below the reconciled key length")
    seed = random_seed_bits(modified_seed_length(sl.length_bits, int(rec.size)))
    meta: dict[str, int | float | str | bool] = {
        "n_out": sl.length_bits,
        "n_in": int(rec.size),
        "family": PA_FAMILY,
    }
    ch.send(Message("pa/seed", meta, bits={"seed": seed}, leaked_bits=0))  # public seed
    t0 = time.perf_counter()
    final = modified_toeplitz_hash(rec, seed, sl.length_bits)
    c["pa_s"] = time.perf_counter() - t0
    advance(1.0)
    return final, c


def _bob(
    record: LinkRecord,
    ch: AuthenticatedChannel,
    reconciler: Reconciler,
    rng: np.random.Generator,
) -> tuple[NDArray[np.uint8], dict[str, Any]]:
    c: dict[str, Any] = {}
    key = sift_bob(bob_view(record), ch)
    c["sifted"] = int(key.size)
    rem, est = estimate_bob(key, ch)
    c["remaining"] = int(rem.size)
    if est.upper > reconciler.max_qber:
        raise ProtocolAbort(f"QBER upper bound {est.upper:.4f} too high for {reconciler.name}")
    leak1 = _leak(ch)
    rec = reconciler.bob(rem, est.qber, ch, rng)
    c["reconciled"] = int(rec.size)
    if not verify_bob(rec, ch):
        raise ProtocolAbort("verification failed: the keys differ after reconciliation")
    ch.send(public_message("pa/leak", {"leaked_bits": _leak(ch) - leak1}))
    msg = ch.recv("pa/seed")
    n_out, n_in = int(msg.meta["n_out"]), int(msg.meta["n_in"])
    if n_in != rec.size:
        raise ProtocolAbort("mismatched block sizes before privacy amplification")
    if n_out == 0:
        raise ProtocolAbort("no secret key (Alice's finite-key length is 0)")
    seed = msg.array("seed")
    if msg.meta.get("family") != PA_FAMILY or not 1 <= n_out < n_in or seed.size != n_in - 1:
        raise ProtocolAbort("malformed privacy-amplification seed")
    final = modified_toeplitz_hash(rec, seed, n_out)
    return final, c


def run_pipeline(
    record: LinkRecord,
    *,
    p_multi: float,
    settings: PipelineSettings | None = None,
    rng: np.random.Generator,
    progress: Callable[[float], None] | None = None,
    channels: tuple[AuthenticatedChannel, AuthenticatedChannel] | None = None,
) -> PipelineResult:
    """Run Alice and Bob on a link record and return the final key (see module docstring).

    Parameters
    ----------
    record : LinkRecord
        Raw data of the link (Alice uses only her columns, Bob only his).
    p_multi : float
        Multi-photon probability of the signal class (``LinkSource.p_multi``).
    settings : PipelineSettings, optional
        Method and security parameters (defaults: :class:`PipelineSettings`).
    rng : numpy.random.Generator
        Protocol randomness (sampling, Cascade permutations); privacy-amplification seeds
        come from the operating system's CSPRNG instead.
    progress : callable, optional
        Advanced by one per finished stage (:data:`STAGES`).
    channels : pair of AuthenticatedChannel, optional
        Alice's and Bob's ends (default: a fresh pair of ``settings.transport``).

    Raises
    ------
    ProtocolAbort
        With the reason; no key is returned.
    """
    st = PipelineSettings() if settings is None else settings
    if not 0.0 <= p_multi <= 1.0:
        raise ParameterError("p_multi", p_multi, "must be in [0, 1]")
    sent = int(record.sent_per_intensity[0]) if record.sent_per_intensity.size else 0
    detected = int(np.count_nonzero(record.intensity == 0))
    if sent == 0 or detected == 0:
        raise ProtocolAbort("no detections of the signal intensity: nothing to post-process")
    gain = detected / sent
    chans = channel_pair(st.transport) if channels is None else channels
    reconciler = make_reconciler(st.method)
    ra, rb = rng.spawn(2)
    step = progress if progress is not None else (lambda _x: None)
    t0 = time.perf_counter()
    try:
        (ka, ca), (kb, cb) = run_two_party(
            lambda: _alice(record, chans[0], st, reconciler, ra, gain, p_multi, step),
            lambda: _bob(record, chans[1], reconciler, rb),
            chans,
        )
    finally:
        if channels is None:
            for ch in chans:
                ch.close()
    wall = time.perf_counter() - t0
    if not np.array_equal(ka, kb):  # probability <= eps_cor after verification
        raise ProtocolAbort("final keys differ (verification passed with probability <= eps_cor)")
    return PipelineResult(ka, _stages(ca, cb, reconciler), ca["secret"], *_qber(ca), wall)


def _qber(c: dict[str, Any]) -> tuple[float, float]:
    est = c["estimate"]
    return float(est.qber), float(est.upper)


def _stages(ca: dict[str, Any], cb: dict[str, Any], rec: Reconciler) -> list[StageSummary]:
    est = ca["estimate"]
    sl: SecretLength = ca["secret"]
    n_rem, n_rec = ca["remaining"], ca["reconciled"]
    leak_rec = ca["leak_reconciliation"] + ca["leak_bob"]
    h = binary_entropy(float(est.qber))
    detail_rec: dict[str, Any] = {
        "method": rec.name,
        # f = leak / (n h(Q)) over the bits that came out reconciled (Martinez-Mateo 2015)
        "efficiency": leak_rec / (n_rec * h) if n_rec and h > 0 else None,
        "wall_s": ca["reconcile_s"],
    }
    if isinstance(rec, LdpcReconciler):
        detail_rec |= {"frames": rec.frames, "frame_errors": rec.frame_errors}
    return [
        StageSummary("sifting", ca["sifted"], cb["sifted"]),
        StageSummary(
            "estimation",
            n_rem,
            cb["remaining"],
            ca["leak_estimation"],
            {
                "sample_bits": int(est.n_sample),
                "sample_errors": int(est.n_errors),
                "qber": float(est.qber),
                "qber_upper": float(est.upper),
            },
        ),
        StageSummary("reconciliation", ca["reconciled"], cb["reconciled"], leak_rec, detail_rec),
        StageSummary("verification", ca["reconciled"], cb["reconciled"], ca["leak_verification"]),
        StageSummary(
            "privacy amplification",
            sl.length_bits,
            sl.length_bits,
            0,
            {
                "phase_error_bound": sl.phase_error_bound,
                "tagged_fraction": sl.tagged_fraction,
                "leak_ec_bits": sl.leak_ec_bits,
                "penalty_bits": sl.penalty_bits,
                "wall_s": ca["pa_s"],
            },
        ),
    ]


def store_final_key(
    result: PipelineResult,
    alice_store: KeyStore,
    bob_store: KeyStore,
    key_size_bits: int = 256,
) -> list[str]:
    """Cut the final key into ``key_size_bits`` keys and put each, under one UUID, in both
    parties' stores. Returns the IDs (the remainder shorter than a key is dropped).

    Checks first that both stores have room for every key, so a full store stores nothing.
    """
    keys = split_key(result.final_key, key_size_bits)
    for name, store in (("alice_store", alice_store), ("bob_store", bob_store)):
        st = store.status()
        if st.max_key_count is not None and st.stored_key_count + len(keys) > st.max_key_count:
            raise ParameterError(name, st.stored_key_count, f"has no room for {len(keys)} keys")
    ids = [alice_store.put(k, key_size_bits) for k in keys]
    for kid, k in zip(ids, keys, strict=True):
        bob_store.put(k, key_size_bits, key_id=kid)
    return ids
