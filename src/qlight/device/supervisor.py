"""Supervisor decisions while EMITTING: pure functions of measured values and thresholds.

The device feeds a :class:`HealthSample` every ``sample_period_s`` and a g2(0) estimate every
``g2_check_period_s``; :class:`Supervisor` answers with a :class:`Finding` (what is wrong,
why, what to do). It never touches instruments, so its decisions are unit-tested with fake
inputs. The checks, in order of precedence:

1. **temperature** above ``max_temperature_k`` → ``OVER_TEMPERATURE`` (FAULT, laser off);
2. **saturation**: total count rate above ``max_rate_cps`` → ``SATURATED`` (stray light;
   SPADs saturate at a few 10 Mcps through their dead time, Hadfield, Nat. Photon. 3, 696
   (2009), so 5 Mcps is a protective margin);
3. **laser power**: the laser's power reading off its set point by more than
   ``laser_power_tolerance`` (relative), or the output off → ``LASER`` (re-set it);
4. **low rate**: ``low_rate_samples`` consecutive samples below ``min_rate_fraction`` of the
   reference rate measured when the emitter was acquired → ``LOW_RATE`` (lost focus, stage
   error or bleaching; recovery decides which). With ``N`` expected counts per sample the
   Poisson probability of a false "low" at fraction ``f`` is ``≈ Φ(−(1−f)√N)``: for
   ``N = 10⁴`` counts (50 kcps × 0.2 s) and ``f = 0.5`` it is < 10⁻¹⁰⁰, so false alarms
   come only from real dips (blinking), which the consecutive count filters;
5. **g2(0)**: ``g2(0) − 2σ > max_g2_0`` (significantly above the threshold, one-sided 97.7 %)
   → ``MULTI_PHOTON`` (the emitter is no longer a single-photon source).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from qlight.device.settings import SupervisorSettings

__all__ = ["Action", "Finding", "HealthSample", "RecoveryBudget", "Supervisor"]


class Action(StrEnum):
    """What a finding asks the device to do."""

    OK = "ok"
    LASER = "laser"
    LOW_RATE = "low_rate"
    SATURATED = "saturated"
    OVER_TEMPERATURE = "over_temperature"
    MULTI_PHOTON = "multi_photon"


@dataclass(frozen=True, slots=True)
class HealthSample:
    """One supervisor sample (instrument readings)."""

    sim_time_s: float
    rate_cps: float
    laser_power_w: float
    laser_on: bool
    temperature_k: float | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A supervisor verdict: the action, a human-readable reason and its numbers."""

    action: Action
    reason: str = ""
    data: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing needs doing."""
        return self.action is Action.OK


_OK = Finding(Action.OK)
#: g2(0) must exceed ``max_g2_0`` by this many standard errors (one-sided 97.7 %).
G2_SIGMAS = 2.0


class Supervisor:
    """Health checks of the served emitter (see the module docstring).

    Parameters
    ----------
    settings : SupervisorSettings
        Thresholds and periods.
    reference_rate_cps : float
        Count rate measured when the emitter was acquired (the "healthy" level).
    start_s : float
        Instrument-clock time of the start of emission (schedules the periodic checks).
    """

    def __init__(
        self, settings: SupervisorSettings, reference_rate_cps: float, start_s: float
    ) -> None:
        self.settings = settings
        self.reference_rate_cps = float(reference_rate_cps)
        self._low = 0
        self._next_g2_s = start_s  # the first g2 at once (the dashboard shows it)
        self._next_drift_s = start_s + settings.drift_check_period_s

    def check_sample(self, s: HealthSample) -> Finding:
        """Assess one sample; the first failing check wins."""
        cfg = self.settings
        if s.temperature_k is not None and s.temperature_k > cfg.max_temperature_k:
            return Finding(
                Action.OVER_TEMPERATURE,
                f"sample temperature {s.temperature_k:.2f} K > {cfg.max_temperature_k:.2f} K",
                {"temperature_k": s.temperature_k},
            )
        if s.rate_cps > cfg.max_rate_cps:
            self._low = 0
            return Finding(
                Action.SATURATED,
                f"detector saturation: {s.rate_cps:.3g} cps > {cfg.max_rate_cps:.3g} cps",
                {"rate_cps": s.rate_cps},
            )
        target = cfg.laser_power_w
        if not s.laser_on or abs(s.laser_power_w - target) > cfg.laser_power_tolerance * target:
            what = "laser output off" if not s.laser_on else "laser power off its set point"
            return Finding(
                Action.LASER,
                f"{what}: {s.laser_power_w * 1e3:.3f} mW vs {target * 1e3:.3f} mW",
                {"laser_power_w": s.laser_power_w, "target_w": target},
            )
        limit = cfg.min_rate_fraction * self.reference_rate_cps
        if s.rate_cps < limit:
            self._low += 1
            if self._low >= cfg.low_rate_samples:
                self._low = 0
                return Finding(
                    Action.LOW_RATE,
                    f"count rate {s.rate_cps:.3g} cps < {limit:.3g} cps "
                    f"({cfg.min_rate_fraction:.0%} of {self.reference_rate_cps:.3g} cps)",
                    {"rate_cps": s.rate_cps, "limit_cps": limit},
                )
        else:
            self._low = 0
        return _OK

    def check_g2(self, g2_0: float, g2_0_err: float) -> Finding:
        """Assess a g2(0) estimate with its standard error."""
        limit = self.settings.max_g2_0
        if math.isfinite(g2_0) and math.isfinite(g2_0_err) and g2_0 - G2_SIGMAS * g2_0_err > limit:
            return Finding(
                Action.MULTI_PHOTON,
                f"g2(0) = {g2_0:.3f} ± {g2_0_err:.3f} > {limit:.2f}",
                {"g2_0": g2_0, "g2_0_err": g2_0_err},
            )
        return _OK

    def g2_due(self, now_s: float) -> bool:
        """Whether a g2(0) check is due; if so schedule the next one."""
        if now_s >= self._next_g2_s:
            self._next_g2_s = now_s + self.settings.g2_check_period_s
            return True
        return False

    def drift_due(self, now_s: float) -> bool:
        """Whether a drift-tracking step is due; if so schedule the next one."""
        if now_s >= self._next_drift_s:
            self._next_drift_s = now_s + self.settings.drift_check_period_s
            return True
        return False


class RecoveryBudget:
    """At most ``max_recoveries`` recoveries within ``window_s`` of instrument time."""

    def __init__(self, max_recoveries: int, window_s: float) -> None:
        self.max_recoveries = max_recoveries
        self.window_s = window_s
        self._times: deque[float] = deque()

    def spend(self, now_s: float) -> bool:
        """Record a recovery at ``now_s``; False when the budget is exhausted."""
        while self._times and now_s - self._times[0] > self.window_s:
            self._times.popleft()
        self._times.append(now_s)
        return len(self._times) <= self.max_recoveries
