"""Cascade error correction as a real two-party protocol over the authenticated channel.

Variants
--------
``"original"`` — Brassard & Salvail, EUROCRYPT '93, LNCS 765, 410 (1993), Sec. 4: 4 passes,
block size k1 = ⌈0.73/Q⌉ and k_i = 2 k_{i−1}; after a correction in pass i, the top-level
blocks of earlier passes containing the corrected bit are searched (the cascade).

``"optimized"`` — Martinez-Mateo, Pacher, Peev, Ciurana & Martin, "Demystifying the
information reconciliation protocol Cascade", QIC 15, 453 (2015), Sec. 4, "Cascade opt. (8)":
14 passes with block sizes adapted to the QBER, α = log2(1/Q) − 0.5, k1 = 2^⌈α⌉,
k2 = 2^⌈(α + 12)/2⌉, k3 = 4096, k_{i≥4} = n/2, **and subblock reuse**: the parities of all
subblocks disclosed during earlier binary searches are remembered, a correction toggles the
error parity of every known block and subblock containing the bit, and the next search starts
from the smallest known odd subblock and skips any step whose outcome is already known.

Protocol (Bob drives, Alice answers; only Alice's parities leak, one bit each —
Martinez-Mateo 2015, Sec. 2): Alice sends ``cascade/setup`` (n, variant, Q, permutation seed:
public); for each pass Bob asks ``cascade/next`` and Alice sends the parities of all blocks;
Bob's binary searches run in parallel over all odd blocks of one pass — per round one
``cascade/query`` (the pass and the searched nodes' int32 slots) and one ``cascade/answer``
(Alice's parities, packed), both as raw frames (:func:`~.messages.encode_raw`: no message
objects on the per-round path; authenticated and counted like every frame). Bob keeps a copy
of his key in each pass's order (``_gather``, kept current on every flip), so his range
parities are XORs over contiguous bytes. Bob's requests
disclose which blocks hold an odd number of errors, which is independent of Alice's key and
so is not counted (standard accounting, Brassard–Salvail Sec. 3). The permutations come from
a public seed (``_cascade_perms``: fresh per frame, or fixed per session and cached). The
numba kernels are in ``_cascade_kernels``.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from struct import Struct
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from qlight.qkd.postprocess._cascade_kernels import (
    _flip_pass,
    _gather_blocks,
    _init_ranges,
    _inverse,
    _minimal_odd,
    _open_slots,
    _prefix_xor,
    _slot_parities,
    _step_and_open,
)
from qlight.qkd.postprocess._cascade_perms import PermutationCache, pass_permutation
from qlight.qkd.postprocess.channel import AuthenticatedChannel
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.messages import RawFrame, bits_message, public_message

__all__ = ["CascadeReconciler", "block_sizes"]

Variant = Literal["original", "optimized"]
_MIN_Q = 1e-5
_MAX_N = 1 << 31
_U32 = Struct("<I")


def block_sizes(variant: Variant, qber: float, n: int) -> list[int]:
    """Block size of each pass (see the module docstring for the sources)."""
    q = max(qber, _MIN_Q)
    half = max(n // 2, 1)
    if variant == "original":
        k1 = math.ceil(0.73 / q)
        return [max(1, min(k1 * 2**i, half)) for i in range(4)]
    alpha = math.log2(1.0 / q) - 0.5
    sizes = [2 ** math.ceil(alpha), 2 ** math.ceil((alpha + 12.0) / 2.0), 4096] + [half] * 11
    return [max(1, min(k, half)) for k in sizes]


def _query(p: int, slots: NDArray[np.int32]) -> bytes:
    """Payload of Bob's ``cascade/query`` raw frame: the pass (u32) and the slots (int32),
    little-endian."""
    return _U32.pack(p) + slots.astype("<i4", copy=False).tobytes()


def _answer(
    payload: bytes, px: dict[int, NDArray[np.uint8]], sizes: list[int], n: int
) -> tuple[bytes, int]:
    """Alice's parities of the left halves of the queried nodes of one pass: the packed
    bits (payload of her ``cascade/answer`` raw frame) and their number (the leak)."""
    if len(payload) < 8 or len(payload) % 4:
        raise ProtocolAbort("alice: malformed parity query")
    (p,) = _U32.unpack_from(payload)
    if p not in px:
        raise ProtocolAbort(f"alice: query for pass {p} before its parities")
    slots = np.frombuffer(payload, dtype="<i4", offset=4)
    k = sizes[p]
    k2 = 2 * (1 << max(k - 1, 0).bit_length())
    out, ok = _slot_parities(px[p], slots, k, k2, n)
    if not ok:
        raise ProtocolAbort("alice: parity query out of range")
    return np.packbits(out).tobytes(), int(out.size)  # 1 bit of leak each


@dataclass(frozen=True)
class CascadeReconciler:
    """Cascade (see the module docstring); implements :class:`~.reconcile.Reconciler`.

    Parameters
    ----------
    variant : {"original", "optimized"}
        Brassard–Salvail 1993, or Martinez-Mateo et al. 2015 option (8) with subblock reuse.
    max_qber : float
        Highest QBER estimate accepted; above it both parties abort (Cascade's leakage grows
        past the key length near 0.25; 0.15 keeps h(Q) < 0.61).
    session_seed : int, optional
        ``None`` (default): Alice draws a fresh public permutation seed per frame. An
        integer in [0, 2^62): a *session* — Alice announces this seed for every frame and
        each party computes each pass permutation once and reuses it (one
        :class:`~._cascade_perms.PermutationCache` per party; why this is safe: that
        module's docstring). Use one reconciler object per session.
    """

    variant: Variant = "optimized"
    max_qber: float = 0.15
    session_seed: int | None = None
    name: str = field(init=False, default="")
    _caches: dict[str, PermutationCache] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.variant not in ("original", "optimized"):
            raise ProtocolAbort(f"unknown Cascade variant {self.variant!r}")
        object.__setattr__(self, "name", "cascade" if self.variant == "original" else "cascade-opt")
        s = self.session_seed
        if s is not None:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 1 << 62:
                raise ProtocolAbort(f"session_seed {s!r} must be an integer in [0, 2^62)")
            self._caches.update(alice=PermutationCache(), bob=PermutationCache())

    def _perm(self, party: str, n: int, k: int, seed: int, p: int) -> NDArray[np.int32]:
        """Pass permutation from this party's session cache (if any); read-only."""
        cache = self._caches.get(party)
        if cache is None:
            return pass_permutation(n, k, seed, p)
        return cache.permutation(n, k, seed, p)

    def _check_q(self, q: float) -> None:
        if not (math.isfinite(q) and 0.0 <= q <= self.max_qber):
            raise ProtocolAbort(
                f"QBER estimate {q!r} outside what {self.name} supports ([0, {self.max_qber:g}])"
            )

    # ------------------------------------------------------------------ Alice
    def alice(
        self,
        key: NDArray[np.uint8],
        qber_estimate: float,
        channel: AuthenticatedChannel,
        rng: np.random.Generator,
    ) -> NDArray[np.uint8]:
        """Alice's side: announce the setup, then answer parity requests until ``done``."""
        steps = self.alice_steps(key, qber_estimate, channel, rng)
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                out: NDArray[np.uint8] = stop.value
                return out

    def alice_steps(
        self,
        key: NDArray[np.uint8],
        qber_estimate: float,
        channel: AuthenticatedChannel,
        rng: np.random.Generator,
    ) -> Generator[None, None, NDArray[np.uint8]]:
        """Alice's side as a generator that yields before each receive (for ``run_inline``).

        After the (per-frame authenticated) setup, the frames of the protocol are
        authenticated as one transcript (:meth:`AuthenticatedChannel.begin_transcript`);
        the key is returned only after Bob's transcript tag has been checked.
        """
        self._check_q(qber_estimate)
        key = np.ascontiguousarray(key, dtype=np.uint8)
        n = int(key.size)
        if not 2 <= n < _MAX_N:
            raise ProtocolAbort(f"key of {n} bits: Cascade needs 2 <= n < 2^31")
        seed = int(rng.integers(0, 1 << 62))
        if self.session_seed is not None:
            seed = self.session_seed
        meta = {"n": n, "variant": self.variant, "qber": float(qber_estimate), "seed": seed}
        channel.send(public_message("cascade/setup", meta))
        channel.begin_transcript()
        sizes = block_sizes(self.variant, qber_estimate, n)
        px: dict[int, NDArray[np.uint8]] = {}
        while True:
            yield
            msg = channel.recv_any()
            if isinstance(msg, RawFrame):  # the lean per-round path
                if msg.kind != "cascade/query":
                    raise ProtocolAbort(f"alice: unexpected raw frame {msg.kind!r}")
                channel.send_raw("cascade/answer", *_answer(msg.payload, px, sizes, n))
            elif msg.kind == "cascade/done":
                channel.send_transcript_tag()
                yield
                channel.check_transcript_tag()
                return key
            elif msg.kind == "cascade/next":
                p = int(msg.meta.get("pass", -1))
                if not 0 <= p < len(sizes):
                    raise ProtocolAbort(f"alice: request for unknown pass {p}")
                px[p] = _prefix_xor(key, self._perm("alice", n, sizes[p], seed, p))
                nb = -(-n // sizes[p])
                bounds = np.minimum(np.arange(nb + 1, dtype=np.int64) * sizes[p], n)
                par = px[p][bounds[1:]] ^ px[p][bounds[:-1]]
                channel.send(bits_message("cascade/parities", {"pass": p}, parities=par))
            else:
                raise ProtocolAbort(f"alice: unexpected message {msg.kind!r}")

    # ------------------------------------------------------------------ Bob
    def bob(
        self,
        key: NDArray[np.uint8],
        qber_estimate: float,
        channel: AuthenticatedChannel,
        rng: np.random.Generator,
    ) -> NDArray[np.uint8]:
        """Bob's side: request parities, binary-search odd blocks, return the corrected key."""
        del rng  # Bob makes no random choices: the permutations come from Alice's seed
        key = np.array(key, dtype=np.uint8, copy=True)
        n = int(key.size)
        setup = channel.recv("cascade/setup")
        channel.begin_transcript()  # before any check, so that an abort reaches Alice
        if int(setup.meta["n"]) != n:
            raise ProtocolAbort(
                f"mismatched block sizes: alice has {setup.meta['n']} bits, bob {n}"
            )
        if setup.meta["variant"] != self.variant:
            raise ProtocolAbort(
                f"variant mismatch: alice {setup.meta['variant']}, bob {self.variant}"
            )
        q = float(setup.meta["qber"])
        self._check_q(q)
        self._check_q(qber_estimate)
        seed = int(setup.meta["seed"])
        sizes = block_sizes(self.variant, q, n)
        reuse = self.variant == "optimized"
        state = _BobState(key, reuse)
        for p, k in enumerate(sizes):
            channel.send(public_message("cascade/next", {"pass": p}))
            perm = self._perm("bob", n, k, seed, p)  # while Alice computes the same
            cache = self._caches.get("bob")
            inv = _inverse(perm) if cache is None else cache.inverse(perm, n, k, seed, p)
            alice_par = channel.recv("cascade/parities").array("parities")
            if int(alice_par.size) != -(-n // k):
                raise ProtocolAbort(f"bob: {alice_par.size} block parities for pass {p}")
            state.add_pass(perm, inv, k, alice_par)
            state.run(channel)
        channel.send(public_message("cascade/done"))
        channel.send_transcript_tag()
        channel.check_transcript_tag()
        return state.key


class _Pass:
    def __init__(
        self, perm: NDArray[np.int32], inv: NDArray[np.int32], k: int, pk: NDArray[np.uint8]
    ) -> None:
        self.perm = perm
        self.pk = pk  # Bob's key in this pass's order, kept current (_apply_flips)
        self.inv = inv
        self.k = k
        self.k2 = 2 * (1 << max(k - 1, 0).bit_length())
        self.nb = -(-perm.size // k)
        self.st = np.full(self.nb * self.k2, -1, dtype=np.int8)
        self.pending: list[NDArray[np.int64]] = []


class _BobState:
    """Bob's knowledge: his key, every pass's permutation and node states."""

    def __init__(self, key: NDArray[np.uint8], reuse: bool) -> None:
        self.key = key
        self.reuse = reuse
        self.passes: list[_Pass] = []

    def add_pass(
        self,
        perm: NDArray[np.int32],
        inv: NDArray[np.int32],
        k: int,
        alice_par: NDArray[np.uint8],
    ) -> None:
        pk, bob_par = _gather_blocks(self.key, perm, k)
        ps = _Pass(perm, inv, k, pk)
        if alice_par.size != ps.nb:
            raise ProtocolAbort(f"bob: {alice_par.size} block parities, expected {ps.nb}")
        err = alice_par ^ bob_par
        roots = np.arange(ps.nb, dtype=np.int64) * ps.k2 + 1
        ps.st[roots] = err.astype(np.int8)
        ps.pending.append(roots[err == 1])
        self.passes.append(ps)

    def run(self, channel: AuthenticatedChannel) -> None:
        """Search until no known block or subblock of any pass has odd error parity.

        The pass with the smallest blocks goes first, one pass per batch: a correction there
        may make a search in a larger-block pass unnecessary. (Searching all passes in the
        same rounds was tried: it saves few rounds and raises the leak, e.g. f 1.033 -> 1.065
        at Q = 1 %, n = 10^5.)
        """
        while True:
            todo = [p for p, ps in enumerate(self.passes) if any(a.size for a in ps.pending)]
            if not todo:
                return
            p = min(todo, key=lambda i: self.passes[i].k)
            slots = self._minimal(self.passes[p])
            self.passes[p].pending.clear()
            if slots.size:
                self._flip(self._search(channel, p, slots))

    @staticmethod
    def _minimal(ps: _Pass) -> NDArray[np.int64]:
        """Pending nodes still odd, without those that have a pending odd descendant."""
        cand = ps.pending[0] if len(ps.pending) == 1 else np.concatenate(ps.pending)
        out: NDArray[np.int64] = _minimal_odd(cand, ps.st, ps.k2)
        return out

    def _search(
        self, channel: AuthenticatedChannel, p: int, slots: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """Binary searches of the given nodes of pass ``p``, all in the same rounds.

        Per round Bob sends the slots (block and heap id) of the nodes still searched, one
        ``int32`` each; Alice answers the parity of each node's left half. Every search runs
        on Bob's key as it was at the start, over a range with odd error parity, so each
        ends on a genuine error.
        """
        ps = self.passes[p]
        n = ps.perm.size
        slots = slots.copy()
        lo, hi = _init_ranges(slots, ps.k, ps.k2, n)
        act, sl = _open_slots(ps.st, slots, lo, hi, ps.k2, self.reuse)
        while act.size:
            channel.send_raw("cascade/query", _query(p, sl), 0)
            raw = channel.recv_raw("cascade/answer")
            if len(raw) != (act.size + 7) // 8:
                raise ProtocolAbort("bob: answer size does not match the query")
            a_par = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=act.size)
            act, sl = _step_and_open(ps.pk, ps.st, slots, lo, hi, act, a_par, ps.k2, self.reuse)
        return np.unique(ps.perm[lo]).astype(np.int64)

    def _flip(self, bits: NDArray[np.int64]) -> None:
        self.key[bits] ^= 1
        for ps in self.passes:  # flips, then the deepest odd known node per flipped bit
            ps.pending.append(_flip_pass(ps.st, ps.pk, ps.inv, ps.k, ps.k2, bits))
