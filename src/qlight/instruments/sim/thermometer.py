"""Twin backend of the sample thermometer (:class:`~qlight.instruments.protocols.Thermometer`).

It reads the warm-up model of :mod:`qlight.physics.thermal` at the time since the last
power-on, plus Gaussian sensor noise, quantised to the sensor resolution. The defaults
(σ = 5 mK, 1 mK resolution, 10 ms per reading) describe a Pt100/thermistor read by a
temperature controller: *estimates*, no source.
"""

from __future__ import annotations

import math

import scipy.constants

from qlight.instruments.sim.world import TwinWorld

__all__ = ["NOISE_K", "READ_TIME_S", "RESOLUTION_K", "SimThermometer"]

#: Standard deviation of the sensor noise, K. *Estimate*.
NOISE_K = 5e-3
#: Reading resolution, K. *Estimate*.
RESOLUTION_K = 1e-3
#: Clock cost of one reading, s. *Estimate*.
READ_TIME_S = 0.01


class SimThermometer:
    """The twin's thermometer; see :class:`qlight.instruments.protocols.Thermometer`."""

    def __init__(self, world: TwinWorld) -> None:
        self._world = world

    def temperature_k(self) -> float:
        """Current reading in kelvin: model temperature + noise, quantised."""
        w = self._world
        w.clock.advance(READ_TIME_S)
        t_c = float(w.thermal.temperature_c(w.time_since_power_on_s()))
        reading = (
            t_c + scipy.constants.zero_Celsius + NOISE_K * w.rngs.thermometer.standard_normal()
        )
        return float(math.floor(reading / RESOLUTION_K + 0.5) * RESOLUTION_K)
