"""Error verification with a 2-universal Toeplitz hash (ε_cor configurable).

After reconciliation Alice draws a uniformly random Toeplitz matrix T (t × n, given by its
n + t − 1 bit diagonal seed s, T[i, j] = s[i − j + n − 1]) and sends s and her tag T·x_A over
GF(2); Bob compares with T·x_B. Random Toeplitz matrices form a universal family: for
x_A ≠ x_B, Pr[T x_A = T x_B] = 2^−t (Krawczyk, CRYPTO '94, LNCS 839, 129, Sec. 3;
Mansour, Nisan & Tiwari, STOC '90). With t = ⌈log2(1/ε_cor)⌉ the keys that pass differ with
probability at most ε_cor — the correctness parameter of Tomamichel et al., Nat. Commun. 3,
634 (2012). The tag discloses t bits (counted in the channel ledger); the seed is public.
On mismatch both parties learn it and the caller must discard the frame.

The product is computed in a numba kernel from the bit-packed seed: each set key bit j XORs
the t-bit window s[n − 1 − j : n − 1 − j + t] into the tag, one 64-bit word at a time.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.postprocess.channel import AuthenticatedChannel, run_two_party
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.inline import run_inline
from qlight.qkd.postprocess.messages import Message, public_message
from qlight.qkd.postprocess.toeplitz import toeplitz_hash

__all__ = [
    "VerificationResult",
    "tag_bits_for",
    "toeplitz_hash",
    "verify",
    "verify_alice",
    "verify_alice_steps",
    "verify_bob",
]


def tag_bits_for(eps_cor: float) -> int:
    """t = ⌈log2(1/ε_cor)⌉ (collision probability 2^−t of the Toeplitz family)."""
    if not (isinstance(eps_cor, float | int) and 0.0 < eps_cor < 1.0):
        raise ParameterError("eps_cor", eps_cor, "must be in (0, 1)")
    return max(1, math.ceil(-math.log2(eps_cor)))


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of error verification: ``ok`` only if the tags matched."""

    ok: bool
    tag_bits: int
    leaked_bits: int
    eps_cor: float


def verify_alice(
    key: NDArray[np.uint8], channel: AuthenticatedChannel, eps_cor: float, rng: np.random.Generator
) -> bool:
    """Alice's side: send seed and tag, receive Bob's verdict."""
    steps = verify_alice_steps(key, channel, eps_cor, rng)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return bool(stop.value)


def verify_alice_steps(
    key: NDArray[np.uint8], channel: AuthenticatedChannel, eps_cor: float, rng: np.random.Generator
) -> Generator[None, None, bool]:
    """:func:`verify_alice` as a generator that yields before its receive (``run_inline``)."""
    t = tag_bits_for(eps_cor)
    key = np.ascontiguousarray(key, dtype=np.uint8)
    seed = rng.integers(0, 2, key.size + t - 1, dtype=np.uint8)
    tag = toeplitz_hash(key, seed, t)
    channel.send(
        Message("verify/tag", {"n": int(key.size), "t": t}, {"seed": seed}, {"tag": tag}, t)
    )
    yield
    reply = channel.recv("verify/result")
    return bool(reply.meta["ok"])


def verify_bob(key: NDArray[np.uint8], channel: AuthenticatedChannel) -> bool:
    """Bob's side: compare Alice's tag with his and announce the verdict (public)."""
    key = np.ascontiguousarray(key, dtype=np.uint8)
    msg = channel.recv("verify/tag")
    n, t = int(msg.meta["n"]), int(msg.meta["t"])
    if n != key.size:
        raise ProtocolAbort(f"mismatched block sizes: alice verifies {n} bits, bob has {key.size}")
    seed, tag = msg.array("seed"), msg.array("tag")
    if seed.size != n + t - 1 or tag.size != t:
        raise ProtocolAbort("malformed verification message")
    ok = bool(np.array_equal(toeplitz_hash(key, seed.astype(np.uint8), t), tag))
    channel.send(public_message("verify/result", {"ok": ok}))
    return ok


def verify(
    alice_key: NDArray[np.uint8],
    bob_key: NDArray[np.uint8],
    channels: tuple[AuthenticatedChannel, AuthenticatedChannel],
    *,
    eps_cor: float = 1e-10,
    rng: np.random.Generator,
    inline: bool = False,
) -> VerificationResult:
    """Run both sides (two threads, or one with ``inline=True``: in-process channels only,
    see :func:`~qlight.qkd.postprocess.inline.run_inline`); ``ok`` is True only when both
    agree the tags match."""
    t = tag_bits_for(eps_cor)
    leak0 = channels[0].ledger.leaked_bits_sent + channels[1].ledger.leaked_bits_sent
    if inline:
        ok_a, ok_b = run_inline(
            verify_alice_steps(alice_key, channels[0], eps_cor, rng),
            lambda: verify_bob(bob_key, channels[1]),
            channels,
        )
    else:
        ok_a, ok_b = run_two_party(
            lambda: verify_alice(alice_key, channels[0], eps_cor, rng),
            lambda: verify_bob(bob_key, channels[1]),
            channels,
        )
    leak = channels[0].ledger.leaked_bits_sent + channels[1].ledger.leaked_bits_sent - leak0
    return VerificationResult(ok_a and ok_b, t, leak, float(eps_cor))
