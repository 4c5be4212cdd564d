"""Public pass permutations of Cascade, and a per-party cache of them for a session.

Each pass of Cascade shuffles the key with a public permutation derived from a public seed
(``cascade/setup``). Per frame these cost ≈ 40 % of the CPU time of the optimised variant at
10^6 bits (28 permutations for the two parties). Within a *session* — consecutive frames
reconciled with the same announced seed (:class:`~.cascade.CascadeReconciler` with a
``session_seed``) — each party computes every permutation (and Bob its inverse) once and
reuses it.

Why reusing them is safe
------------------------
*Secrecy*: the permutations are public anyway (sent in clear, or derived from a public
seed). The security statement charges every disclosed parity bit as leakage, λ_EC, whatever
subsets of the key the parities are taken over: by the chain rule of the smooth
min-entropy, H_min^ε(X | E C) ≥ H_min^ε(X | E) − |C| for any classical message C of |C| bits
(Renner, PhD thesis, ETH Zürich (2005), Lemma 3.2.9; Tomamichel et al., Nat. Commun. 3, 634
(2012), Methods), and the leftover hash lemma then uses that bound. Nothing in it needs the
subsets to be fresh or unpredictable.
*Correctness*: the permutations only spread the errors over the blocks. For channel errors
that are independent of the permutation (the BSC model, and any error process fixed before
the session seed is announced), a fixed permutation gives every frame the same error
statistics as a fresh one. An adversary who knows the permutations could place errors that
Cascade does not correct; such a frame fails verification (Toeplitz tag, ε_cor) and is
discarded — a denial of service, which she can cause anyway by disturbing the quantum
channel. The ε_cor guarantee does not depend on the permutations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from threading import Lock

import numpy as np
from numpy.typing import NDArray

from qlight.qkd.postprocess._cascade_kernels import _half_split, _inverse, _permutation

__all__ = ["PermutationCache", "pass_permutation"]

#: Bytes of permutations (and inverses) one party keeps per session; beyond it, passes are
#: recomputed per frame (at 10^6 bits the 14 passes of the optimised variant take 56 MB for
#: Alice and 112 MB for Bob; at 10^7 the first passes fit).
CACHE_BYTES = 256 * 2**20


def _seed_of(seed: int, p: int) -> int:
    return (seed * 0x9E3779B1 + p * 0x85EBCA77 + 1) % (1 << 63)


def _is_half(n: int, k: int) -> bool:
    return 2 * k >= n - 1


def pass_permutation(n: int, k: int, seed: int, p: int) -> NDArray[np.int32]:
    """Public permutation of pass ``p``: uniform (Rao–Sandelius), or a random half split
    where the blocks are halves of the key (``k >= n // 2``, see ``_half_split``)."""
    s = _seed_of(seed, p)
    out: NDArray[np.int32] = _half_split(n, k, s) if _is_half(n, k) else _permutation(n, s)
    return out


@dataclass
class PermutationCache:
    """One party's permutations of a session, keyed by (seed, n, pass, k for half splits).

    The uniform permutations do not depend on the block size, so frames with different
    QBER estimates share them. Arrays are read-only; insertion stops at ``max_bytes``.
    """

    max_bytes: int = CACHE_BYTES
    _perm: dict[tuple[int, int, int, int], NDArray[np.int32]] = field(default_factory=dict)
    _inv: dict[tuple[int, int, int, int], NDArray[np.int32]] = field(default_factory=dict)
    _bytes: int = 0
    _lock: Lock = field(default_factory=Lock)
    hits: int = 0
    misses: int = 0

    @staticmethod
    def _key(n: int, k: int, seed: int, p: int) -> tuple[int, int, int, int]:
        return (seed, n, p, k if _is_half(n, k) else -1)

    def _store(self, d: dict[tuple[int, int, int, int], NDArray[np.int32]],
               key: tuple[int, int, int, int], arr: NDArray[np.int32]) -> None:  # fmt: skip
        if self._bytes + arr.nbytes <= self.max_bytes:
            arr.setflags(write=False)
            d[key] = arr
            self._bytes += arr.nbytes

    def permutation(self, n: int, k: int, seed: int, p: int) -> NDArray[np.int32]:
        """:func:`pass_permutation`, computed once per key."""
        key = self._key(n, k, seed, p)
        with self._lock:
            perm = self._perm.get(key)
            if perm is not None:
                self.hits += 1
                return perm
            self.misses += 1
        perm = pass_permutation(n, k, seed, p)
        with self._lock:
            self._store(self._perm, key, perm)
        return perm

    def inverse(self, perm: NDArray[np.int32], n: int, k: int, seed: int, p: int
                ) -> NDArray[np.int32]:  # fmt: skip
        """Inverse of the permutation of that key (``perm`` is it), computed once."""
        key = self._key(n, k, seed, p)
        with self._lock:
            inv = self._inv.get(key)
            if inv is not None:
                return inv
        inv = _inverse(perm)
        with self._lock:
            if key in self._perm:
                self._store(self._inv, key, inv)
        out: NDArray[np.int32] = inv
        return out
