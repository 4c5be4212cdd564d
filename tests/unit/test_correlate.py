"""cross_correlate against the naive O(n·m) oracle, edge cases and validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.naive import tt_cross_correlate

from qlight.errors import ParameterError
from qlight.timetags.correlate import cross_correlate

_tags = st.lists(st.integers(min_value=-300, max_value=300), max_size=25).map(sorted)


@st.composite
def _histogram_params(draw: st.DrawFn) -> tuple[int, int]:
    bin_ps = draw(st.integers(min_value=1, max_value=40))
    n_half = draw(st.integers(min_value=1, max_value=12))
    return bin_ps * n_half, bin_ps


@settings(max_examples=300, deadline=None)
@given(
    a=_tags,
    b=_tags,
    params=_histogram_params(),
    delay_a=st.integers(min_value=-100, max_value=100),
    delay_b=st.integers(min_value=-100, max_value=100),
)
# equal timestamps in and across channels
@example(a=[5, 5, 5], b=[5, 5], params=(10, 5), delay_a=0, delay_b=0)
# empty channels
@example(a=[], b=[1, 2], params=(10, 5), delay_a=0, delay_b=0)
@example(a=[1, 2], b=[], params=(10, 5), delay_a=0, delay_b=0)
# pair distances exactly on bin edges: −W is in, +W is out, 0 and ±bin are left edges
@example(a=[0], b=[-10, -5, 0, 5, 10], params=(10, 5), delay_a=0, delay_b=0)
# negative delays moving pairs across zero and across the window edge
@example(a=[0, 3], b=[0, 3], params=(6, 3), delay_a=7, delay_b=-3)
def test_matches_naive_oracle(
    a: list[int], b: list[int], params: tuple[int, int], delay_a: int, delay_b: int
) -> None:
    window, width = params
    lags, counts = cross_correlate(
        np.array(a, dtype=np.int64),
        np.array(b, dtype=np.int64),
        window_ps=window,
        bin_ps=width,
        delay_a_ps=delay_a,
        delay_b_ps=delay_b,
    )
    want_lags, want_counts = tt_cross_correlate(a, b, window, width, delay_a, delay_b)
    assert lags.dtype == np.int64
    assert counts.dtype == np.int64
    assert lags.tolist() == want_lags
    assert counts.tolist() == want_counts


def test_bin_edges_are_half_open() -> None:
    # delays −10, −5, 0, 5, 10 with W = 10, bin = 5: −10 opens the first bin, +10 is outside.
    lags, counts = cross_correlate(
        np.array([0]), np.array([-10, -5, 0, 5, 10]), window_ps=10, bin_ps=5
    )
    assert lags.tolist() == [-10, -5, 0, 5]
    assert counts.tolist() == [1, 1, 1, 1]


def test_negative_delay_uses_floor_division() -> None:
    # τ = −1 belongs to [−3, 0), not to [0, 3) as truncation towards zero would give.
    _, counts = cross_correlate(np.array([1]), np.array([0]), window_ps=3, bin_ps=3)
    assert counts.tolist() == [1, 0]


def test_long_streams_match_vectorised_brute_force() -> None:
    # Dense streams (many pairs per start tag) exercise the sliding pointer on real sizes.
    rng = np.random.default_rng(20240611)
    a = np.sort(rng.integers(0, 2_000_000, 1500))
    b = np.sort(rng.integers(0, 2_000_000, 1700))
    b[100:110] = b[100]  # a run of equal tags
    lags, counts = cross_correlate(a, b, window_ps=50_000, bin_ps=250, delay_b_ps=-1234)
    d = (b[None, :] - 1234) - a[:, None]
    d = d[(d >= -50_000) & (d < 50_000)]
    want = np.bincount((d + 50_000) // 250, minlength=lags.size)
    np.testing.assert_array_equal(counts, want)


def test_accepts_other_integer_dtypes() -> None:
    a32 = np.array([0, 10], dtype=np.int32)
    b16 = np.array([5], dtype=np.uint16)
    _, counts = cross_correlate(a32, b16, window_ps=10, bin_ps=5)
    assert counts.tolist() == [0, 1, 0, 1]
    assert cross_correlate([], [], window_ps=4, bin_ps=2)[1].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"a_ps": np.array([2, 1])}, "a_ps"),
        ({"b_ps": np.array([0, 3, 2])}, "b_ps"),
        ({"a_ps": np.array([0.0, 1.0])}, "a_ps"),
        ({"a_ps": np.zeros((2, 2), dtype=np.int64)}, "a_ps"),
        ({"b_ps": np.array([2**63], dtype=np.uint64)}, "b_ps"),
        ({"window_ps": 0}, "window_ps"),
        ({"window_ps": -10}, "window_ps"),
        ({"window_ps": 12}, "window_ps"),
        ({"window_ps": 10.0}, "window_ps"),
        ({"window_ps": True}, "window_ps"),
        ({"bin_ps": 0}, "bin_ps"),
        ({"bin_ps": -5}, "bin_ps"),
        ({"bin_ps": float("nan")}, "bin_ps"),
        ({"delay_b_ps": 0.5}, "delay_b_ps"),
        ({"a_ps": np.array([2**62 - 5])}, "a_ps"),
    ],
)
def test_rejects_bad_input_naming_the_parameter(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {
        "a_ps": np.array([0, 1]),
        "b_ps": np.array([0, 1]),
        "window_ps": 10,
        "bin_ps": 5,
    }
    args.update(kwargs)
    with pytest.raises(ParameterError, match=rf"^{name}="):
        cross_correlate(args.pop("a_ps"), args.pop("b_ps"), **args)  # type: ignore[arg-type]


def _vectorised_histogram(
    a: np.ndarray, b: np.ndarray, window: int, width: int, shift: int
) -> np.ndarray:
    """All pairs by searchsorted: for each a, the b in [a − shift − W, a − shift + W)."""
    lo = np.searchsorted(b, a - shift - window, side="left")
    hi = np.searchsorted(b, a - shift + window, side="left")
    counts = np.zeros(2 * window // width, dtype=np.int64)
    for i in np.flatnonzero(hi > lo):
        d = b[lo[i] : hi[i]] + shift - a[i] + window
        np.add.at(counts, d // width, 1)
    return counts


@pytest.mark.parametrize(
    ("n_a", "n_b", "span", "shift"),
    [
        (70_000, 70_000, 10**11, 0),  # > 2 blocks of 2^15 start tags, lanes in lock step
        (70_000, 700, 10**11, 123),  # sparse stops: lanes run off the end of b
        (700, 70_000, 10**11, -123),  # sparse starts
        (40_000, 40_000, 10**9, 5_000),  # dense: many pairs per start tag
        (40_000, 40_000, 10**9, 10**10),  # every pair outside the window
    ],
)
def test_blocked_lanes_match_searchsorted_reference(
    n_a: int, n_b: int, span: int, shift: int
) -> None:
    # The fast kernel splits the start tags into blocks and four merge lanes; sizes here
    # cross block borders, lane borders and the ends of either channel.
    rng = np.random.default_rng(n_a + n_b + shift)
    a = np.sort(rng.integers(0, span, n_a))
    b = np.sort(rng.integers(0, span, n_b))
    b[n_b // 2 : n_b // 2 + 40] = b[n_b // 2]  # a run of equal tags
    b.sort()
    _, counts = cross_correlate(a, b, window_ps=100_000, bin_ps=100, delay_b_ps=shift)
    np.testing.assert_array_equal(counts, _vectorised_histogram(a, b, 100_000, 100, shift))


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_a=st.integers(0, 600),
    n_b=st.integers(0, 600),
    width=st.sampled_from([1, 3, 7, 64, 1000]),
)
def test_symmetry_under_channel_swap(seed: int, n_a: int, n_b: int, width: int) -> None:
    # g(τ; a, b) = g(−τ; b, a): with half-open bins [k·w, (k+1)·w) the pair at τ = b − a
    # lands in the mirror bin of −τ except on bin edges, so compare with an exact shift of
    # one picosecond: counts_ab[k] over delays [τ_k, τ_k + w) equals counts_ba over the
    # delays (−τ_k − w, −τ_k], i.e. [−τ_k − w, −τ_k) after delaying a by −1 ps.
    rng = np.random.default_rng(seed)
    a = np.sort(rng.integers(0, 200_000, n_a))
    b = np.sort(rng.integers(0, 200_000, n_b))
    window = 20 * width
    _, ab = cross_correlate(a, b, window_ps=window, bin_ps=width)
    _, ba = cross_correlate(b, a, window_ps=window, bin_ps=width, delay_b_ps=-1)
    np.testing.assert_array_equal(ab, ba[::-1])
