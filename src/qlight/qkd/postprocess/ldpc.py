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

Codes: :func:`make_code` builds irregular parity-check matrices by random socket matching
(variable degrees 2, 3 and 8, near-regular check degrees, parallel edges removed). This is a
simplification of progressive edge growth (Hu, Eleftheriou, Arnold, IEEE Trans. Inf. Theory
51, 386 (2005)): 4-cycles are not avoided, so efficiencies are those of good random codes,
not optimised ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.postprocess.channel import AuthenticatedChannel
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.messages import bits_message, public_message
from qlight.qkd.theory import binary_entropy

__all__ = [
    "MOTHER_RATES",
    "LdpcReconciler",
    "choose_rate",
    "make_code",
    "syndrome",
]

#: Mother code rates; with d = 10 % of the frame each covers [(R0 − 0.1)/0.9, R0/0.9].
MOTHER_RATES: tuple[float, ...] = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_CODE_SEED = 20_260_127  # the codes are public and fixed: both parties build the same ones
_SHORT_P = 1e-12  # prior error probability of a shortened (known) bit


@lru_cache(maxsize=32)
def make_code(rate: float, n: int) -> sp.csr_matrix:
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


def choose_rate(qber: float, f_target: float, delta: float = 0.1) -> tuple[float, float]:
    """Mother rate ``R0`` and target rate ``R = 1 − f h(q)`` reachable with ``p + s = d``.

    Returns the highest mother rate whose range ``[(R0 − δ)/(1 − δ), R0/(1 − δ)]``
    contains ``R`` (or the lowest mother rate if ``R`` is below all ranges).
    """
    r = 1.0 - f_target * binary_entropy(qber)
    for r0 in sorted(MOTHER_RATES):
        if (r0 - delta) / (1.0 - delta) <= r <= r0 / (1.0 - delta):
            return r0, r
    if r > max(MOTHER_RATES) / (1.0 - delta):
        return max(MOTHER_RATES), max(MOTHER_RATES) / (1.0 - delta)
    return min(MOTHER_RATES), max(r, (min(MOTHER_RATES) - delta) / (1.0 - delta))


def _default_f(qber: float) -> float:
    """Target efficiency the random codes here reach (n = 2^14, frame error rate ≲ 10 %)."""
    return 1.3 if qber >= 0.04 else 1.4 if qber >= 0.02 else 1.6


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
    """

    frame_bits: int = 1 << 14
    f_target: float | None = None
    delta: float = 0.1
    max_iter: int = 60
    name: str = "ldpc"
    max_qber: float = 0.11
    frames: int = field(default=0, init=False)
    frame_errors: int = field(default=0, init=False)
    punctured_bits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if isinstance(self.frame_bits, bool) or not isinstance(self.frame_bits, int):
            raise ParameterError("frame_bits", self.frame_bits, "must be an integer")
        if self.frame_bits < 256:
            raise ParameterError("frame_bits", self.frame_bits, "must be >= 256")
        if not 0.0 < self.delta < 0.5:
            raise ParameterError("delta", self.delta, "must be in (0, 0.5)")
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
        f = _default_f(qber) if self.f_target is None else self.f_target
        r0, r = choose_rate(max(qber, 1e-4), f, self.delta)
        s = min(max(round(r0 * n - r * (n - d)), 0), d)
        return {"n": n, "rate": r0, "p": d - s, "s": s}

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
        h = make_code(plan["rate"], n)
        pos = _positions(seed, n, p, s)
        frames = _frames(key, n_frames, k, pos, p, seed, rng)
        syn = np.concatenate([syndrome(h, f) for f in frames])
        # leaked: m − p per frame (punctured bits are independent random bits, Elkouss 2010)
        msg = bits_message("ldpc/syndrome", {"frames": n_frames}, syndrome=syn)
        channel.send(replace(msg, leaked_bits=msg.leaked_bits - n_frames * p))
        ok = channel.recv("ldpc/result").array("ok").astype(bool)
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
        h = make_code(float(plan["rate"]), n)
        pos = _positions(seed, n, p, s)
        syn = channel.recv("ldpc/syndrome").array("syndrome").reshape(n_frames, -1)
        prior = np.full(n, max(qber_estimate, 1e-4))
        prior[pos[:p]] = 0.5
        prior[pos[p:]] = _SHORT_P
        dec = BpDecoder(h, error_channel=prior, max_iter=self.max_iter, bp_method="product_sum")
        frames = _frames(key, n_frames, k, pos, p, seed, None)
        ok = np.zeros(n_frames, dtype=np.uint8)
        out = key[: n_frames * k].reshape(n_frames, k).copy()
        keypos = _key_positions(n, pos)
        for i, y in enumerate(frames):
            target = syndrome(h, y) ^ syn[i]
            err = np.asarray(dec.decode(target), dtype=np.uint8)
            if bool(dec.converge) and np.array_equal(syndrome(h, err), target):
                ok[i] = 1
                out[i] ^= err[keypos]
        channel.send(public_message("ldpc/result", None, ok=ok))
        self._count(ok.astype(bool), p)
        corrected: NDArray[np.uint8] = out[ok.astype(bool)].ravel()
        return corrected

    def _count(self, ok: NDArray[np.bool_], p: int) -> None:
        self.frames = int(ok.size)
        self.frame_errors = int(ok.size - np.count_nonzero(ok))
        self.punctured_bits = int(ok.size) * p


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
