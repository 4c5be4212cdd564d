"""`qlight._validation.check_bits`: the one 0/1-array validator of post-processing."""

from __future__ import annotations

import numpy as np
import pytest

from qlight._validation import check_bits
from qlight.errors import ParameterError


def test_accepts_bits_of_any_integer_or_bool_dtype_without_copying_uint8() -> None:
    u8 = np.array([0, 1, 1, 0], dtype=np.uint8)
    assert check_bits("k", u8) is u8
    for dtype in (np.int64, np.int8, np.bool_, np.uint16):
        out = check_bits("k", u8.astype(dtype))
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, u8)
    strided = np.array([0, 5, 1, 5], dtype=np.uint8)[::2]
    assert check_bits("k", strided).flags.c_contiguous
    assert check_bits("k", np.array([], dtype=np.uint8), allow_empty=True).size == 0


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (np.array([0, 2]), "only 0 and 1"),
        (np.array([0, -1]), "only 0 and 1"),  # -1 would wrap to 255 in uint8
        (np.array([0.0, 1.0]), "integers 0/1"),
        (np.zeros((2, 2), dtype=np.uint8), "1-D"),
        (np.array([], dtype=np.uint8), "non-empty"),
    ],
)
def test_refuses_with_the_reason(value: np.ndarray, why: str) -> None:
    with pytest.raises(ParameterError, match=why):
        check_bits("key_bits", value)
