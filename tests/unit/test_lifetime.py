"""TCSPC histograms: oracle agreement, count conservation, exponential recovery."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import tt2_lifetime_t2

from qlight.errors import ParameterError
from qlight.timetags.lifetime import lifetime_histogram_t2, lifetime_histogram_t3

_tags = st.lists(st.integers(min_value=-50, max_value=2000), max_size=40).map(sorted)


@settings(max_examples=150, deadline=None)
@given(
    sync=_tags,
    photons=_tags,
    width=st.integers(1, 30),
    n_bins=st.integers(1, 12),
    delay=st.integers(-100, 100),
)
def test_t2_matches_oracle_and_conserves_counts(
    sync: list[int], photons: list[int], width: int, n_bins: int, delay: int
) -> None:
    h = lifetime_histogram_t2(
        np.array(sync, dtype=np.int64),
        np.array(photons, dtype=np.int64),
        bin_ps=width,
        range_ps=width * n_bins,
        delay_ps=delay,
    )
    counts, outside = tt2_lifetime_t2(sync, photons, width, width * n_bins, delay)
    assert h.counts.tolist() == counts
    assert h.n_outside == outside
    assert int(h.counts.sum()) + h.n_outside == h.n_photons == len(photons)


@settings(max_examples=100, deadline=None)
@given(micro=st.lists(st.integers(-20, 300)), width=st.integers(1, 25), n_bins=st.integers(1, 10))
def test_t3_histogram_matches_numpy_and_conserves_counts(
    micro: list[int], width: int, n_bins: int
) -> None:
    h = lifetime_histogram_t3(
        np.array(micro, dtype=np.int64), bin_ps=width, range_ps=width * n_bins
    )
    inside = [m for m in micro if 0 <= m < width * n_bins]
    want = np.bincount(np.array(inside, dtype=np.int64) // width, minlength=n_bins)
    assert h.counts.tolist() == want.tolist()
    assert h.n_outside == len(micro) - len(inside)
    assert h.t_ps.tolist() == list(range(0, width * n_bins, width))


def test_t2_recovers_an_exponential_decay() -> None:
    # 12.5 ns sync period, 2 ns lifetime, 10^5 photons each after a random pulse. The mean
    # delay of a decay truncated at the period P is τ − P·e^(−P/τ)/(1 − e^(−P/τ)); its
    # standard error is ≈ τ/sqrt(N) = 6.3 ps; allow 5 of them (20 ps bins, counted at their
    # centres: the quantisation bias is far below that).
    rng = np.random.default_rng(9)
    period, tau, n = 12_500, 2_000.0, 100_000
    sync = np.arange(0, 10**6 * period, period, dtype=np.int64)
    pulse = np.sort(rng.integers(0, sync.size - 1, n))
    delay = np.minimum(rng.exponential(tau, n), period - 1).astype(np.int64)
    h = lifetime_histogram_t2(sync, np.sort(sync[pulse] + delay), bin_ps=20, range_ps=period)
    assert h.n_outside == 0
    centres = h.t_ps + 10
    mean = float((centres * h.counts).sum() / h.counts.sum())
    q = math.exp(-period / tau)
    want = tau - period * q / (1 - q)
    assert abs(mean - want) < 5 * tau / math.sqrt(n)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"bin_ps": 0}, "bin_ps"),
        ({"range_ps": 25}, "range_ps"),
        ({"range_ps": 0}, "range_ps"),
        ({"sync_ps": [5, 1]}, "sync_ps"),
        ({"t_ps": [0.5]}, "t_ps"),
        ({"delay_ps": 1.5}, "delay_ps"),
    ],
)
def test_t2_rejects_bad_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"sync_ps": [0, 100], "t_ps": [5], "bin_ps": 10, "range_ps": 100}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=rf"^{name}="):
        lifetime_histogram_t2(args.pop("sync_ps"), args.pop("t_ps"), **args)  # type: ignore[arg-type]


def test_t3_rejects_float_microtimes() -> None:
    with pytest.raises(ParameterError, match=r"^microtime_ps="):
        lifetime_histogram_t3(np.array([1.5]), bin_ps=1, range_ps=10)
