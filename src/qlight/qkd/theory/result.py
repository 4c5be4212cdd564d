"""The result object of every key-rate function, and the binary entropy."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["QBER_THRESHOLD", "KeyRateResult", "binary_entropy", "zero_rate"]

#: BB84 QBER above which no key can be distilled with one-way post-processing, 11.0 %
#: (Shor and Preskill, PRL 85, 441 (2000): 1 − 2 h(E) = 0 at E = 0.110).
QBER_THRESHOLD = 0.11


@dataclass(frozen=True)
class KeyRateResult:
    """Secret key rate of one protocol at one operating point.

    Attributes
    ----------
    rate_per_pulse : float
        Secret bits per pulse sent by Alice; ``0.0`` when no key can be extracted.
    reason : str or None
        ``None`` when the rate is positive, otherwise why it is zero, in words.
    gain : float
        Gain Q of the signal state (click probability per pulse).
    qber : float
        QBER E of the signal state.
    details : Mapping[str, float]
        Intermediate quantities (``y1``, ``e1``, ``q1``, ``p_multi``, ``unclipped_rate`` ...).
        ``unclipped_rate`` is the formula's value before clipping at 0 (negative when no
        key); optimisers and the maximum-distance solver use it.
    """

    rate_per_pulse: float
    reason: str | None
    gain: float
    qber: float
    details: Mapping[str, float] = field(default_factory=dict)

    @property
    def unclipped_rate(self) -> float:
        """The formula's value before clipping at zero (negative where no key exists)."""
        return float(self.details.get("unclipped_rate", self.rate_per_pulse))


def binary_entropy(x: float) -> float:
    """h(x) = −x log2 x − (1 − x) log2(1 − x), with h(0) = h(1) = 0; x is clipped to [0, 1]."""
    if x <= 0.0 or x >= 1.0:
        return 0.0
    return -x * math.log2(x) - (1.0 - x) * math.log2(1.0 - x)


def zero_rate(
    unclipped: float, gain: float, qber: float, details: Mapping[str, float], why: str
) -> KeyRateResult:
    """A result that is positive when ``unclipped > 0`` and else zero with a reason.

    A QBER at or above :data:`QBER_THRESHOLD` is always reported as the reason, since no
    key exists there whatever the other parameters.
    """
    info = {**details, "unclipped_rate": float(unclipped)}
    if qber >= QBER_THRESHOLD:
        return KeyRateResult(
            0.0,
            f"QBER {qber:.4f} >= {QBER_THRESHOLD}: no secret key can be distilled (BB84)",
            gain,
            qber,
            info,
        )
    if gain <= 0.0:
        return KeyRateResult(0.0, "no detections (gain 0)", gain, qber, info)
    if not unclipped > 0.0:
        return KeyRateResult(0.0, why, gain, qber, info)
    return KeyRateResult(float(unclipped), None, gain, qber, info)
