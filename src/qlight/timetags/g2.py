"""Second-order correlation g2(τ) from two time-tag channels (Hanbury Brown–Twiss).

Two estimators, both built on :func:`qlight.timetags.correlate.cross_correlate`:

* :func:`g2_cw` — continuous-wave excitation: the all-pairs histogram divided by the number
  of coincidences two uncorrelated streams with the same counts would give,
  ``N1·N2·Δτ·(T − |τ|)/T²``.
* :func:`g2_pulsed_ratio` — pulsed excitation: the area of the central peak divided by the
  mean area of the side peaks at multiples of the repetition period.
* :func:`qlight.timetags.g2_pulsed.g2_pulsed` — pulsed excitation, every peak normalised by
  the mean side peak or by ``N1·N2/(f_rep·T)`` (its own module).

References
----------
Normalisations: ``REFERENCES.md`` ("Time tags"). The triangular factor ``(T − |τ|)/T`` is
the overlap of two records of length ``T`` shifted by ``τ``; for ``N1`` and ``N2`` tags placed
independently and uniformly in ``[0, T)`` the expected number of pairs with delay in
``[τ, τ + dτ)`` is exactly ``N1·N2·(T − |τ|)/T²·dτ``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_positive_int
from qlight.errors import ParameterError
from qlight.timetags.correlate import as_time_tags, check_integer, cross_correlate

__all__ = [
    "G2Histogram",
    "PulsedG2",
    "check_span",
    "g2_at_zero",
    "g2_cw",
    "g2_cw_from_counts",
    "g2_pulsed_ratio",
]


@dataclass(frozen=True)
class G2Histogram:
    """A normalised g2(τ) histogram.

    Attributes
    ----------
    lags_ps : numpy.ndarray of int64
        Left bin edges in ps (``−window_ps … window_ps − bin_ps``).
    counts : numpy.ndarray of int64
        Raw pair counts per bin.
    g2 : numpy.ndarray of float64
        Normalised correlation ``counts / expected`` (NaN when a channel is empty).
    g2_err : numpy.ndarray of float64
        Poisson standard error per bin, ``sqrt(max(counts, 1)) / expected``: an empty bin is
        given the error of one count rather than zero.
    bin_ps, window_ps : int
        Bin width and half range of the histogram.
    n_a, n_b : int
        Number of tags in each channel.
    duration_ps : int
        Record length ``T`` used in the normalisation.
    """

    lags_ps: NDArray[np.int64]
    counts: NDArray[np.int64]
    g2: NDArray[np.float64]
    g2_err: NDArray[np.float64]
    bin_ps: int
    window_ps: int
    n_a: int
    n_b: int
    duration_ps: int

    @property
    def center_ps(self) -> NDArray[np.float64]:
        """Bin centres ``lags_ps + bin_ps/2`` in ps."""
        return self.lags_ps.astype(np.float64) + 0.5 * self.bin_ps

    @property
    def expected(self) -> NDArray[np.float64]:
        """Coincidences per bin expected for uncorrelated streams, ``N1·N2·Δτ·(T−|τ|)/T²``."""
        return _expected_uncorrelated(
            self.center_ps, self.n_a, self.n_b, self.bin_ps, self.duration_ps
        )


@dataclass(frozen=True)
class PulsedG2:
    """Result of :func:`g2_pulsed_ratio`.

    Attributes
    ----------
    g2_0 : float
        Central peak area over mean side-peak area (NaN when the side peaks are empty).
    g2_0_err : float
        One-standard-error uncertainty from Poisson statistics of both areas.
    center_counts : int
        Pairs in the central peak.
    side_counts : numpy.ndarray of int64
        Pairs in the side peaks ``k = −n … −1, 1 … n`` (in that order).
    period_ps : int
        Repetition period.
    peak_width_ps : int
        Full width of the integration interval of each peak.
    """

    g2_0: float
    g2_0_err: float
    center_counts: int
    side_counts: NDArray[np.int64]
    period_ps: int
    peak_width_ps: int


def _expected_uncorrelated(
    center_ps: NDArray[np.float64], n_a: int, n_b: int, bin_ps: int, duration_ps: int
) -> NDArray[np.float64]:
    """``N1·N2·Δτ·(T − |τ|)/T²`` at the bin centres (exact for a linear density per bin).

    No bin straddles τ = 0 (0 is always a bin edge), so the density is linear over each bin
    and its value at the centre times Δτ is the exact integral.
    """
    t = float(duration_ps)
    return float(n_a) * float(n_b) * float(bin_ps) * (t - np.abs(center_ps)) / (t * t)


def g2_cw(
    a_ps: ArrayLike,
    b_ps: ArrayLike,
    *,
    window_ps: int,
    bin_ps: int,
    duration_ps: int,
) -> G2Histogram:
    """Normalised CW g2(τ) of two channels with Poisson standard errors.

    ``g2(τ_k) = C_k / (N1·N2·Δτ·(T − |τ_k|)/T²)`` where ``C_k`` is the all-pairs count in bin
    ``k`` (see :func:`qlight.timetags.correlate.cross_correlate`), ``τ_k`` its centre,
    ``N1``, ``N2`` the tag counts, ``Δτ`` the bin width and ``T`` the record length.
    Uncorrelated streams give ``g2 = 1`` on average at every lag.

    Parameters
    ----------
    a_ps, b_ps : array_like of int
        Sorted tags of the two detectors in ps.
    window_ps : int
        Half range of the histogram (> 0, a multiple of ``bin_ps``, < ``duration_ps``).
    bin_ps : int
        Bin width in ps (> 0).
    duration_ps : int
        Record length ``T`` in ps; every tag must lie in a span of at most ``T``.

    Returns
    -------
    G2Histogram
        Counts, g2, its standard error and the inputs of the normalisation. When a channel
        is empty the normalisation vanishes and ``g2``/``g2_err`` are NaN.

    Raises
    ------
    ParameterError
        For invalid tags or histogram parameters (see ``cross_correlate``), a duration that
        is not a positive integer larger than the window, or tags spanning more than the
        duration (for example a duration given in the wrong unit).

    References
    ----------
    CW normalisation ``N1·N2·Δτ·(T−|τ|)/T²``: ``REFERENCES.md`` ("Time tags").

    Examples
    --------
    >>> import numpy as np
    >>> h = g2_cw(np.array([0, 500]), np.array([250, 750]), window_ps=500, bin_ps=250,
    ...           duration_ps=1000)
    >>> h.counts.tolist()
    [0, 1, 0, 2]
    """
    duration = check_integer("duration_ps", duration_ps)
    window = check_integer("window_ps", window_ps)
    if duration <= 0:
        raise ParameterError("duration_ps", duration_ps, "must be > 0")
    a = as_time_tags("a_ps", a_ps)
    b = as_time_tags("b_ps", b_ps)
    lags_ps, counts = cross_correlate(a, b, window_ps=window_ps, bin_ps=bin_ps)
    if window >= duration:
        raise ParameterError("window_ps", window_ps, f"must be < duration_ps={duration}")
    check_span(a, b, duration)
    return g2_cw_from_counts(
        lags_ps, counts, n_a=int(a.size), n_b=int(b.size), duration_ps=duration
    )


def g2_cw_from_counts(
    lags_ps: NDArray[np.int64],
    counts: NDArray[np.int64],
    *,
    n_a: int,
    n_b: int,
    duration_ps: int,
) -> G2Histogram:
    """Normalise an all-pairs histogram (from :func:`cross_correlate`) as in :func:`g2_cw`.

    Used when the histogram was accumulated elsewhere (chunk by chunk, see
    :mod:`qlight.timetags.streaming`). ``lags_ps`` must be the uniform left edges
    ``−W … W − Δ`` that :func:`cross_correlate` returns.

    Raises
    ------
    ParameterError
        If the lags are not uniform and symmetric, or the duration is not larger than the
        window.

    References
    ----------
    CW normalisation ``N1·N2·Δτ·(T−|τ|)/T²``: ``REFERENCES.md`` ("Time tags").
    """
    lags = np.asarray(lags_ps, dtype=np.int64)
    if (
        lags.size < 2
        or np.any(np.diff(lags) != lags[1] - lags[0])
        or lags[0] != -lags[-1] - (lags[1] - lags[0])
    ):
        raise ParameterError("lags_ps", "array", "must be the uniform edges −W … W − bin")
    width = int(lags[1] - lags[0])
    window = int(-lags[0])
    duration = check_integer("duration_ps", duration_ps)
    if window >= duration:
        raise ParameterError("duration_ps", duration_ps, f"must be > window_ps={window}")
    centers = lags.astype(np.float64) + 0.5 * width
    expected = _expected_uncorrelated(centers, n_a, n_b, width, duration)
    if n_a == 0 or n_b == 0:
        g2 = np.full(counts.shape, np.nan)
        g2_err = np.full(counts.shape, np.nan)
    else:
        g2 = counts / expected
        g2_err = np.sqrt(np.maximum(counts, 1).astype(np.float64)) / expected
    return G2Histogram(
        lags_ps=lags,
        counts=counts,
        g2=g2,
        g2_err=g2_err,
        bin_ps=width,
        window_ps=window,
        n_a=n_a,
        n_b=n_b,
        duration_ps=duration,
    )


def check_span(a: NDArray[np.int64], b: NDArray[np.int64], duration: int) -> None:
    """Raise if the tags of both channels together span more than ``duration`` ps."""
    firsts = [int(x[0]) for x in (a, b) if x.size]
    lasts = [int(x[-1]) for x in (a, b) if x.size]
    if firsts and max(lasts) - min(firsts) > duration:
        raise ParameterError(
            "duration_ps",
            duration,
            f"must cover the span of the tags ({max(lasts) - min(firsts)} ps); "
            "is it in picoseconds?",
        )


def g2_at_zero(hist: G2Histogram, *, half_width_ps: int) -> tuple[float, float]:
    """g2(0) averaged over the bins whose centres lie within ``±half_width_ps`` of τ = 0.

    The estimate is ``ΣC_k / ΣE_k`` over the selected bins (pooled counts over pooled
    expectation), with Poisson error ``sqrt(max(ΣC_k, 1)) / ΣE_k``.

    Parameters
    ----------
    hist : G2Histogram
        A histogram from :func:`g2_cw`.
    half_width_ps : int
        Half width of the central interval (≥ ``bin_ps/2`` so that at least the two bins
        next to zero are included).

    Returns
    -------
    (float, float)
        g2(0) and its standard error (NaN, NaN when a channel is empty).

    Raises
    ------
    ParameterError
        If ``half_width_ps`` selects no bin or exceeds the histogram window.
    """
    half = check_integer("half_width_ps", half_width_ps)
    if 2 * half < hist.bin_ps or half > hist.window_ps:
        raise ParameterError(
            "half_width_ps",
            half_width_ps,
            f"must be in [bin_ps/2, window_ps] = [{hist.bin_ps / 2}, {hist.window_ps}]",
        )
    if hist.n_a == 0 or hist.n_b == 0:
        return math.nan, math.nan
    sel = np.abs(hist.center_ps) <= half
    c = float(hist.counts[sel].sum())
    e = float(hist.expected[sel].sum())
    return c / e, math.sqrt(max(c, 1.0)) / e


def g2_pulsed_ratio(
    a_ps: ArrayLike,
    b_ps: ArrayLike,
    *,
    period_ps: int,
    n_side_peaks: int = 5,
    peak_width_ps: int | None = None,
    delay_b_ps: int = 0,
) -> PulsedG2:
    """Pulsed g2(0): central peak area over the mean area of the side peaks.

    Peak ``k`` integrates all pairs with delay ``τ ∈ [k·P − w/2, k·P − w/2 + w)``, where ``P``
    is the repetition period and ``w`` the integration width (``w/2`` rounded down). With
    ``C`` the central area and ``S = Σ S_k`` the total of the ``2n`` side peaks,
    ``g2(0) = C / (S/2n)`` and, treating ``C`` and ``S`` as independent Poisson counts,
    ``σ = g2(0)·sqrt(1/C + 1/S)`` (with ``C`` replaced by 1 in the error when it is zero).

    Parameters
    ----------
    a_ps, b_ps : array_like of int
        Sorted tags of the two detectors in ps.
    period_ps : int
        Repetition period ``P`` of the excitation in ps (> 0).
    n_side_peaks : int, optional
        Number ``n`` of side peaks on each side (default 5).
    peak_width_ps : int, optional
        Integration width ``w`` (0 < w ≤ P). Default ``P`` (all pairs, no gap).
    delay_b_ps : int, optional
        Delay added to channel b so that the central peak sits at τ = 0.

    Returns
    -------
    PulsedG2
        Ratio, its standard error and the peak areas. The ratio is NaN when no side-peak
        pair was found.

    Raises
    ------
    ParameterError
        For invalid tags, a non-positive period, a width outside ``(0, P]`` or a
        non-positive number of side peaks.

    References
    ----------
    Pulsed g2(0) as central / mean side-peak area: ``REFERENCES.md`` ("Time tags").
    """
    period = check_integer("period_ps", period_ps)
    if period <= 0:
        raise ParameterError("period_ps", period_ps, "must be > 0")
    n_side = check_positive_int("n_side_peaks", n_side_peaks)
    width = period if peak_width_ps is None else check_integer("peak_width_ps", peak_width_ps)
    if not 0 < width <= period:
        raise ParameterError("peak_width_ps", peak_width_ps, f"must be in (0, {period}]")
    half = width // 2
    delay = check_integer("delay_b_ps", delay_b_ps)
    # Shift by +half so that peak k becomes [k·P, k·P + w); with bins of gcd(P, w) both the
    # peak edges and the period are bin edges.
    step = math.gcd(period, width)
    window = (n_side + 1) * period
    lags_ps, counts = cross_correlate(
        a_ps, b_ps, window_ps=window, bin_ps=step, delay_b_ps=delay + half
    )
    peak = np.empty(2 * n_side + 1, dtype=np.int64)
    for idx, k in enumerate(range(-n_side, n_side + 1)):
        lo = k * period
        sel = (lags_ps >= lo) & (lags_ps < lo + width)
        peak[idx] = counts[sel].sum()
    center = int(peak[n_side])
    side = np.concatenate([peak[:n_side], peak[n_side + 1 :]])
    total_side = int(side.sum())
    if total_side == 0:
        ratio, err = math.nan, math.nan
    else:
        mean_side = total_side / (2 * n_side)
        ratio = center / mean_side
        err = math.sqrt(max(center, 1)) / mean_side * math.sqrt(1.0 + center / total_side)
    return PulsedG2(
        g2_0=ratio,
        g2_0_err=err,
        center_counts=center,
        side_counts=side,
        period_ps=period,
        peak_width_ps=width,
    )
