"""The common interface of error-correction methods (Cascade, LDPC) and how to run one.

A reconciler has two sides, :meth:`Reconciler.alice` and :meth:`Reconciler.bob`, each run by
its own party with only its own key and its end of the authenticated channel.
:func:`reconcile` runs both in two threads and returns a :class:`ReconcileResult` whose
``leaked_bits`` is read from the channel ledgers — the bits the messages actually disclosed.
Efficiency is f = leak / (n · h(Q)) (Martinez-Mateo et al., QIC 15, 453 (2015), Eq. (1)).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from qlight._validation import check_bits
from qlight.errors import ParameterError
from qlight.qkd.postprocess.channel import AuthenticatedChannel, run_two_party
from qlight.qkd.postprocess.inline import run_inline
from qlight.qkd.theory import binary_entropy

__all__ = ["ReconcileResult", "Reconciler", "binary_entropy", "efficiency", "reconcile"]


class Reconciler(Protocol):
    """Interface of an error-correction method.

    ``alice`` returns Alice's reconciled key (usually her input, possibly shortened);
    ``bob`` returns Bob's corrected key of the same length. Both raise
    :class:`~qlight.qkd.postprocess.errors.ProtocolAbort` on failure (e.g. QBER above
    ``max_qber``, mismatched lengths, decoder failure).
    """

    @property
    def name(self) -> str:
        """Method name (``"cascade"``, ``"cascade-opt"``, ``"ldpc"``)."""

    @property
    def max_qber(self) -> float:
        """Highest QBER estimate the method accepts."""

    def alice(
        self,
        key: NDArray[np.uint8],
        qber_estimate: float,
        channel: AuthenticatedChannel,
        rng: np.random.Generator,
    ) -> NDArray[np.uint8]: ...

    def bob(
        self,
        key: NDArray[np.uint8],
        qber_estimate: float,
        channel: AuthenticatedChannel,
        rng: np.random.Generator,
    ) -> NDArray[np.uint8]: ...


@dataclass(frozen=True)
class ReconcileResult:
    """Outcome of one reconciliation (before verification)."""

    method: str
    alice_key: NDArray[np.uint8]
    bob_key: NDArray[np.uint8]
    n_bits: int
    leaked_bits: int
    channel_uses: int
    bytes_sent: int
    wall_s: float

    def efficiency(self, qber: float) -> float:
        """f = leaked / (n h(qber))."""
        return efficiency(self.leaked_bits, self.n_bits, qber)


def efficiency(leaked_bits: int, n_bits: int, qber: float) -> float:
    """Reconciliation efficiency f = leaked / (n h(Q)) (Martinez-Mateo 2015, Eq. (1))."""
    h = binary_entropy(qber)
    return math.inf if h == 0.0 or n_bits == 0 else leaked_bits / (n_bits * h)


def reconcile(
    reconciler: Reconciler,
    alice_bits: NDArray[np.uint8],
    bob_bits: NDArray[np.uint8],
    qber_estimate: float,
    channels: tuple[AuthenticatedChannel, AuthenticatedChannel],
    rng: np.random.Generator,
    *,
    inline: bool = False,
) -> ReconcileResult:
    """Run ``reconciler`` between Alice and Bob (two threads) over ``channels``.

    ``rng`` seeds two independent generators, one per party. Leakage and channel uses are
    the increase of the ledgers of both channel ends during the run. With ``inline=True``
    (reconcilers with an ``alice_steps`` generator, i.e. Cascade; in-process channels only)
    both parties run cooperatively in this thread (:func:`~.inline.run_inline`): the same
    messages, no thread switches.
    """
    a = check_bits("alice_bits", alice_bits, allow_empty=True)
    b = check_bits("bob_bits", bob_bits, allow_empty=True)
    ca, cb = channels
    seeds = rng.spawn(2)
    before = [
        (c.ledger.leaked_bits_sent, c.ledger.messages_sent, c.ledger.bytes_sent) for c in channels
    ]
    t0 = time.perf_counter()
    steps = getattr(reconciler, "alice_steps", None)
    if inline and steps is not None:
        ka, kb = run_inline(
            steps(a, qber_estimate, ca, seeds[0]),
            lambda: reconciler.bob(b, qber_estimate, cb, seeds[1]),
            channels,
        )
    else:
        if inline:
            raise ParameterError("inline", inline, f"{reconciler.name} has no inline runner")
        ka, kb = run_two_party(
            lambda: reconciler.alice(a, qber_estimate, ca, seeds[0]),
            lambda: reconciler.bob(b, qber_estimate, cb, seeds[1]),
            channels,
        )
    wall = time.perf_counter() - t0
    after = [
        (c.ledger.leaked_bits_sent, c.ledger.messages_sent, c.ledger.bytes_sent) for c in channels
    ]
    d = [sum(x[i] - y[i] for x, y in zip(after, before, strict=True)) for i in range(3)]
    return ReconcileResult(reconciler.name, ka, kb, int(a.size), d[0], d[1], d[2], wall)
