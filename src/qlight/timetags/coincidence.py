"""N-channel coincidence counting within a time window.

An N-fold coincidence is one tag from each of the N channels, all within a window: the
tuple ``(t_1, …, t_N)`` counts when ``max − min < W`` (after per-channel delays). Like the
all-pairs g2 histogram, every such tuple is counted once (not start–stop): for two channels
this is the number of pairs with ``|t_b − t_a| < W``.

References
----------
Accidental rate of N independent Poisson streams with rates ``r_i`` in a window ``W``:
``R_acc = N·W^(N−1)·Π r_i`` (the volume of ``{max − min < W}`` around one tag is
``N·W^(N−1)``); for ``N = 2`` this is the classic ``2·W·r_1·r_2`` (C. Eckart,
F. R. Shonka, Phys. Rev. 53, 752 (1938)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from qlight._numba import JIT
from qlight.errors import ParameterError
from qlight.timetags.correlate import as_time_tags, check_integer

__all__ = ["CoincidenceCount", "count_coincidences"]

#: Largest |timestamp| + |delay| + window accepted (int64 sums cannot overflow).
_MAX_ABS_PS = 2**62


@dataclass(frozen=True)
class CoincidenceCount:
    """Result of :func:`count_coincidences`.

    Attributes
    ----------
    count : int
        N-fold coincidences (tuples with ``max − min < W``).
    expected_accidental : float
        ``T·N·W^(N−1)·Π (n_i/T)``: the mean count for independent Poisson streams.
    window_ps, duration_ps : int
        Window and record length used.
    n_tags : tuple of int
        Tags per channel.
    """

    count: int
    expected_accidental: float
    window_ps: int
    duration_ps: int
    n_tags: tuple[int, ...]


@njit(**JIT)  # type: ignore[untyped-decorator]
def _count_tuples(
    tags: NDArray[np.int64], offsets: NDArray[np.int64], window: np.int64
) -> int:  # pragma: no cover - compiled by numba, tested through the wrapper
    """Count tuples (one tag per channel) with ``max − min < window``.

    Each tuple is counted at its earliest member, ordered by ``(t, channel)``: anchored at
    tag ``x`` of channel ``c``, channel ``d > c`` may use tags in ``[x, x + W)`` and channel
    ``d < c`` tags in ``(x, x + W)``; the tuples anchored there number the product of those
    counts. Pointers per (anchor channel, other channel) only move forward: O(N²·n).
    """
    n_ch = offsets.shape[0] - 1
    total = 0
    lo = np.empty(n_ch, dtype=np.int64)
    hi = np.empty(n_ch, dtype=np.int64)
    for c in range(n_ch):
        for d in range(n_ch):
            lo[d] = offsets[d]
            hi[d] = offsets[d]
        for i in range(offsets[c], offsets[c + 1]):
            x = tags[i]
            prod = 1
            for d in range(n_ch):
                if d == c:
                    continue
                end = offsets[d + 1]
                if d > c:
                    while lo[d] < end and tags[lo[d]] < x:
                        lo[d] += 1
                else:
                    while lo[d] < end and tags[lo[d]] <= x:
                        lo[d] += 1
                if hi[d] < lo[d]:
                    hi[d] = lo[d]
                while hi[d] < end and tags[hi[d]] - x < window:
                    hi[d] += 1
                prod *= hi[d] - lo[d]
            total += prod
    return total


def count_coincidences(
    channels: Sequence[ArrayLike],
    *,
    window_ps: int,
    duration_ps: int,
    delays_ps: Sequence[int] | None = None,
) -> CoincidenceCount:
    """Count N-fold coincidences: one tag per channel, all within ``window_ps``.

    Parameters
    ----------
    channels : sequence of array_like of int
        Sorted tags in ps of the N ≥ 2 channels.
    window_ps : int
        Coincidence window ``W`` (> 0): a tuple counts when ``max − min < W``.
    duration_ps : int
        Record length ``T`` (> 0), for the accidental estimate.
    delays_ps : sequence of int, optional
        Delay added to each channel's tags (default none).

    Returns
    -------
    CoincidenceCount

    Raises
    ------
    ParameterError
        For fewer than two channels, invalid tags, a non-positive window or duration, or
        delays of the wrong length.

    References
    ----------
    Accidental-coincidence rate (see module docstring).

    Examples
    --------
    >>> r = count_coincidences([[0, 100], [5, 300], [9, 104]], window_ps=10, duration_ps=400)
    >>> r.count
    1
    """
    if len(channels) < 2:
        raise ParameterError("channels", f"{len(channels)} channels", "must hold at least two")
    window = check_integer("window_ps", window_ps)
    if window <= 0:
        raise ParameterError("window_ps", window_ps, "must be > 0")
    duration = check_integer("duration_ps", duration_ps)
    if duration <= 0:
        raise ParameterError("duration_ps", duration_ps, "must be > 0")
    delays = [0] * len(channels) if delays_ps is None else list(delays_ps)
    if len(delays) != len(channels):
        raise ParameterError("delays_ps", delays, f"must have {len(channels)} entries")
    arrays = []
    for i, (ch, dl) in enumerate(zip(channels, delays, strict=True)):
        t = as_time_tags(f"channels[{i}]", ch)
        d = check_integer(f"delays_ps[{i}]", dl)
        if t.size and max(abs(int(t[0])), abs(int(t[-1]))) + abs(d) + window >= _MAX_ABS_PS:
            raise ParameterError(
                f"channels[{i}]", "array", "must satisfy |t| + |delay| + W < 2**62"
            )
        arrays.append(t + np.int64(d) if d else t)
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([a.size for a in arrays])
    tags = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
    count = int(_count_tuples(tags, offsets, np.int64(window)))
    n = len(arrays)
    expected = float(duration) * n * float(window) ** (n - 1)
    for a in arrays:
        expected *= a.size / duration
    return CoincidenceCount(
        count=count,
        expected_accidental=expected,
        window_ps=window,
        duration_ps=duration,
        n_tags=tuple(int(a.size) for a in arrays),
    )
