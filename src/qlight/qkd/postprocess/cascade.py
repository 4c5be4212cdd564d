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
of his key in the order of each pass he searches (``_gather``, kept current on every flip),
so his range parities are XORs over contiguous bytes. Passes whose blocks are halves of the
key mostly only confirm it: their block parities come from the bit-packed key and block
masks (``_cascade_bits``), and the copy, node states (Bob) and prefix XOR (Alice) are built
only once one of their blocks is odd — the same frames either way. Bob's requests
disclose which blocks hold an odd number of errors, which is independent of Alice's key and
so is not counted (standard accounting, Brassard–Salvail Sec. 3). The permutations come from
a public seed (``_cascade_perms``: fresh per frame, or fixed per session and cached). The
numba kernels are in ``_cascade_kernels`` and ``_cascade_bits``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from struct import Struct
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from qlight.qkd.postprocess._cascade_bits import _flip_roots, _masked_parities, _pack
from qlight.qkd.postprocess._cascade_kernels import (
    _answer_bits,
    _flip_pass,
    _flip_positions,
    _gather,
    _gather_blocks,
    _init_ranges,
    _inverse,
    _minimal_odd,
    _open_slots,
    _prefix_xor,
    _step_and_open,
)
from qlight.qkd.postprocess._cascade_perms import (
    PermutationCache,
    block_masks,
    is_half,
    pass_permutation,
)
from qlight.qkd.postprocess.channel import AuthenticatedChannel
from qlight.qkd.postprocess.errors import ProtocolAbort
from qlight.qkd.postprocess.messages import RawFrame, bits_message, public_message

__all__ = ["CascadeReconciler", "block_sizes"]

Variant = Literal["original", "optimized"]
_MIN_Q = 1e-5
_MAX_N = 1 << 31
_U32 = Struct("<I")
#: Passes whose blocks are halves of the key take the bit-packed path (``_cascade_bits``):
#: block parities from masks, the permuted copies and prefix XORs only once a block is odd.
#: Same frames either way (tested with this switched off).
_LAZY_HALF = True


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


def _query(payload: NDArray[np.uint8]) -> bytes:
    """Payload of Bob's ``cascade/query`` raw frame (built by the round kernel: the pass as
    u32, then the slots as int32, little-endian)."""
    return payload.tobytes()


def _answer(payload: bytes, alice: _AliceState) -> tuple[bytes, int]:
    """Alice's parities of the left halves of the queried nodes of one pass: the packed
    bits (payload of her ``cascade/answer`` raw frame) and their number (the leak)."""
    if len(payload) < 8 or len(payload) % 4:
        raise ProtocolAbort("alice: malformed parity query")
    (p,) = _U32.unpack_from(payload)
    if p not in alice.announced:
        raise ProtocolAbort(f"alice: query for pass {p} before its parities")
    slots = np.frombuffer(payload, dtype="<i4", offset=4)
    px = alice.px.get(p)
    if px is None:
        px = alice.prefix(p)
    out, ok = _answer_bits(px, slots, alice.sizes[p], alice.k2[p], alice.n)
    if not ok:
        raise ProtocolAbort("alice: parity query out of range")
    return out.tobytes(), int(slots.size)  # 1 bit of leak each


class _AliceState:
    """Alice's side of one frame: her key, the passes announced, her prefix XORs (built on
    the first query of a pass) and, for half-key passes, her bit-packed key."""

    def __init__(
        self, rec: CascadeReconciler, key: NDArray[np.uint8], seed: int, sizes: list[int]
    ) -> None:
        self.rec = rec
        self.key = key
        self.n = int(key.size)
        self.seed = seed
        self.sizes = sizes
        self.k2 = [2 * (1 << max(k - 1, 0).bit_length()) for k in sizes]
        self.announced: set[int] = set()
        self.px: dict[int, NDArray[np.uint8]] = {}
        self.words: NDArray[np.uint64] | None = None

    def perm(self, p: int) -> NDArray[np.int32]:
        """Permutation of pass ``p`` (from the session cache, or computed: not kept, 4 bytes
        per bit; without a session a half-key pass is recomputed if it is ever queried)."""
        return self.rec._perm("alice", self.n, self.sizes[p], self.seed, p)

    def prefix(self, p: int) -> NDArray[np.uint8]:
        """Prefix XOR of pass ``p`` (``_prefix_xor``), computed once, when first needed."""
        px = self.px.get(p)
        if px is None:
            px = self.px[p] = _prefix_xor(self.key, self.perm(p))
        return px

    def parities(self, p: int) -> NDArray[np.uint8]:
        """Parities of all blocks of pass ``p`` (announced from now on)."""
        n, k = self.n, self.sizes[p]
        if _LAZY_HALF and is_half(n, k):
            if self.words is None:
                self.words = _pack(self.key)
            masks = self.rec._masks("alice", self.perm(p), n, k, self.seed, p)
            par: NDArray[np.uint8] = _masked_parities(self.words, masks)
        else:
            px = self.prefix(p)
            bounds = np.minimum(np.arange(-(-n // k) + 1, dtype=np.int64) * k, n)
            par = px[bounds[1:]] ^ px[bounds[:-1]]
        self.announced.add(p)
        return par


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

    def _masks(
        self, party: str, perm: NDArray[np.int32], n: int, k: int, seed: int, p: int
    ) -> NDArray[np.uint64]:
        """Block masks of a half-key pass (``_cascade_bits``) from this party's cache."""
        cache = self._caches.get(party)
        if cache is None:
            return block_masks(perm, k)
        return cache.masks(perm, n, k, seed, p)

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
        state = _AliceState(self, key, seed, sizes)
        while True:
            yield
            msg = channel.recv_any()
            if isinstance(msg, RawFrame):  # the lean per-round path
                if msg.kind != "cascade/query":
                    raise ProtocolAbort(f"alice: unexpected raw frame {msg.kind!r}")
                channel.send_raw("cascade/answer", *_answer(msg.payload, state))
            elif msg.kind == "cascade/done":
                channel.send_transcript_tag()
                yield
                channel.check_transcript_tag()
                return key
            elif msg.kind == "cascade/next":
                p = int(msg.meta.get("pass", -1))
                if not 0 <= p < len(sizes):
                    raise ProtocolAbort(f"alice: request for unknown pass {p}")
                par = state.parities(p)
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
        cache = self._caches.get("bob")

        def perm_inv(p: int) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
            perm = self._perm("bob", n, sizes[p], seed, p)
            inv = _inverse(perm) if cache is None else cache.inverse(perm, n, sizes[p], seed, p)
            return perm, inv

        state = _BobState(key, reuse, perm_inv)
        for p, k in enumerate(sizes):
            channel.send(public_message("cascade/next", {"pass": p}))
            # while Alice computes the same:
            if _LAZY_HALF and is_half(n, k):
                perm = self._perm("bob", n, k, seed, p)
                masks = self._masks("bob", perm, n, k, seed, p)
            else:
                perm, inv = perm_inv(p)
            alice_par = channel.recv("cascade/parities").array("parities")
            if int(alice_par.size) != -(-n // k):
                raise ProtocolAbort(f"bob: {alice_par.size} block parities for pass {p}")
            if _LAZY_HALF and is_half(n, k):
                state.add_half_pass(k, masks, alice_par)
            else:
                state.add_pass(perm, inv, k, alice_par)
            state.run(channel)
        channel.send(public_message("cascade/done"))
        channel.send_transcript_tag()
        channel.check_transcript_tag()
        return state.key


class _Pass:
    """One pass as Bob searches it: permutation, inverse, his key in the pass's order and
    the node states (``_cascade_kernels``)."""

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


class _HalfPass:
    """A half-key pass before any of its blocks is searched (``_cascade_bits``): only the
    error parities of its (≤ 3) blocks are known, kept current through the block masks."""

    def __init__(self, k: int, n: int, masks: NDArray[np.uint64], roots: NDArray[np.int8]) -> None:
        self.k = k
        self.k2 = 2 * (1 << max(k - 1, 0).bit_length())
        self.n = n
        self.masks = masks
        self.roots = roots
        self.pending: list[NDArray[np.int64]] = []


class _BobState:
    """Bob's knowledge: his key, every pass's permutation and node states."""

    def __init__(
        self,
        key: NDArray[np.uint8],
        reuse: bool,
        perm_inv: Callable[[int], tuple[NDArray[np.int32], NDArray[np.int32]]],
    ) -> None:
        self.key = key
        self.reuse = reuse
        self.perm_inv = perm_inv
        self.passes: list[_Pass | _HalfPass] = []
        self.words: NDArray[np.uint64] | None = None  # packed key, None when out of date
        self._ends = np.empty(0, dtype=np.int64)  # end positions of the last searches

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

    def add_half_pass(
        self, k: int, masks: NDArray[np.uint64], alice_par: NDArray[np.uint8]
    ) -> None:
        """A half-key pass: block parities from the packed key and the masks, no copy."""
        if self.words is None:
            self.words = _pack(self.key)
        err = alice_par ^ _masked_parities(self.words, masks)
        hp = _HalfPass(k, int(self.key.size), masks, err.astype(np.int8))
        hp.pending.append(np.flatnonzero(err).astype(np.int64) * hp.k2 + 1)
        self.passes.append(hp)

    def _searchable(self, p: int) -> _Pass | None:
        """Pass ``p`` ready for a search: a half pass with an odd block becomes a full one
        (permuted copy of the current key, node states with the known block parities);
        ``None`` when no pending block of a half pass is still odd."""
        ps = self.passes[p]
        if isinstance(ps, _Pass):
            return ps
        cand = np.concatenate(ps.pending) if ps.pending else np.empty(0, np.int64)
        if not np.any(ps.roots[(cand - 1) // ps.k2] == 1):
            return None
        perm, inv = self.perm_inv(p)
        full = _Pass(perm, inv, ps.k, _gather(self.key, perm))
        full.st[np.arange(full.nb, dtype=np.int64) * full.k2 + 1] = ps.roots
        full.pending = ps.pending
        self.passes[p] = full
        return full

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
            ps = self._searchable(p)
            if ps is None:
                self.passes[p].pending.clear()
                continue
            slots = self._minimal(ps)
            ps.pending.clear()
            if slots.size:
                self._flip(self._search(channel, p, ps, slots), p)

    @staticmethod
    def _minimal(ps: _Pass) -> NDArray[np.int64]:
        """Pending nodes still odd, without those that have a pending odd descendant."""
        cand = ps.pending[0] if len(ps.pending) == 1 else np.concatenate(ps.pending)
        out: NDArray[np.int64] = _minimal_odd(cand, ps.st, ps.k2)
        return out

    def _search(
        self, channel: AuthenticatedChannel, p: int, ps: _Pass, slots: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """Binary searches of the given nodes of pass ``p``, all in the same rounds.

        Per round Bob sends the slots (block and heap id) of the nodes still searched, one
        ``int32`` each; Alice answers the parity of each node's left half. Every search runs
        on Bob's key as it was at the start, over a range with odd error parity, so each
        ends on a genuine error. The searched nodes are disjoint (``_minimal_odd`` keeps no
        node with an odd descendant), so the bits found are distinct.
        """
        n = ps.perm.size
        pk, st, k2, reuse = ps.pk, ps.st, ps.k2, self.reuse
        send, recv = channel.send_raw, channel.recv_raw
        slots = slots.copy()
        lo, hi = _init_ranges(slots, ps.k, k2, n)
        every = np.arange(slots.size, dtype=np.int64)
        act, q = _open_slots(st, slots, lo, hi, every, k2, reuse, p)
        while act.size:
            send("cascade/query", _query(q), 0)
            raw = recv("cascade/answer")
            if len(raw) != (act.size + 7) // 8:
                raise ProtocolAbort("bob: answer size does not match the query")
            a_par = np.frombuffer(raw, dtype=np.uint8)  # packed, unpacked by the kernel
            act, q = _step_and_open(pk, st, slots, lo, hi, act, a_par, k2, reuse, p)
        self._ends = lo  # the positions in pass p of the bits found (for _flip)
        found: NDArray[np.int64] = ps.perm[lo].astype(np.int64)
        return found

    def _flip(self, bits: NDArray[np.int64], searched: int) -> None:
        """Flip the bits found by the searches of pass ``searched`` in the key and in every
        pass; collect each pass's new candidates (the deepest odd known node per bit)."""
        self.key[bits] ^= 1
        self.words = None
        for i, ps in enumerate(self.passes):
            if i == searched and isinstance(ps, _Pass):  # positions known: no inv lookup
                ps.pending.append(_flip_positions(ps.st, ps.pk, ps.k, ps.k2, self._ends))
            elif isinstance(ps, _Pass):
                ps.pending.append(_flip_pass(ps.st, ps.pk, ps.inv, ps.k, ps.k2, bits))
            else:
                ps.pending.append(_flip_roots(ps.roots, ps.masks, ps.k2, bits))
