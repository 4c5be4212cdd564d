"""Errors of the post-processing protocols: every abort carries a reason.

A two-party protocol never emits a partial key as final: any failure raises one of these,
and the party that detects it sends an ``abort`` message with the reason to the other side
(see :meth:`qlight.qkd.postprocess.channel.AuthenticatedChannel.abort`).
"""

from __future__ import annotations

from qlight.errors import QlightError

__all__ = ["AuthenticationError", "ChannelTimeout", "ProtocolAbort"]


class ProtocolAbort(QlightError):  # noqa: N818 - an abort, named as the issue does
    """The protocol stopped; ``reason`` says why (local failure or the peer's abort message)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"protocol aborted: {reason}")


class AuthenticationError(ProtocolAbort):
    """A message failed authentication (tampered, replayed, reordered) or the key pool ran out."""


class ChannelTimeout(ProtocolAbort):
    """No message arrived within the channel's timeout."""
