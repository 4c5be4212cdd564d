"""Multi-tau (log-binned) cross-correlation of two time-tag streams, ns to seconds.

The time axis is a cascade of levels. Level 0 has resolution ``Δ0 = base_ps`` and lags
``d·Δ0`` for ``d = 0 … B−1``; level ``l ≥ 1`` has resolution ``Δl = 2^l·Δ0`` and lags
``d·Δl`` for ``d = B/2 … B−1``, so the lags continue each other with a constant number
of points per octave. At level ``l`` the tags are coarsened to ``⌊t/Δl⌋`` and tags that
fall on the same coarse time are merged into one with a weight (the number of photons);
the count at coarse lag ``d`` is ``Σ w_a·w_b`` over coarse tag pairs with
``t_b − t_a = d``. Because merged tags shrink the streams wherever the resolution exceeds the
tag spacing, every level costs O(distinct tags + pairs) and correlations out to seconds
stay cheap.

The counts are exact integers: the number of tag pairs whose coarse times differ by ``d``.
A pair at true delay ``τ`` contributes to coarse lag ``d`` with probability
``max(0, 1 − |τ/Δl − d|)`` (a triangle of area ``Δl`` centred at ``d·Δl``), so for
uncorrelated streams the expected count is ``N1·N2·Δl·(T − d·Δl)/T²`` — the same
normalisation as the linear CW g2 (:func:`qlight.timetags.g2.g2_cw`) with ``Δτ = Δl``.

The reported error ``sqrt(counts)/E`` is the Poisson error of the pair count. It holds while
a coarse bin holds far less than one tag on average; at levels whose resolution exceeds the
tag spacing a lag's count is a sum of products of many tags, its variance is larger (up to
``1 + 2·n̄`` times, ``n̄`` tags per coarse bin) and neighbouring lags are correlated.

References
----------
Multi-tau correlation of time tags with coarsening and weights: M. Wahl, I. Gregor,
M. Patting, J. Enderlein, Opt. Express 11, 3583 (2003), section 2 and Fig. 2. Multiple-tau
lag spacing: K. Schätzel, Quantum Opt. 2, 287 (1990). Normalisation
``N1·N2·Δτ·(T − τ)/T²``: ``REFERENCES.md`` ("Time tags").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from qlight._numba import JIT
from qlight.errors import ParameterError
from qlight.timetags.correlate import (
    _BLOCK,
    _bin_index,
    _block_hits,
    as_time_tags,
    check_integer,
)

__all__ = ["MultiTauCorrelation", "multitau_correlate", "multitau_lags"]


@dataclass(frozen=True)
class MultiTauCorrelation:
    """A multi-tau correlation g(τ) for τ ≥ 0 (channel b after channel a).

    Attributes
    ----------
    lags_ps : numpy.ndarray of int64
        Lags ``d·Δl`` (centres of the triangular lag windows), increasing.
    resolution_ps : numpy.ndarray of int64
        Resolution ``Δl`` of each lag's level.
    counts : numpy.ndarray of int64
        Tag pairs at each coarse lag (exact).
    g2, g2_err : numpy.ndarray of float64
        ``counts / E`` with ``E ≈ N1·N2·Δl·(T − τ)/T²`` the mean count of independent tags on
        ``[0, T)`` (exact for the coarse bins, see ``_expected_uncorrelated``), and the Poisson
        error ``sqrt(max(counts, 1))/E``.
    n_a, n_b, duration_ps : int
        Inputs of the normalisation.
    """

    lags_ps: NDArray[np.int64]
    resolution_ps: NDArray[np.int64]
    counts: NDArray[np.int64]
    g2: NDArray[np.float64]
    g2_err: NDArray[np.float64]
    n_a: int
    n_b: int
    duration_ps: int


@njit(**JIT)  # type: ignore[untyped-decorator]
def _halve(t: NDArray[np.int64], w: NDArray[np.int64], n: int) -> int:
    """In place: ``t ← ⌊t/2⌋`` (arithmetic shift); merge equal neighbours when worth it.

    Merging is only an optimisation (the level's count ``Σ w_a·w_b`` is the same with
    repeated coarse tags), so the tags are merged only when at least one in eight repeats;
    at fine levels the halving stays one vectorised pass. Returns the new length.
    """
    for i in range(n):
        t[i] >>= 1
    repeats = 0
    for i in range(n - 1):
        repeats += int(t[i] == t[i + 1])
    if 8 * repeats < n:
        return n
    m = 0
    for i in range(n):
        if m > 0 and t[m - 1] == t[i]:
            w[m - 1] += w[i]
        else:
            t[m] = t[i]
            w[m] = w[i]
            m += 1
    return m  # pragma: no cover - compiled by numba, tested through the wrapper


@njit(**JIT)  # type: ignore[untyped-decorator]
def _coarsen(t: NDArray[np.int64], w: NDArray[np.int64], n: int, factor: np.int64) -> int:
    """In place: ``t ← ⌊t/factor⌋`` (``t ≥ 0``), merging equal neighbours; new length.

    While the quotients stay below 2^50 they are taken by
    :func:`qlight.timetags.correlate._bin_index` (a floating-point estimate corrected
    exactly), not by an integer division per tag.
    """
    inv = 1.0 / factor
    fast = n == 0 or t[n - 1] // factor < 2**50  # t is sorted: t[n − 1] is the largest
    m = 0
    for i in range(n):
        x = _bin_index(t[i], inv, factor) if fast else t[i] // factor
        if m > 0 and t[m - 1] == x:
            w[m - 1] += w[i]
        else:
            t[m] = x
            w[m] = w[i]
            m += 1
    return m  # pragma: no cover - compiled by numba, tested through the wrapper


@njit(**JIT)  # type: ignore[untyped-decorator]
def _correlate_level(
    ta: NDArray[np.int64],
    wa: NDArray[np.int64],
    tb: NDArray[np.int64],
    wb: NDArray[np.int64],
    d_min: int,
    d_max: int,
    lo: NDArray[np.int64],
    gap: NDArray[np.int64],
    hits: NDArray[np.int64],
    out: NDArray[np.int64],
) -> None:  # pragma: no cover - compiled by numba, tested through the wrapper
    """``out[d − d_min] += wa·wb`` for every coarse pair with ``tb − ta = d ∈ [d_min, d_max]``.

    Uses the blocked branch-free merge of the linear correlator
    (:func:`qlight.timetags.correlate._block_hits`) to find the start tags with a partner.
    """
    n_a = ta.shape[0]
    n_b = tb.shape[0]
    off = np.int64(-d_min)
    span = np.int64(d_max - d_min + 1)
    block = lo.shape[0]
    j_from = 0
    for first in range(0, n_a, block):
        stop = min(first + block, n_a)
        m = _block_hits(ta, tb, off, span, first, stop, j_from, lo, gap, hits)
        j_from = min(lo[stop - first - 1], n_b)
        for h in range(m):
            t = hits[h]
            low = ta[first + t] + d_min
            w = wa[first + t]
            k = lo[t]
            while k < n_b and tb[k] - low < span:
                out[tb[k] - low] += w * wb[k]
                k += 1


@njit(**JIT)  # type: ignore[untyped-decorator]
def _fine_levels(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    base: np.int64,
    n_fine: int,
    points: int,
    lo: NDArray[np.int64],
    gap: NDArray[np.int64],
    hits: NDArray[np.int64],
    counts: NDArray[np.int64],
) -> None:  # pragma: no cover - compiled by numba, tested through the wrapper
    """Levels ``0 … n_fine−1`` in one pass over the exact pairs.

    At fine levels coarsening merges almost nothing, so instead of one merge per level every
    pair with ``−Δ0 < b − a < B·Δ_(n_fine−1)`` (the union of their lag windows) is found once
    and its coarse lag ``⌊b/Δl⌋ − ⌊a/Δl⌋`` evaluated at each level; the counts are the
    same as the cascade's, since merging never changes ``Σ w_a·w_b``.
    """
    n_a = a.shape[0]
    n_b = b.shape[0]
    half = points // 2
    off = base - 1
    span = np.int64(points) * (base << (n_fine - 1)) + base - 1
    block = lo.shape[0]
    j_from = 0
    for first in range(0, n_a, block):
        stop = min(first + block, n_a)
        m = _block_hits(a, b, off, span, first, stop, j_from, lo, gap, hits)
        j_from = min(lo[stop - first - 1], n_b)
        for h in range(m):
            t = hits[h]
            x = a[first + t]
            cx = x // base
            k = lo[t]
            while k < n_b and b[k] - x + off < span:
                cy = b[k] // base
                d = cy - cx
                if 0 <= d < points:
                    counts[d] += 1
                pos = points
                for level in range(1, n_fine):
                    d = (cy >> level) - (cx >> level)
                    if half <= d < points:
                        counts[pos + d - half] += 1
                    pos += half
                k += 1


@njit(**JIT)  # type: ignore[untyped-decorator]
def _multitau(
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    base: np.int64,
    n_levels: int,
    n_fine: int,
    points: int,
    counts: NDArray[np.int64],
) -> None:  # pragma: no cover - compiled by numba, tested through the wrapper
    """Fill ``counts`` (level 0: ``points`` lags, then ``points/2`` per level).

    Levels below ``n_fine`` by :func:`_fine_levels`; the rest by the coarsening cascade
    (Wahl et al. 2003): coarsen to level ``n_fine`` at once, then halve level by level.
    """
    half = points // 2
    lo = np.empty(max(min(a.shape[0], _BLOCK), 1), dtype=np.int64)
    gap = np.empty_like(lo)
    hits = np.empty_like(lo)
    if n_fine > 0:
        _fine_levels(a, b, base, n_fine, points, lo, gap, hits, counts)
    if n_fine == n_levels:
        return
    ta = a.copy()
    tb = b.copy()
    wa = np.ones(a.shape[0], dtype=np.int64)
    wb = np.ones(b.shape[0], dtype=np.int64)
    na = _coarsen(ta, wa, a.shape[0], base << n_fine)
    nb = _coarsen(tb, wb, b.shape[0], base << n_fine)
    for level in range(n_fine, n_levels):
        if level > n_fine:
            na = _halve(ta, wa, na)
            nb = _halve(tb, wb, nb)
        first_d = 0 if level == 0 else half
        pos = 0 if level == 0 else points + (level - 1) * half
        _correlate_level(
            ta[:na],
            wa[:na],
            tb[:nb],
            wb[:nb],
            first_d,
            points - 1,
            lo,
            gap,
            hits,
            counts[pos : pos + points - first_d],
        )


def _expected_uncorrelated(
    lags: NDArray[np.int64], res: NDArray[np.int64], n_a: int, n_b: int, duration: int
) -> NDArray[np.float64]:
    """Mean count at each coarse lag for independent uniform tags on ``[0, T)``.

    Coarse bins ``[iΔ, (i+1)Δ)`` tile ``[0, T)``: ``K = ⌈T/Δ⌉`` bins, the last of length
    ``r = T − (K−1)Δ``. Bin ``i`` holds on average ``N·len_i/T`` tags, so the mean count at
    lag ``d`` is ``N1·N2/T²·Σ_i len_i·len_(i+d)``: ``((K−1)Δ² + r²)`` for ``d = 0`` and
    ``((K−1−d)Δ² + Δ·r)`` for ``1 ≤ d < K``. It equals ``N1·N2·Δ·(T − dΔ)/T²`` when ``Δ``
    divides ``T`` and removes the edge bias of order ``Δ/T`` otherwise.
    """
    t = float(duration)
    delta = res.astype(np.float64)
    k = -(-duration // res)
    r = (duration - (k - 1) * res).astype(np.float64)
    d = lags // res
    pairs = np.where(
        d == 0, (k - 1) * delta**2 + r**2, np.maximum(k - 1 - d, 0) * delta**2 + delta * r
    )
    pairs = np.where(d < k, pairs, 0.0)
    return float(n_a) * float(n_b) * pairs / (t * t)


def multitau_lags(
    *, base_ps: int, n_levels: int, points_per_level: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Lags ``d·Δl`` and resolutions ``Δl`` of the multi-tau cascade (see module docstring).

    Parameters
    ----------
    base_ps : int
        Resolution ``Δ0`` of level 0 (> 0).
    n_levels : int
        Number of levels (≥ 1).
    points_per_level : int
        ``B``: lags of level 0; later levels add ``B/2`` (even, ≥ 2).

    Returns
    -------
    lags_ps, resolution_ps : numpy.ndarray of int64
    """
    lags: list[int] = []
    res: list[int] = []
    for level in range(n_levels):
        step = base_ps << level
        first = 0 if level == 0 else points_per_level // 2
        for d in range(first, points_per_level):
            lags.append(d * step)
            res.append(step)
    return np.array(lags, dtype=np.int64), np.array(res, dtype=np.int64)


def multitau_correlate(
    a_ps: ArrayLike,
    b_ps: ArrayLike,
    *,
    duration_ps: int,
    max_lag_ps: int,
    base_ps: int = 1000,
    points_per_level: int = 16,
) -> MultiTauCorrelation:
    """Normalised multi-tau correlation of two channels from ``base_ps`` to ``max_lag_ps``.

    Parameters
    ----------
    a_ps, b_ps : array_like of int
        Sorted tags in ps (use the same array twice for an autocorrelation; its ``d = 0``
        lag then holds each photon paired with itself).
    duration_ps : int
        Record length ``T`` (> ``max_lag_ps``, covering the tags).
    max_lag_ps : int
        Longest lag wanted; levels are added until the last lag reaches it.
    base_ps : int, optional
        Resolution of level 0 (default 1 ns).
    points_per_level : int, optional
        ``B`` (even, 4 … 1024; default 16, i.e. 8 lags per octave).

    Returns
    -------
    MultiTauCorrelation

    Raises
    ------
    ParameterError
        For invalid tags, non-positive or inconsistent times, an odd or out-of-range ``B``,
        or tags that are negative (coarsening uses ``⌊t/Δ⌋`` of non-negative times).

    References
    ----------
    Wahl et al., Opt. Express 11, 3583 (2003) (see module docstring).
    """
    duration = check_integer("duration_ps", duration_ps)
    max_lag = check_integer("max_lag_ps", max_lag_ps)
    base = check_integer("base_ps", base_ps)
    points = check_integer("points_per_level", points_per_level)
    if base <= 0:
        raise ParameterError("base_ps", base_ps, "must be > 0")
    if points % 2 or not 4 <= points <= 1024:
        raise ParameterError("points_per_level", points_per_level, "must be even, in [4, 1024]")
    if max_lag < base:
        raise ParameterError("max_lag_ps", max_lag_ps, f"must be >= base_ps={base}")
    if duration <= max_lag:
        raise ParameterError("duration_ps", duration_ps, f"must be > max_lag_ps={max_lag}")
    a = as_time_tags("a_ps", a_ps)
    b = as_time_tags("b_ps", b_ps)
    for name, arr in (("a_ps", a), ("b_ps", b)):
        if arr.size and int(arr[0]) < 0:
            raise ParameterError(name, int(arr[0]), "must hold tags >= 0")
    firsts = [int(x[0]) for x in (a, b) if x.size]
    lasts = [int(x[-1]) for x in (a, b) if x.size]
    if firsts and max(lasts) - min(firsts) > duration:
        raise ParameterError("duration_ps", duration, "must cover the span of the tags")
    n_levels = 1
    while (points - 1) * (base << (n_levels - 1)) < max_lag:
        n_levels += 1
    lags, res = multitau_lags(base_ps=base, n_levels=n_levels, points_per_level=points)
    counts = np.zeros(lags.size, dtype=np.int64)
    if a.size and b.size:
        # Fine levels: those whose whole lag window B·Δl spans at most the mean spacing of
        # the b tags (about one pair per start tag), evaluated from exact pairs.
        spacing = max(duration // b.size, 1)
        n_fine = 0
        while n_fine < n_levels and points * (base << n_fine) <= spacing:
            n_fine += 1
        _multitau(a, b, np.int64(base), n_levels, n_fine, points, counts)
    expected = _expected_uncorrelated(lags, res, a.size, b.size, duration)
    if a.size and b.size:
        # a lag beyond the record (possible only in the last level) has no expectation: NaN
        ok = expected > 0
        g2 = np.divide(counts, expected, out=np.full(lags.shape, np.nan), where=ok)
        err = np.sqrt(np.maximum(counts, 1).astype(np.float64))
        g2_err = np.divide(err, expected, out=np.full(lags.shape, np.nan), where=ok)
    else:
        g2 = np.full(lags.shape, np.nan)
        g2_err = np.full(lags.shape, np.nan)
    return MultiTauCorrelation(
        lags_ps=lags,
        resolution_ps=res,
        counts=counts,
        g2=g2,
        g2_err=g2_err,
        n_a=int(a.size),
        n_b=int(b.size),
        duration_ps=duration,
    )
