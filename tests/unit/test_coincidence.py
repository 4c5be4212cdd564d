"""N-fold coincidences: oracle on small inputs, pair limit, accidental rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import tt2_coincidences

from qlight.errors import ParameterError
from qlight.timetags.coincidence import count_coincidences
from qlight.timetags.correlate import cross_correlate

_tags = st.lists(st.integers(min_value=0, max_value=300), max_size=12).map(sorted)


@settings(max_examples=150, deadline=None)
@given(ch=st.lists(_tags, min_size=2, max_size=4), window=st.integers(1, 80))
def test_matches_oracle(ch: list[list[int]], window: int) -> None:
    # equal tags across channels are frequent here (ties must be counted exactly once)
    r = count_coincidences(
        [np.array(c, dtype=np.int64) for c in ch], window_ps=window, duration_ps=301
    )
    assert r.count == tt2_coincidences(ch, window)
    assert r.n_tags == tuple(len(c) for c in ch)


def test_two_channels_equal_the_pair_histogram_within_the_window() -> None:
    rng = np.random.default_rng(6)
    a = np.sort(rng.integers(0, 10**8, 5000))
    b = np.sort(rng.integers(0, 10**8, 5000))
    # |b − a| < W  ⟺  −W < b − a < W: the histogram [−W, W) minus the pairs at exactly −W
    _, c = cross_correlate(a, b, window_ps=1000, bin_ps=1)
    _, edge = cross_correlate(a, b, window_ps=1, bin_ps=1, delay_b_ps=1000)
    r = count_coincidences([a, b], window_ps=1000, duration_ps=10**8)
    assert r.count == int(c.sum()) - int(edge[0])


def test_threefold_accidentals_match_n_w_power_formula() -> None:
    # Independent uniform streams: E = T·3·W²·Π(n_i/T) (module docstring). The count is a
    # sum of rare, nearly independent triples, so Poisson: within 5·sqrt(E).
    rng = np.random.default_rng(8)
    T = 10**10
    ch = [np.sort(rng.integers(0, T, 50_000)) for _ in range(3)]
    r = count_coincidences(ch, window_ps=20_000, duration_ps=T, delays_ps=[0, 0, 0])
    assert r.expected_accidental == pytest.approx(T * 3 * 20_000**2 * (50_000 / T) ** 3)
    assert r.expected_accidental > 400
    assert abs(r.count - r.expected_accidental) < 5 * math.sqrt(r.expected_accidental)


def test_delays_shift_channels() -> None:
    r = count_coincidences([[0], [1000]], window_ps=10, duration_ps=2000, delays_ps=[0, -995])
    assert r.count == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"channels": [[1]]}, "channels"),
        ({"window_ps": 0}, "window_ps"),
        ({"duration_ps": -1}, "duration_ps"),
        ({"delays_ps": [1]}, "delays_ps"),
        ({"channels": [[2, 1], [1]]}, r"channels\[0\]"),
    ],
)
def test_rejects_bad_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"channels": [[1], [2]], "window_ps": 10, "duration_ps": 100}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=rf"^{name}="):
        count_coincidences(args.pop("channels"), **args)  # type: ignore[arg-type]
