"""Intensity trace and photon-counting histogram: oracle, conservation, Poisson PCH."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.naive import tt2_trace

from qlight.errors import ParameterError
from qlight.timetags.trace import intensity_trace, photon_counting_histogram

_tags = st.lists(st.integers(min_value=-30, max_value=600), max_size=40).map(sorted)


@settings(max_examples=150, deadline=None)
@given(
    ch=st.lists(_tags, min_size=1, max_size=3),
    width=st.integers(1, 60),
    start=st.integers(-40, 100),
    length=st.integers(0, 700),
)
def test_trace_matches_oracle_and_conserves_counts(
    ch: list[list[int]], width: int, start: int, length: int
) -> None:
    stop = start + width + length
    tr = intensity_trace(
        [np.array(c, dtype=np.int64) for c in ch], bin_ps=width, start_ps=start, stop_ps=stop
    )
    assert tr.counts.tolist() == tt2_trace(ch, width, start, stop)
    assert int(tr.counts.sum()) + tr.n_outside == sum(len(c) for c in ch)
    k, occ = photon_counting_histogram(tr.counts)
    assert int(occ.sum()) == tr.counts.size
    assert int((k * occ).sum()) == int(tr.counts.sum())


def test_pch_of_a_poisson_stream_is_poissonian() -> None:
    # 2·10^5 tags uniform in 10^4 bins: counts per bin are binomial(N, 1/10^4) ≈ Poisson(20).
    # Each PCH entry with expectation E ≥ 50 must lie within 5·sqrt(E) of it.
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 10**10, 200_000))
    tr = intensity_trace([t], bin_ps=10**6, stop_ps=10**10)
    k, occ = photon_counting_histogram(tr.counts)
    want = np.array([10**4 * math.exp(-20) * 20.0**j / math.factorial(j) for j in k])
    big = want >= 50
    assert big.sum() > 15
    assert np.all(np.abs(occ[big] - want[big]) < 5 * np.sqrt(want[big]))
    np.testing.assert_allclose(tr.rate_per_s.mean(), 2e5 / 1e-2, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"bin_ps": 0}, "bin_ps"),
        ({"stop_ps": 5}, "stop_ps"),
        ({"channels": []}, "channels"),
        ({"channels": [[3, 1]]}, r"channels\[0\]"),
        ({"start_ps": 0.5}, "start_ps"),
    ],
)
def test_trace_rejects_bad_input(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"channels": [[1, 2]], "bin_ps": 10, "start_ps": 0, "stop_ps": 100}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=rf"^{name}="):
        intensity_trace(args.pop("channels"), **args)  # type: ignore[arg-type]


def test_pch_rejects_negative_counts() -> None:
    with pytest.raises(ParameterError, match=r"^counts="):
        photon_counting_histogram([1, -1])
