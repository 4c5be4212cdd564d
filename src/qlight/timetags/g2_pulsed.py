"""Pulsed g2: peak areas in integration windows, normalised by side peaks or by Poisson.

Peak ``k`` (``k = −n … n``) counts the pairs with delay in ``[k·P − w/2, k·P − w/2 + w)``
(``P`` the repetition period, ``w`` the integration window). Two references for the peak
areas: the mean side peak, or ``N1·N2/(f_rep·T)``, the area per period that uncorrelated
(Poissonian) light gives. The ``*_from_counts`` form normalises histograms accumulated chunk
by chunk (:mod:`qlight.timetags.streaming`).

References
----------
Pulsed g2(0) = central peak area / mean side-peak area (or ``N1·N2/(f_rep·T)``):
``REFERENCES.md`` ("Time tags").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_positive_int
from qlight.errors import ParameterError
from qlight.timetags.correlate import as_time_tags, check_integer, cross_correlate
from qlight.timetags.g2 import check_span

__all__ = [
    "PULSED_NORMALIZATIONS",
    "PulsedG2Histogram",
    "g2_pulsed",
    "g2_pulsed_from_counts",
    "pulsed_peak_histogram",
]

#: Pulsed normalisations accepted by :func:`g2_pulsed`.
PULSED_NORMALIZATIONS = ("side_peaks", "poisson")


@dataclass(frozen=True)
class PulsedG2Histogram:
    """Result of :func:`g2_pulsed`: histogram, peak areas and their normalisation.

    Attributes
    ----------
    lags_ps, counts : numpy.ndarray of int64
        Left bin edges and raw pair counts over ``[−(n+½)·P, (n+½)·P)`` (rounded out to bins).
    g2, g2_err : numpy.ndarray of float64
        ``counts`` over the per-bin reference ``A·Δτ/P`` (``A`` the reference peak area), so
        a peak of area ``A`` spread evenly over one period reads 1; Poisson errors.
    peak_k : numpy.ndarray of int64
        Peak orders ``−n … n``.
    peak_counts : numpy.ndarray of int64
        Pairs with delay in ``[k·P − w/2, k·P − w/2 + w)`` (``w/2`` rounded down).
    peak_g2, peak_g2_err : numpy.ndarray of float64
        Peak areas over the reference area ``A`` and their Poisson errors.
    g2_0, g2_0_err : float
        The central entry of ``peak_g2`` (for ``"side_peaks"`` its error also includes the
        uncertainty of the mean side peak).
    reference_area : float
        ``A``: the mean side-peak area or ``N1·N2·P/T``.
    normalization : str
        ``"side_peaks"`` or ``"poisson"``.
    period_ps, integration_ps, bin_ps, n_a, n_b, duration_ps : int
        The inputs of the normalisation.
    """

    lags_ps: NDArray[np.int64]
    counts: NDArray[np.int64]
    g2: NDArray[np.float64]
    g2_err: NDArray[np.float64]
    peak_k: NDArray[np.int64]
    peak_counts: NDArray[np.int64]
    peak_g2: NDArray[np.float64]
    peak_g2_err: NDArray[np.float64]
    g2_0: float
    g2_0_err: float
    reference_area: float
    normalization: str
    period_ps: int
    integration_ps: int
    bin_ps: int
    n_a: int
    n_b: int
    duration_ps: int


def g2_pulsed(
    a_ps: ArrayLike,
    b_ps: ArrayLike,
    *,
    period_ps: int,
    duration_ps: int,
    bin_ps: int,
    n_side_peaks: int = 5,
    integration_ps: int | None = None,
    normalization: str = "side_peaks",
    delay_b_ps: int = 0,
) -> PulsedG2Histogram:
    """Pulsed g2: peak areas in an integration window, normalised two ways, plus the histogram.

    Peak ``k`` (``k = −n … n``) counts the pairs with delay in ``[k·P − w/2, k·P − w/2 + w)``
    (exact, as :func:`g2_pulsed_ratio`). The reference area ``A`` is either

    * ``"side_peaks"``: the mean of the ``2n`` side peaks, ``A = S/2n``; then
      ``g2(0) = C/A`` with ``σ = g2(0)·sqrt(1/C + 1/S)``;
    * ``"poisson"``: the area uncorrelated (Poissonian) light gives per period,
      ``A = N1·N2/(f_rep·T) = N1·N2·P/T``; then ``g2(0) = C/A`` with ``σ = sqrt(C)/A``.
      It assumes the window holds the whole peak (``w`` well above the detector jitter).

    ``C`` is replaced by 1 in the errors when it is zero.

    Parameters
    ----------
    a_ps, b_ps : array_like of int
        Sorted tags of the two detectors in ps.
    period_ps : int
        Repetition period ``P = 1/f_rep`` in ps (> 0).
    duration_ps : int
        Record length ``T`` in ps (> 0, covering the tags).
    bin_ps : int
        Bin width of the returned histogram (> 0).
    n_side_peaks : int, optional
        Side peaks ``n`` on each side (default 5).
    integration_ps : int, optional
        Integration window ``w`` of each peak, ``0 < w ≤ P`` (default ``P``).
    normalization : {"side_peaks", "poisson"}
        Reference area, see above.
    delay_b_ps : int, optional
        Delay added to channel b so that the central peak sits at τ = 0.

    Returns
    -------
    PulsedG2Histogram

    Raises
    ------
    ParameterError
        For invalid tags or parameters, an unknown normalisation, or a duration that does
        not cover the tags.

    References
    ----------
    Pulsed g2(0) as central over mean side-peak area, or over ``N1·N2/(f_rep·T)``:
    ``REFERENCES.md`` ("Time tags").
    """
    if normalization not in PULSED_NORMALIZATIONS:
        raise ParameterError(
            "normalization", normalization, f"must be one of {PULSED_NORMALIZATIONS}"
        )
    duration = check_integer("duration_ps", duration_ps)
    if duration <= 0:
        raise ParameterError("duration_ps", duration_ps, "must be > 0")
    width = check_integer("bin_ps", bin_ps)
    if width <= 0:
        raise ParameterError("bin_ps", bin_ps, "must be > 0")
    a = as_time_tags("a_ps", a_ps)
    b = as_time_tags("b_ps", b_ps)
    check_span(a, b, duration)
    period = check_integer("period_ps", period_ps)
    if period <= 0:
        raise ParameterError("period_ps", period_ps, "must be > 0")
    n_side = check_positive_int("n_side_peaks", n_side_peaks)
    delay = check_integer("delay_b_ps", delay_b_ps)
    integration = period if integration_ps is None else integration_ps
    p_window, p_step, p_delay = pulsed_peak_histogram(
        period_ps=period, n_side_peaks=n_side, integration_ps=integration
    )
    p_lags, p_counts = cross_correlate(
        a, b, window_ps=p_window, bin_ps=p_step, delay_b_ps=delay + p_delay
    )
    half_span = (2 * n_side + 1) * period // 2
    window = -(-half_span // width) * width
    lags_ps, counts = cross_correlate(a, b, window_ps=window, bin_ps=width, delay_b_ps=delay)
    return g2_pulsed_from_counts(
        lags_ps,
        counts,
        p_lags,
        p_counts,
        n_a=int(a.size),
        n_b=int(b.size),
        duration_ps=duration,
        period_ps=period,
        integration_ps=integration,
        normalization=normalization,
    )


def pulsed_peak_histogram(
    *, period_ps: int, n_side_peaks: int, integration_ps: int
) -> tuple[int, int, int]:
    """Histogram whose bins tile every pulsed peak window exactly: ``(window, bin, delay)``.

    Peak ``k`` is ``[k·P − w/2, k·P − w/2 + w)`` (``w/2`` rounded down). Delaying channel b by
    ``w/2`` moves it to ``[k·P, k·P + w)``; with bins of ``gcd(P, w)`` and a window of
    ``(n + 1)·P`` all peak edges are bin edges.

    Raises
    ------
    ParameterError
        For a non-positive period or side-peak count, or ``w`` outside ``(0, P]``.
    """
    period = check_integer("period_ps", period_ps)
    if period <= 0:
        raise ParameterError("period_ps", period_ps, "must be > 0")
    n_side = check_positive_int("n_side_peaks", n_side_peaks)
    width = check_integer("peak_width_ps", integration_ps)
    if not 0 < width <= period:
        raise ParameterError("peak_width_ps", integration_ps, f"must be in (0, {period}]")
    return (n_side + 1) * period, math.gcd(period, width), width // 2


def g2_pulsed_from_counts(
    lags_ps: NDArray[np.int64],
    counts: NDArray[np.int64],
    peak_lags_ps: NDArray[np.int64],
    peak_counts_hist: NDArray[np.int64],
    *,
    n_a: int,
    n_b: int,
    duration_ps: int,
    period_ps: int,
    integration_ps: int,
    normalization: str,
) -> PulsedG2Histogram:
    """Pulsed g2 (as :func:`g2_pulsed`) from accumulated histograms.

    ``lags_ps``/``counts`` is the display histogram; ``peak_lags_ps``/``peak_counts_hist`` the
    histogram with the binning of :func:`pulsed_peak_histogram` (channel b delayed by its
    ``w/2``), from which the peak areas are summed exactly.

    Raises
    ------
    ParameterError
        For an unknown normalisation or inconsistent histograms.

    References
    ----------
    Pulsed g2(0) as central over mean side-peak area, or over ``N1·N2/(f_rep·T)``:
    ``REFERENCES.md`` ("Time tags").
    """
    if normalization not in PULSED_NORMALIZATIONS:
        raise ParameterError(
            "normalization", normalization, f"must be one of {PULSED_NORMALIZATIONS}"
        )
    period = int(period_ps)
    integration = int(integration_ps)
    n_side = int(-peak_lags_ps[0]) // period - 1
    if n_side < 1 or len(lags_ps) < 2:
        raise ParameterError("peak_lags_ps", "array", "must come from pulsed_peak_histogram")
    width = int(lags_ps[1] - lags_ps[0])
    peak_counts = np.empty(2 * n_side + 1, dtype=np.int64)
    for idx, k in enumerate(range(-n_side, n_side + 1)):
        sel = (peak_lags_ps >= k * period) & (peak_lags_ps < k * period + integration)
        peak_counts[idx] = peak_counts_hist[sel].sum()
    center = int(peak_counts[n_side])
    total_side = int(peak_counts.sum()) - center
    if normalization == "side_peaks":
        area = total_side / (2 * n_side)
        if total_side > 0:
            g2_0 = center / area
            g2_0_err = math.sqrt(max(center, 1)) / area * math.sqrt(1.0 + center / total_side)
        else:
            g2_0, g2_0_err = math.nan, math.nan
    else:
        area = float(n_a) * float(n_b) * period / int(duration_ps)
        g2_0 = center / area if area > 0 else math.nan
        g2_0_err = math.sqrt(max(center, 1)) / area if area > 0 else math.nan
    if area > 0:
        peak_g2 = peak_counts / area
        peak_err = np.sqrt(np.maximum(peak_counts, 1).astype(np.float64)) / area
        per_bin = area * width / period
        g2 = counts / per_bin
        g2_err = np.sqrt(np.maximum(counts, 1).astype(np.float64)) / per_bin
    else:
        peak_g2 = np.full(peak_counts.shape, np.nan)
        peak_err = np.full(peak_counts.shape, np.nan)
        g2 = np.full(counts.shape, np.nan)
        g2_err = np.full(counts.shape, np.nan)
    return PulsedG2Histogram(
        lags_ps=lags_ps,
        counts=counts,
        g2=g2,
        g2_err=g2_err,
        peak_k=np.arange(-n_side, n_side + 1, dtype=np.int64),
        peak_counts=peak_counts,
        peak_g2=peak_g2,
        peak_g2_err=peak_err,
        g2_0=float(g2_0),
        g2_0_err=float(g2_0_err),
        reference_area=float(area),
        normalization=normalization,
        period_ps=period,
        integration_ps=integration,
        bin_ps=width,
        n_a=n_a,
        n_b=n_b,
        duration_ps=int(duration_ps),
    )
