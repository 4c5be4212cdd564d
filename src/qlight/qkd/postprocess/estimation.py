"""Parameter estimation: the QBER from a random sample, with finite-size confidence bounds.

Alice picks a uniformly random sample of m positions (public), Bob reveals his bits there
(m disclosed bits, counted in the ledger; the sampled positions are discarded from the key),
Alice counts the k errors and announces k (public). Bounds:

* :func:`clopper_pearson` — exact binomial interval for the sample's error probability
  (Clopper & Pearson, Biometrika 26, 404 (1934)), one-sided at level ε per side, via the
  beta quantiles ``B(ε; k, m − k + 1)`` and ``B(1 − ε; k + 1, m − k)``.
* :func:`serfling_upper` — bound on the error rate of the n *remaining* (unsampled) bits
  when m of the n + m bits are sampled without replacement (Serfling, Ann. Stat. 2, 39
  (1974)); in the form of Tomamichel, Lim, Gisin & Renner, Nat. Commun. 3, 634 (2012),
  Supplementary Information (Serfling-based sampling bound): Q_rest ≤ Q_sample + μ,
  μ = √((n + m)/(n m) · (m + 1)/m · ln(1/ε)), except with probability ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import beta

from qlight.errors import ParameterError
from qlight.qkd.postprocess.channel import AuthenticatedChannel
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.messages import bits_message, public_message

__all__ = [
    "QberEstimate",
    "clopper_pearson",
    "estimate_alice",
    "estimate_bob",
    "serfling_upper",
]


def _check_eps(eps: float) -> float:
    if not (isinstance(eps, float | int) and 0.0 < eps < 1.0):
        raise ParameterError("eps", eps, "must be in (0, 1)")
    return float(eps)


def clopper_pearson(k: int, m: int, eps: float) -> tuple[float, float]:
    """Exact one-sided-ε bounds (lower, upper) on a binomial probability from k of m."""
    eps = _check_eps(eps)
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 1:
        raise ParameterError("m", m, "must be an integer >= 1")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k <= m:
        raise ParameterError("k", k, f"must be an integer in [0, {m}]")
    lo = 0.0 if k == 0 else float(beta.ppf(eps, k, m - k + 1))
    hi = 1.0 if k == m else float(beta.ppf(1.0 - eps, k + 1, m - k))
    return lo, hi


def serfling_upper(qber_sample: float, n_remaining: int, n_sample: int, eps: float) -> float:
    """Upper bound on the remaining bits' error rate, Q_sample + μ (module docstring), ≤ 1."""
    eps = _check_eps(eps)
    if n_remaining < 1 or n_sample < 1:
        raise ParameterError("n_sample", (n_remaining, n_sample), "both sizes must be >= 1")
    n, m = float(n_remaining), float(n_sample)
    mu = math.sqrt((n + m) / (n * m) * (m + 1.0) / m * math.log(1.0 / eps))
    return min(1.0, qber_sample + mu)


@dataclass(frozen=True)
class QberEstimate:
    """The sampled QBER and its bounds (``upper``: Serfling bound for the remaining bits)."""

    n_sample: int
    n_errors: int
    n_remaining: int
    qber: float
    lower: float
    upper_sample: float
    upper: float
    eps: float


def _estimate(k: int, m: int, n_rest: int, eps: float) -> QberEstimate:
    lo, hi = clopper_pearson(k, m, eps)
    up = serfling_upper(k / m, max(n_rest, 1), m, eps)
    return QberEstimate(m, k, n_rest, k / m, lo, hi, up, eps)


def estimate_alice(
    key: NDArray[np.uint8],
    channel: AuthenticatedChannel,
    *,
    sample_size: int,
    eps: float = 1e-10,
    rng: np.random.Generator,
) -> tuple[NDArray[np.uint8], QberEstimate]:
    """Alice's side: choose the sample, compare, announce; return (remaining key, estimate)."""
    key = np.ascontiguousarray(key, dtype=np.uint8)
    _check_eps(eps)
    if (
        isinstance(sample_size, bool)
        or not isinstance(sample_size, int)
        or not 0 < sample_size < key.size
    ):
        raise ParameterError(
            "sample_size", sample_size, f"must be an integer in [1, {key.size - 1}]"
        )
    pos = np.sort(rng.choice(key.size, sample_size, replace=False)).astype(np.int64)
    channel.send(public_message("estimate/positions", {"n": int(key.size)}, positions=pos))
    bob_bits = channel.recv("estimate/sample").array("bits")
    if bob_bits.size != sample_size:
        raise ProtocolAbort("bob revealed a sample of the wrong size")
    k = int(np.count_nonzero(bob_bits != key[pos]))
    channel.send(
        public_message("estimate/result", {"errors": k, "sample": sample_size, "eps": eps})
    )
    return np.delete(key, pos), _estimate(k, sample_size, key.size - sample_size, eps)


def estimate_bob(
    key: NDArray[np.uint8], channel: AuthenticatedChannel
) -> tuple[NDArray[np.uint8], QberEstimate]:
    """Bob's side: reveal the sampled bits, receive the error count."""
    key = np.ascontiguousarray(key, dtype=np.uint8)
    msg = channel.recv("estimate/positions")
    if int(msg.meta["n"]) != key.size:
        raise ProtocolAbort(
            f"mismatched block sizes: alice has {msg.meta['n']} bits, bob {key.size}"
        )
    pos = msg.array("positions")
    if pos.size == 0 or pos.min() < 0 or pos.max() >= key.size or np.unique(pos).size != pos.size:
        raise ProtocolAbort("malformed sample positions")
    channel.send(bits_message("estimate/sample", {}, bits=key[pos]))
    res = channel.recv("estimate/result")
    k, m = int(res.meta["errors"]), int(res.meta["sample"])
    if m != pos.size or not 0 <= k <= m:
        raise ProtocolAbort("inconsistent estimation result")
    return np.delete(key, pos), _estimate(k, m, key.size - m, float(res.meta["eps"]))
