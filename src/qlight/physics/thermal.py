"""Warm-up temperature of the microscope after power-on, the driver of thermal drift.

After power-on the electronics, laser and stage heat the instrument; its temperature rises
towards a new equilibrium with a single time constant (a first-order lumped thermal model,
Newton's law of heating). :mod:`qlight.physics.stage` turns the rate of change of this
temperature into a drift velocity of the sample relative to the objective.

The model is pure: time is simulated seconds since power-on, passed in by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_finite, check_positive
from qlight.errors import ParameterError

__all__ = ["ThermalConfig", "ThermalModel"]


@dataclass(frozen=True, slots=True)
class ThermalConfig:
    """Lumped thermal model of the instrument (all values *estimates*, see REFERENCES.md).

    Parameters
    ----------
    ambient_c : float
        Temperature at power-on (the instrument starts at room temperature), °C.
    warmup_rise_k : float
        Temperature rise from power-on to equilibrium, K (may be 0: no warm-up).
    time_constant_s : float
        Exponential time constant of the warm-up, s. With the default 20 min the drift
        velocity of :class:`qlight.physics.stage.StageConfig` falls from ~60 nm/min at
        power-on to below 10 nm/min after ~40 min.
    """

    ambient_c: float = 22.0
    warmup_rise_k: float = 2.0
    time_constant_s: float = 1200.0

    def __post_init__(self) -> None:
        check_finite("ambient_c", self.ambient_c)
        if check_finite("warmup_rise_k", self.warmup_rise_k) < 0.0:
            raise ParameterError("warmup_rise_k", self.warmup_rise_k, "must be >= 0")
        check_positive("time_constant_s", self.time_constant_s)


@dataclass(frozen=True, slots=True)
class ThermalModel:
    """Temperature after power-on, T(t) = T_amb + ΔT·(1 − exp(−t/τ)).

    The first-order response of a lumped heat capacity C coupled by a conductance G to its
    surroundings, with τ = C/G (Newton's law of heating; e.g. Incropera & DeWitt,
    *Fundamentals of Heat and Mass Transfer*, 6th ed., §5.2 "lumped capacitance").
    """

    config: ThermalConfig = ThermalConfig()

    def temperature_c(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """Temperature in °C at simulated time ``t_s`` since power-on (t < 0 is rejected)."""
        t = _times(t_s)
        c = self.config
        return c.ambient_c + c.warmup_rise_k * -np.expm1(-t / c.time_constant_s)

    def rise_k(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """Temperature rise T(t) − T(0) in K since power-on."""
        t = _times(t_s)
        c = self.config
        return c.warmup_rise_k * -np.expm1(-t / c.time_constant_s)

    def rate_k_per_s(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """dT/dt = ΔT/τ · exp(−t/τ) in K/s at time ``t_s`` since power-on."""
        t = _times(t_s)
        c = self.config
        return c.warmup_rise_k / c.time_constant_s * np.exp(-t / c.time_constant_s)


def _times(t_s: ArrayLike) -> NDArray[np.float64]:
    t = np.asarray(t_s, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any(t < 0.0):
        raise ParameterError("t_s", t_s, "must be finite and >= 0 (seconds since power-on)")
    return t
