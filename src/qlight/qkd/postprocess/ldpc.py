"""Rate-adaptive LDPC reconciliation: one syndrome per frame, belief propagation at Bob.

Protocol (Elkouss, Martinez-Mateo, Martin, "Information reconciliation for quantum key
distribution", QIC 11, 226 (2011), Sec. 4; rate adaptation by puncturing and shortening:
Elkouss, Martinez-Mateo, Lancho, Martin, "Rate compatible protocol for information
reconciliation: an application to QKD", IEEE ITW 2010):

1. Alice picks, from the estimated QBER q, the mother code (rate ``R0``, length ``n``,
   ``m = (1 − R0) n`` checks) and the numbers ``p`` of punctured and ``s`` of shortened
   positions (``p + s = d``) that give the target rate ``R = 1 − f_target h(q)``:
   ``R = (R0 n − s) / (n − d)``. Each frame carries ``n − d`` key bits; the ``d`` positions
   (chosen by a public random seed) hold fresh random bits (punctured, unknown to Bob) or
   public random values (shortened, known to Bob). Alice sends ``n``, the code, ``p``, ``s``,
   the seed and every frame's syndrome ``H x`` (``m`` bits per frame).
2. Bob decodes each frame with belief propagation (the ``ldpc`` package's ``BpDecoder``,
   sum-product) from the syndrome ``H y ⊕ H x`` of his error pattern, with the channel
   prior ``q`` on key bits, 1/2 on punctured and ~0 on shortened bits. A frame whose decoder
   does not satisfy the syndrome is a *frame error*; Bob announces the failed frames and
   both discard them (their syndromes still count as leaked).
3. Leaked bits per frame: ``m − p`` (the syndrome, less the punctured bits, which were
   random and independent of the key; Elkouss et al. 2010, Eq. (5)); the syndrome message
   declares exactly this many leaked bits, so the channel ledger holds the true leak.
4. Optional blind rounds (``rounds > 1``; Martinez-Mateo, Elkouss, Martin, "Blind
   reconciliation", QIC 12, 791 (2012)): for frames that failed, Alice reveals the values of
   some punctured positions (each revealed bit leaked) and Bob decodes them again.

Codes: :func:`make_code` builds parity-check matrices by progressive edge growth (Hu,
Eleftheriou, Arnold, IEEE Trans. Inf. Theory 51, 386 (2005)) with the BSC-optimised
variable-degree profiles of Elkouss, Leverrier, Alléaume, Boutros (ISIT 2009, Table I) and
concentrated check degrees (:mod:`qlight.qkd.postprocess._ldpc_codes`). The earlier random
socket-matching codes remain available as :func:`make_random_code` (for comparison).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.postprocess._ldpc_codes import peg_code
from qlight.qkd.postprocess.channel import AuthenticatedChannel
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.messages import bits_message, public_message
from qlight.qkd.theory import binary_entropy

__all__ = [
    "MOTHER_RATES",
    "LdpcReconciler",
    "choose_rate",
    "make_code",
    "make_random_code",
    "syndrome",
]

#: Mother code rates (Elkouss et al. 2009, Table I, plus 0.4 with the 0.5 profile); with
#: d = 10 % of the frame each covers [(R0 − 0.1)/0.9, R0/0.9].
MOTHER_RATES: tuple[float, ...] = (0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
_CODE_SEED = 20_260_127  # the codes are public and fixed: both parties build the same ones
_SHORT_P = 1e-12  # prior error probability of a shortened (known) bit


def make_code(rate: float, n: int) -> sp.csr_matrix:
    """Parity-check matrix (``m × n``, ``m = round((1 − rate) n)``) of the PEG code used by
    the protocol (see :func:`qlight.qkd.postprocess._ldpc_codes.peg_code`); public,
    deterministic and cached in memory."""
    return peg_code(rate, n)


@lru_cache(maxsize=32)
def make_random_code(rate: float, n: int) -> sp.csr_matrix:
    """Parity-check matrix (``m × n``, ``m = round((1 − rate) n)``) of an irregular LDPC code.

    Variable node degrees: ``0.8 m`` nodes of degree 2, the rest 85 % degree 3 and 15 %
    degree 8; check degrees as equal as possible; edges by a random (seeded, hence public
    and reproducible) socket permutation, parallel edges dropped.
    """
    if not 0.0 < rate < 1.0:
        raise ParameterError("rate", rate, "must be in (0, 1)")
    if isinstance(n, bool) or not isinstance(n, int) or n < 64:
        raise ParameterError("n", n, "must be an integer >= 64")
    m = round((1.0 - rate) * n)
    rng = np.random.default_rng(_CODE_SEED + n + round(rate * 1000))
    n2 = min(int(0.8 * m), n)
    rest = n - n2
    n8 = int(0.15 * rest)
    deg = np.concatenate([np.full(n2, 2), np.full(rest - n8, 3), np.full(n8, 8)]).astype(np.int64)
    rng.shuffle(deg)
    var_sockets = np.repeat(np.arange(n, dtype=np.int64), deg)
    e = var_sockets.size
    chk_sockets = np.arange(e, dtype=np.int64) % m
    rng.shuffle(chk_sockets)
    h = sp.coo_matrix(
        (np.ones(e, dtype=np.uint8), (chk_sockets, var_sockets)), shape=(m, n)
    ).tocsr()
    h.data[:] = 1  # parallel edges (summed entries) become single edges
    h.eliminate_zeros()
    return h


def syndrome(h: sp.csr_matrix, bits: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``H x mod 2``."""
    return (np.asarray(h @ bits.astype(np.int64)) & 1).astype(np.uint8)


def choose_rate(
    qber: float, f_target: float, delta: float = 0.1, *, prefer: str = "shortening"
) -> tuple[float, float]:
    """Mother rate ``R0`` and target rate ``R = 1 − f h(q)`` reachable with ``p + s = d``.

    Returns the highest (``prefer="shortening"``) or lowest (``"puncturing"``) mother rate
    whose range ``[(R0 − δ)/(1 − δ), R0/(1 − δ)]`` contains ``R`` (or the lowest mother
    rate if ``R`` is below all ranges).
    """
    r = 1.0 - f_target * binary_entropy(qber)
    # highest mother rate: shortening rather than puncturing (better BP performance); lowest
    # ("puncturing"): most punctured bits, for blind reconciliation to reveal
    for r0 in sorted(MOTHER_RATES, reverse=prefer == "shortening"):
        if (r0 - delta) / (1.0 - delta) <= r <= r0 / (1.0 - delta):
            return r0, r
    if r > max(MOTHER_RATES) / (1.0 - delta):
        return max(MOTHER_RATES), max(MOTHER_RATES) / (1.0 - delta)
    return min(MOTHER_RATES), max(r, (min(MOTHER_RATES) - delta) / (1.0 - delta))


def _default_f(qber: float) -> float:
    """Target efficiency the PEG codes reach at frame error rate ≲ 10 % (n = 2^14,
    sum-product, 60 iterations; measured by benchmarks/bench_ldpc.py), interpolated linearly
    in the QBER; below 1 % the conservative 1.6 of the earlier codes is kept (not measured)."""
    return float(np.interp(qber, _F_TABLE_Q, _F_TABLE_F))


_F_TABLE_Q = (0.005, 0.01, 0.02, 0.03, 0.05)
_F_TABLE_F = (1.6, 1.35, 1.25, 1.2, 1.17)


def _default_f_random(qber: float) -> float:
    """Target efficiency the random codes reach (n = 2^14, frame error rate ≲ 10 %)."""
    return 1.3 if qber >= 0.04 else 1.4 if qber >= 0.02 else 1.6


def _code(kind: str, rate: float, n: int) -> sp.csr_matrix:
    if kind == "peg":
        return make_code(rate, n)
    if kind == "random":
        return make_random_code(rate, n)
    raise ProtocolAbort(f"unknown LDPC code family {kind!r}")


@dataclass
class LdpcReconciler:
    """Rate-adaptive LDPC reconciliation (see the module docstring); a ``Reconciler``.

    Parameters
    ----------
    frame_bits : int
        Code length ``n`` (default 2^14).
    f_target : float, optional
        Target efficiency ``f`` (default: a QBER-dependent value the codes reach).
    delta : float
        Fraction ``d/n`` of punctured plus shortened positions per frame.
    max_iter : int
        Belief-propagation iterations.
    code : str
        ``"peg"`` (default: :func:`make_code`) or ``"random"`` (:func:`make_random_code`, the
        earlier random codes, kept for comparison).
    rounds : int
        1 (default): one syndrome, failed frames are discarded. ``t > 1``: blind
        reconciliation (Martinez-Mateo, Elkouss, Martin, "Blind reconciliation", QIC 12, 791
        (2012), Sec. 3): after each failure Alice reveals the values of the next
        ``⌊p/(t − 1)⌋`` punctured positions of the failed frames (they become shortened) and
        Bob decodes them again, up to ``t − 1`` extra rounds; each revealed bit is leaked.
    """

    frame_bits: int = 1 << 14
    f_target: float | None = None
    delta: float = 0.1
    max_iter: int = 60
    name: str = "ldpc"
    max_qber: float = 0.11
    code: str = "peg"
    rounds: int = 1
    frames: int = field(default=0, init=False)
    frame_errors: int = field(default=0, init=False)
    punctured_bits: int = field(default=0, init=False)
    revealed_bits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if isinstance(self.frame_bits, bool) or not isinstance(self.frame_bits, int):
            raise ParameterError("frame_bits", self.frame_bits, "must be an integer")
        if self.frame_bits < 256:
            raise ParameterError("frame_bits", self.frame_bits, "must be >= 256")
        if not 0.0 < self.delta < 0.5:
            raise ParameterError("delta", self.delta, "must be in (0, 0.5)")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise ParameterError("rounds", self.rounds, "must be an integer >= 1")
        if self.code not in ("peg", "random"):
            raise ParameterError("code", self.code, "must be 'peg' or 'random'")
        if self.f_target is not None and self.f_target < 1.0:
            raise ParameterError("f_target", self.f_target, "must be >= 1")

    @property
    def frame_error_rate(self) -> float:
        """Failed frames / frames of the last run (0 if none)."""
        return self.frame_errors / self.frames if self.frames else 0.0

    def _plan(self, qber: float) -> dict[str, Any]:
        if not 0.0 <= qber <= self.max_qber:
            raise ProtocolAbort(f"QBER {qber:.4f} outside what LDPC supports (<= {self.max_qber})")
        n = self.frame_bits
        d = round(self.delta * n)
        if self.f_target is not None:
            f = self.f_target
        else:
            f = _default_f(qber) if self.code == "peg" else _default_f_random(qber)
        prefer = "shortening" if self.rounds == 1 else "puncturing"
        r0, r = choose_rate(max(qber, 1e-4), f, self.delta, prefer=prefer)
        s = min(max(round(r0 * n - r * (n - d)), 0), d)
        plan = {"n": n, "rate": r0, "p": d - s, "s": s, "code": self.code}
        return plan | {"rounds": self.rounds}

    def alice(
        self,
        key: NDArray[np.uint8],
        qber_estimate: float,
        channel: AuthenticatedChannel,
        rng: np.random.Generator,
    ) -> NDArray[np.uint8]:
        """Alice's side: send code choice and syndromes; keep the frames Bob decoded."""
        key = np.ascontiguousarray(key, dtype=np.uint8)
        plan = self._plan(qber_estimate)
        n, p, s = plan["n"], plan["p"], plan["s"]
        k = n - p - s
        n_frames = key.size // k
        if n_frames == 0:
            raise ProtocolAbort(f"key of {key.size} bits is shorter than one LDPC frame ({k})")
        seed = int(rng.integers(0, 2**62))
        meta = {**plan, "n_key": int(key.size), "frames": n_frames, "seed": seed}
        channel.send(public_message("ldpc/plan", meta))
        reply = channel.recv("ldpc/plan-ok")
        if int(reply.meta["n_key"]) != key.size:
            raise ProtocolAbort("mismatched block sizes")
        h = _code(plan["code"], plan["rate"], n)
        pos = _positions(seed, n, p, s)
        frames = _frames(key, n_frames, k, pos, p, seed, rng)
        syn = np.concatenate([syndrome(h, f) for f in frames])
        # leaked: m − p per frame (punctured bits are independent random bits, Elkouss 2010)
        msg = bits_message("ldpc/syndrome", {"frames": n_frames}, syndrome=syn)
        channel.send(replace(msg, leaked_bits=msg.leaked_bits - n_frames * p))
        ok = _recv_results(channel, np.zeros(n_frames, dtype=bool), np.arange(n_frames))
        revealed = 0
        for rev in _reveal_schedule(pos, p, self.rounds):
            fail = np.flatnonzero(~ok)
            if fail.size == 0:
                break
            vals = np.stack([frames[i][rev] for i in fail]).ravel()
            channel.send(bits_message("ldpc/reveal", {"frames": int(fail.size)}, bits=vals))
            revealed += int(vals.size)
            ok = _recv_results(channel, ok, fail)
        self.revealed_bits = revealed  # counted by Alice only (both sides may share self)
        self._count(ok, p)
        kept: NDArray[np.uint8] = key[: n_frames * k].reshape(n_frames, k)[ok].ravel()
        return kept

    def bob(
        self,
        key: NDArray[np.uint8],
        qber_estimate: float,
        channel: AuthenticatedChannel,
        rng: np.random.Generator,
    ) -> NDArray[np.uint8]:
        """Bob's side: decode each frame; announce which failed; return the corrected key."""
        from ldpc.bp_decoder import BpDecoder  # the C++ decoder, imported when needed

        key = np.ascontiguousarray(key, dtype=np.uint8)
        plan = channel.recv("ldpc/plan").meta
        channel.send(public_message("ldpc/plan-ok", {"n_key": int(key.size)}))
        if int(plan["n_key"]) != key.size:
            raise ProtocolAbort("mismatched block sizes")
        self._plan(qber_estimate)  # Bob checks the QBER too
        n, p, s = int(plan["n"]), int(plan["p"]), int(plan["s"])
        n_frames, seed, k = int(plan["frames"]), int(plan["seed"]), n - p - s
        h = _code(str(plan.get("code", "peg")), float(plan["rate"]), n)
        pos = _positions(seed, n, p, s)
        syn = channel.recv("ldpc/syndrome").array("syndrome").reshape(n_frames, -1)
        prior = np.full(n, max(qber_estimate, 1e-4))
        prior[pos[:p]] = 0.5
        prior[pos[p:]] = _SHORT_P
        frames = _frames(key, n_frames, k, pos, p, seed, None)
        ok = np.zeros(n_frames, dtype=np.uint8)
        out = key[: n_frames * k].reshape(n_frames, k).copy()
        keypos = _key_positions(n, pos)
        todo = np.arange(n_frames)
        rounds = int(plan.get("rounds", 1))
        schedule = [np.zeros(0, dtype=np.int64), *_reveal_schedule(pos, p, rounds)]
        for rnd, rev in enumerate(schedule):
            if rnd > 0:
                todo = np.flatnonzero(ok == 0)
                if todo.size == 0:
                    break
                vals = channel.recv("ldpc/reveal").array("bits").reshape(todo.size, rev.size)
                for j, i in enumerate(todo):
                    frames[i][rev] = vals[j]  # revealed: now known, like a shortened bit
                prior[rev] = _SHORT_P
            dec = BpDecoder(h, error_channel=prior, max_iter=self.max_iter, bp_method="product_sum")
            for batch in _batches(todo):  # one reply per batch: Alice never waits long
                for i in batch:
                    y = frames[i]
                    target = syndrome(h, y) ^ syn[i]
                    err = np.asarray(dec.decode(target), dtype=np.uint8)
                    if bool(dec.converge) and np.array_equal(syndrome(h, err), target):
                        ok[i] = 1
                        out[i] = y[keypos] ^ err[keypos]
                channel.send(public_message("ldpc/result", None, ok=ok[batch]))
        self._count(ok.astype(bool), p)
        corrected: NDArray[np.uint8] = out[ok.astype(bool)].ravel()
        return corrected

    def _count(self, ok: NDArray[np.bool_], p: int) -> None:
        self.frames = int(ok.size)
        self.frame_errors = int(ok.size - np.count_nonzero(ok))
        self.punctured_bits = int(ok.size) * p


_RESULT_BATCH = 16  # frames per "ldpc/result" message (≈ 2–5 s of BP, under the recv timeout)


def _batches(idx: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """``idx`` in consecutive chunks of ``_RESULT_BATCH`` (the same split on both sides)."""
    return [idx[i : i + _RESULT_BATCH] for i in range(0, idx.size, _RESULT_BATCH)]


def _recv_results(
    channel: AuthenticatedChannel, ok: NDArray[np.bool_], todo: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """Alice: Bob's decoding outcome for the frames ``todo``, one message per batch."""
    ok = ok.copy()
    for batch in _batches(todo):
        res = channel.recv("ldpc/result").array("ok").astype(bool)
        if res.size != batch.size:
            raise ProtocolAbort("LDPC result of the wrong length")
        ok[batch] = res
    return ok


def _reveal_schedule(pos: NDArray[np.int64], p: int, rounds: int) -> list[NDArray[np.int64]]:
    """Punctured positions revealed in blind rounds 1 … ``rounds − 1`` (last punctured
    first, ``⌊p/(rounds − 1)⌋`` per round; none if that is 0)."""
    if rounds <= 1 or p < rounds - 1:
        return []
    step = p // (rounds - 1)
    return [pos[p - r * step : p - (r - 1) * step] for r in range(1, rounds)]


def _positions(seed: int, n: int, p: int, s: int) -> NDArray[np.int64]:
    """Punctured (first ``p``) and shortened (next ``s``) positions of a frame (public)."""
    return np.random.default_rng(seed).permutation(n)[: p + s].astype(np.int64)


def _key_positions(n: int, pos: NDArray[np.int64]) -> NDArray[np.int64]:
    mask = np.ones(n, dtype=bool)
    mask[pos] = False
    return np.flatnonzero(mask)


def _frames(
    key: NDArray[np.uint8],
    n_frames: int,
    k: int,
    pos: NDArray[np.int64],
    p: int,
    seed: int,
    rng: np.random.Generator | None,
) -> list[NDArray[np.uint8]]:
    """Frames of ``n`` bits: key bits; shortened positions hold public values from the seed;
    punctured positions hold fresh private random bits (Alice, ``rng``) or the public value
    (Bob, ``rng=None``: unknown to him, prior 1/2)."""
    n = k + pos.size
    keypos = _key_positions(n, pos)
    public = np.random.default_rng(seed + 1).integers(0, 2, (n_frames, n), dtype=np.uint8)
    if rng is not None:
        public[:, pos[:p]] = rng.integers(0, 2, (n_frames, p), dtype=np.uint8)
    for i in range(n_frames):
        public[i, keypos] = key[i * k : (i + 1) * k]
    return list(public)
