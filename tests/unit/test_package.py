"""The package imports, reports its version and validates parameters with named errors."""

from __future__ import annotations

import math

import pytest

import qlight
from qlight._validation import check_fraction, check_positive, check_positive_int
from qlight.errors import ParameterError


def test_version_is_semver() -> None:
    parts = qlight.__version__.split(".")
    assert len(parts) == 3
    assert all(p.isdigit() for p in parts)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan, "x"])
def test_check_positive_names_the_parameter(bad: object) -> None:
    with pytest.raises(ParameterError, match=r"^k21_per_ns="):
        check_positive("k21_per_ns", bad)  # type: ignore[arg-type]


def test_check_fraction_bounds() -> None:
    assert check_fraction("eta", 0.0) == 0.0
    assert check_fraction("eta", 1.0) == 1.0
    with pytest.raises(ParameterError, match=r"eta=1\.5 must be in \[0, 1\]"):
        check_fraction("eta", 1.5)


def test_check_positive_int_rejects_bool_and_float() -> None:
    assert check_positive_int("n", 3) == 3
    for bad in (True, 2.0, 0, -3):
        with pytest.raises(ParameterError):
            check_positive_int("n", bad)  # type: ignore[arg-type]
