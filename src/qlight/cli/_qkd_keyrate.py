"""Computation and plot behind ``qlight qkd keyrate`` (the command is in :mod:`qlight.cli.qkd`).

Everything here turns validated command-line values into calls of
:mod:`qlight.qkd.theory`; a :class:`~qlight.errors.ParameterError` raised by the theory is
renamed to the flag the user typed, so the message reads ``--mu=-1 must be > 0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.qkd.theory import (
    FiniteKeySettings,
    KeyRatePreset,
    OperatingPoint,
    Protocol,
    ThreeIntensityParams,
    key_rate,
    plob_bound,
    protocol_max_distance_km,
    transmittance_at_km,
)

__all__ = ["FLAG_OF", "RateCurve", "compute_curve", "flag_errors", "parse_distances", "save_plot"]

#: Theory parameter names -> the flag that sets them.
FLAG_OF = {
    "mu": "--mu",
    "g2": "--g2",
    "decoy_intensities": "--decoy-intensities",
    "nu1": "--decoy-intensities",
    "nu2": "--decoy-intensities",
    "intensities": "--decoy-intensities",
    "mu1": "--mu",
    "n_pulses": "--finite-n",
    "source": "--source",
    "decoys": "--decoys",
    "preset": "--preset",
}
_MAX_POINTS = 10_001


@contextmanager
def flag_errors() -> Iterator[None]:
    """Re-raise a theory :class:`ParameterError` under the name of its command-line flag."""
    try:
        yield
    except ParameterError as exc:
        flag = FLAG_OF.get(exc.name)
        if flag is None:
            raise
        raise ParameterError(flag, exc.value, exc.requirement) from None


def parse_distances(text: str) -> NDArray[np.float64]:
    """``"A:B:STEP"`` -> A, A + STEP, … <= B (km); A >= 0, B >= A, STEP > 0."""
    parts = text.split(":")
    try:
        a, b, step = (float(p) for p in parts)
    except ValueError:
        raise ParameterError("--distance-km", text, "must be A:B:STEP in km") from None
    if not all(math.isfinite(v) for v in (a, b, step)) or a < 0 or b < a or step <= 0:
        raise ParameterError("--distance-km", text, "must satisfy 0 <= A <= B and STEP > 0")
    n = math.floor((b - a) / step * (1 + 1e-12)) + 1
    if n > _MAX_POINTS:
        raise ParameterError("--distance-km", text, f"must give at most {_MAX_POINTS} points")
    return a + step * np.arange(n, dtype=np.float64)


@dataclass
class RateCurve:
    """Key rate of one protocol along the distance grid."""

    label: str
    distance_km: NDArray[np.float64]
    rate_per_pulse: list[float] = field(default_factory=list)
    mu: list[float] = field(default_factory=list)
    p_x: list[float | None] = field(default_factory=list)
    gain: list[float] = field(default_factory=list)
    qber: list[float] = field(default_factory=list)
    reason: list[str | None] = field(default_factory=list)
    max_distance_km: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The arrays of the JSON output."""
        return {
            "distance_km": self.distance_km,
            "rate_per_pulse": self.rate_per_pulse,
            "mu": self.mu,
            "p_x": self.p_x,
            "gain": self.gain,
            "qber": self.qber,
            "reason": self.reason,
        }


def compute_curve(
    label: str,
    protocol: Protocol,
    preset: KeyRatePreset,
    distance_km: NDArray[np.float64],
    *,
    advance: Callable[[float], None] = lambda _: None,
) -> RateCurve:
    """Evaluate ``protocol`` at every distance (warm-starting the finite-key optimiser)."""
    curve = RateCurve(label, distance_km)
    start: ThreeIntensityParams | None = None
    for km in distance_km:
        with flag_errors():
            op: OperatingPoint = key_rate(
                protocol, transmittance_at_km(float(km), preset), preset, start=start
            )
        start = op.three_intensity or start
        r = op.result
        curve.rate_per_pulse.append(r.rate_per_pulse)
        curve.mu.append(op.mu)
        curve.p_x.append(op.p_x)
        curve.gain.append(r.gain)
        curve.qber.append(r.qber)
        curve.reason.append(r.reason)
        advance(1.0)
    return curve


def max_distance(protocol: Protocol, preset: KeyRatePreset) -> float:
    """Maximum distance of ``protocol`` (km), flag-named errors."""
    with flag_errors():
        return protocol_max_distance_km(protocol, preset)


def plob_curve(distance_km: NDArray[np.float64], preset: KeyRatePreset) -> NDArray[np.float64]:
    """PLOB bound per pulse at the total transmittance (fibre times η_Bob)."""
    eta = np.array([transmittance_at_km(float(km), preset) for km in distance_km])
    return plob_bound(eta * preset.detector.efficiency)


def save_plot(
    path: Path,
    curves: list[RateCurve],
    plob: NDArray[np.float64],
    preset: KeyRatePreset,
    finite: FiniteKeySettings | None,
) -> None:
    """One PNG: every curve and PLOB versus distance on a log rate axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.8), dpi=120)
    try:
        for curve in curves:
            rate = np.asarray(curve.rate_per_pulse, dtype=np.float64)
            ok = rate > 0
            ax.semilogy(curve.distance_km[ok], rate[ok], label=curve.label, lw=2)
        d = curves[0].distance_km
        ax.semilogy(d, plob, "k--", label="PLOB bound −log₂(1−η)", lw=1.5)
        ax.set_xlabel("fibre length (km)")
        ax.set_ylabel("secret key rate (bits per pulse)")
        extra = "" if finite is None else f", finite key N = {finite.n_pulses:.3g}"
        ax.set_title(f"BB84 key rate, preset {preset.name}{extra}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
