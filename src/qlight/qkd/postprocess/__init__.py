"""QKD post-processing: from sifted detections to identical, verified keys (layer 4).

Alice and Bob are separate parties that share nothing but an authenticated classical channel:

* :mod:`~.messages` — typed messages with exact accounting of the key bits each discloses;
* :mod:`~.channel` — in-process and loopback-TCP transports, Wegman–Carter authentication
  from a consumed pre-shared key pool, bounded timeouts, :func:`~.channel.run_two_party`;
* :mod:`~.sifting` — basis sifting from link records;
* :mod:`~.estimation` — QBER from a random sample with Clopper–Pearson / Serfling bounds;
* :mod:`~.reconcile` — the common reconciler interface; :mod:`~.cascade` — Cascade
  (Brassard–Salvail 1993 and Martinez-Mateo et al. 2015 with subblock reuse);
* :mod:`~.verification` — error verification with a 2-universal Toeplitz hash.

Privacy amplification, LDPC and the key store live in their own modules (see
docs/qkd-privacy-amplification.md). Every failure raises
:class:`~.errors.ProtocolAbort` with a reason; no partial key is ever returned as final.
"""

from __future__ import annotations

from qlight.qkd.postprocess.cascade import CascadeReconciler, block_sizes
from qlight.qkd.postprocess.channel import (
    AuthenticatedChannel,
    KeyPool,
    Ledger,
    channel_pair,
    run_two_party,
)
from qlight.qkd.postprocess.errors import AuthenticationError, ChannelTimeout, ProtocolAbort
from qlight.qkd.postprocess.estimation import (
    QberEstimate,
    clopper_pearson,
    estimate_alice,
    estimate_bob,
    serfling_upper,
)
from qlight.qkd.postprocess.messages import Message, bits_message, public_message
from qlight.qkd.postprocess.reconcile import (
    Reconciler,
    ReconcileResult,
    binary_entropy,
    efficiency,
    reconcile,
)
from qlight.qkd.postprocess.sifting import alice_view, bob_view, sift, sift_alice, sift_bob
from qlight.qkd.postprocess.toeplitz import toeplitz_hash
from qlight.qkd.postprocess.verification import VerificationResult, verify

__all__ = [
    "AuthenticatedChannel",
    "AuthenticationError",
    "CascadeReconciler",
    "ChannelTimeout",
    "KeyPool",
    "Ledger",
    "Message",
    "ProtocolAbort",
    "QberEstimate",
    "ReconcileResult",
    "Reconciler",
    "VerificationResult",
    "alice_view",
    "binary_entropy",
    "bits_message",
    "block_sizes",
    "bob_view",
    "channel_pair",
    "clopper_pearson",
    "efficiency",
    "estimate_alice",
    "estimate_bob",
    "public_message",
    "reconcile",
    "run_two_party",
    "serfling_upper",
    "sift",
    "sift_alice",
    "sift_bob",
    "toeplitz_hash",
    "verify",
]
