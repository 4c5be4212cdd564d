"""Mortensen's ML bound stays finite and continuous when background dominates (τ ≫ 1)."""

from __future__ import annotations

import math

from scipy import special

from qlight.mapping.localize import crlb_mortensen_ml_m2


def _exact(s: float, a: float, n: float, b: float) -> float:
    sa2 = s * s + a * a / 12.0
    tau = 2.0 * math.pi * sa2 * b / (n * a * a)
    return sa2 / n / (1.0 + tau * float(special.spence(1.0 + 1.0 / tau)))


def test_series_branch_is_continuous_and_positive_where_the_closed_form_cancels() -> None:
    s, a, n = 100e-9, 50e-9, 10.0
    sa2 = s * s + a * a / 12.0
    b_switch = 1e3 * n * a * a / (2.0 * math.pi * sa2)  # τ = 1000
    # just above the switch the closed form still has ~1e-10 relative cancellation error
    for f in (1.001, 1.5, 5.0):
        v = crlb_mortensen_ml_m2(s, a, n, b_switch * f)
        assert abs(v / _exact(s, a, n, b_switch * f) - 1.0) < 1e-6
    # far beyond it the closed form breaks down (negative or wildly off), the series does not
    prev = 0.0
    for b in (1e8, 1e10, 1e12):
        v = crlb_mortensen_ml_m2(s, a, n, b)
        assert math.isfinite(v)
        assert v > prev  # more background, larger bound
        prev = v
    # τ → ∞: variance → 4τ·σa²/N = 8π σa⁴ b/(N² a²)
    b = 1e12
    assert abs(prev / (8.0 * math.pi * sa2**2 * b / (n * n * a * a)) - 1.0) < 1e-6
