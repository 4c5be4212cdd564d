"""Drift tracking while emitting: a Kalman filter on (x, y, z, vx, vy, vz) with the thermometer.

Model (discrete constant-velocity target with white-noise acceleration; Bar-Shalom, Li &
Kirubarajan, *Estimation with Applications to Tracking and Navigation*, §6.3.2): per axis
``x_{k+1} = x_k + Δt·v_k + w_x``, ``v_{k+1} = v_k + w_v`` with ``Q = q·[[Δt³/3, Δt²/2],
[Δt²/2, Δt]]`` (``q`` the equilibrium velocity diffusion).

The thermometer informs the model: thermal drift is ``g·ΔT`` along a fixed direction
(docs/twin/chip-optics-stage.md: ≈ 500 nm/K lateral, 200 nm/K axial), so its velocity is
``g·Ṫ``; when the measured temperature rate changes by ``ΔṪ`` between two steps the velocity
may jump by up to ``g_max·|ΔṪ|``, added to the process noise as a rank-one term along
``(Δt/2, 1)``. While the sample warms up (Ṫ decaying) the filter therefore trusts its velocity
less, and at equilibrium it coasts on it.

:class:`DriftTracker` keeps the focus on an emitter at minimal photon/time cost: at every
check it moves the stage to the filter's predicted position (feed-forward, no photons spent)
and runs a short refocus only when the predicted lateral 1σ exceeds ``max_sd_m`` (default
20 nm: the count rate of a Gaussian PSF of σ ≈ 115 nm falls by ``1 − e^{−r²/2σ²}`` < 2 % at
r = 20 nm) or the axial 1σ exceeds ``max_sd_z_m``. The refocus itself is behind the
:class:`~qlight.mapping.navigate.Locator` interface (engineer HI's
``qlight.mapping.refocus.refocus`` in the device).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_nonnegative, check_positive
from qlight.errors import ParameterError
from qlight.instruments.protocols import Clock, Stage, Thermometer
from qlight.mapping.navigate import Locator

__all__ = ["DriftKalman", "DriftLog", "DriftTracker"]

F64 = NDArray[np.float64]


class DriftKalman:
    """Kalman filter on the stage position of an emitter and its drift velocity.

    Parameters
    ----------
    x0_m : array_like, shape (3,)
        Initial stage position (x, y, z) of the emitter.
    sigma0_m : float
        Initial position 1σ per axis.
    sigma_v0_m_per_s : float
        Initial velocity 1σ per axis (warm-up drift reaches ≈ 1 nm/s).
    q_m2_per_s3 : tuple of 3 floats
        White-noise-acceleration spectral density per axis (equilibrium drift: a 3 nm/min
        rms velocity with a 10 min correlation gives ``q ≈ 2·v²/τ`` ≈ 4e-24 m²/s³).
    thermal_gain_m_per_k : tuple of 3 floats
        Bound on the thermal drift coefficient per axis (500, 500, 200 nm/K).
    """

    def __init__(
        self,
        x0_m: ArrayLike,
        *,
        sigma0_m: float = 30e-9,
        sigma_v0_m_per_s: float = 1e-9,
        q_m2_per_s3: tuple[float, float, float] = (4e-24, 4e-24, 1e-24),
        thermal_gain_m_per_k: tuple[float, float, float] = (500e-9, 500e-9, 200e-9),
    ) -> None:
        x0 = np.asarray(x0_m, dtype=np.float64)
        if x0.shape != (3,) or not np.all(np.isfinite(x0)):
            raise ParameterError("x0_m", x0.shape, "must be 3 finite numbers")
        check_positive("sigma0_m", sigma0_m)
        check_positive("sigma_v0_m_per_s", sigma_v0_m_per_s)
        for q in q_m2_per_s3:
            check_nonnegative("q_m2_per_s3", q)
        for g in thermal_gain_m_per_k:
            check_nonnegative("thermal_gain_m_per_k", g)
        self.state: F64 = np.concatenate([x0, np.zeros(3)])
        self.cov: F64 = np.diag([sigma0_m**2] * 3 + [sigma_v0_m_per_s**2] * 3)
        self._q = np.array(q_m2_per_s3, dtype=np.float64)
        self._g = np.array(thermal_gain_m_per_k, dtype=np.float64)

    @property
    def position_m(self) -> F64:
        """Estimated (x, y, z)."""
        return self.state[:3].copy()

    @property
    def velocity_m_per_s(self) -> F64:
        """Estimated drift velocity."""
        return self.state[3:].copy()

    @property
    def position_sd_m(self) -> F64:
        """1σ of the position estimate per axis."""
        return np.sqrt(np.diag(self.cov)[:3])

    def predict(self, dt_s: float, temperature_rate_change_k_per_s: float = 0.0) -> None:
        """Propagate by ``dt_s``; ``temperature_rate_change_k_per_s`` is ΔṪ over the step."""
        dt = check_nonnegative("dt_s", dt_s)
        f = np.eye(6)
        f[:3, 3:] = dt * np.eye(3)
        q = np.zeros((6, 6))
        for a in range(3):
            b = a + 3
            q[a, a] = self._q[a] * dt**3 / 3.0
            q[a, b] = q[b, a] = self._q[a] * dt**2 / 2.0
            q[b, b] = self._q[a] * dt
            jump = (self._g[a] * temperature_rate_change_k_per_s) ** 2
            u = np.array([dt / 2.0, 1.0])
            q[np.ix_([a, b], [a, b])] += jump * np.outer(u, u)
        self.state = f @ self.state
        self.cov = f @ self.cov @ f.T + q

    def update(self, z_m: ArrayLike, sigma_m: ArrayLike) -> None:
        """Fuse a measured position with per-axis 1σ ``sigma_m`` (Joseph form)."""
        z = np.asarray(z_m, dtype=np.float64)
        s = np.broadcast_to(np.asarray(sigma_m, dtype=np.float64), (3,))
        if z.shape != (3,) or not np.all(np.isfinite(z)):
            raise ParameterError("z_m", z.shape, "must be 3 finite numbers")
        if not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise ParameterError("sigma_m", "array", "must be finite and > 0")
        h = np.zeros((3, 6))
        h[:, :3] = np.eye(3)
        r = np.diag(s**2)
        innov = z - h @ self.state
        sm = h @ self.cov @ h.T + r
        k = self.cov @ h.T @ np.linalg.inv(sm)
        self.state = self.state + k @ innov
        ikh = np.eye(6) - k @ h
        self.cov = ikh @ self.cov @ ikh.T + k @ r @ k.T


@dataclass
class DriftLog:
    """What the tracker did: times, estimates, refocus count and time spent refocusing."""

    t_s: list[float] = field(default_factory=list)
    position_m: list[tuple[float, float, float]] = field(default_factory=list)
    sd_m: list[float] = field(default_factory=list)
    refocused: list[bool] = field(default_factory=list)
    refocus_time_s: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def n_refocus(self) -> int:
        """Number of refocuses run."""
        return sum(self.refocused)


class DriftTracker:
    """Keep an emitter in focus: Kalman feed-forward plus refocus on demand.

    Parameters
    ----------
    stage, clock, thermometer : instruments
        Protocol views (stage frame).
    refocus : Locator
        Short refocus at a stage position (returns the emitter's position and 1σ).
    x0_m : array_like, shape (3,)
        The emitter's refocused position at the start.
    max_sd_m, max_sd_z_m : float
        Refocus when the predicted lateral (axial) 1σ exceeds this (20 nm, 60 nm).
    sigma_z_m : float
        Axial 1σ of a refocus (z sweeps are coarser than the lateral MLE; 30 nm).
    """

    def __init__(
        self,
        stage: Stage,
        clock: Clock,
        thermometer: Thermometer,
        refocus: Locator,
        x0_m: ArrayLike,
        *,
        max_sd_m: float = 20e-9,
        max_sd_z_m: float = 60e-9,
        sigma_z_m: float = 30e-9,
        kalman: DriftKalman | None = None,
    ) -> None:
        self._stage, self._clock, self._thermo = stage, clock, thermometer
        self._refocus = refocus
        self.filter = DriftKalman(x0_m) if kalman is None else kalman
        self.max_sd_m = check_positive("max_sd_m", max_sd_m)
        self.max_sd_z_m = check_positive("max_sd_z_m", max_sd_z_m)
        self.sigma_z_m = check_positive("sigma_z_m", sigma_z_m)
        self._t = clock.now_s()
        self._temp = thermometer.temperature_k()
        self._rate = 0.0
        self.log = DriftLog()

    def step(self) -> bool:
        """Predict to now, move the stage there, refocus if needed; True if it refocused."""
        now = self._clock.now_s()
        temp = self._thermo.temperature_k()
        dt = now - self._t
        rate = (temp - self._temp) / dt if dt > 0 else self._rate
        self.filter.predict(dt, rate - self._rate)
        self._t, self._temp, self._rate = now, temp, rate
        sd = self.filter.position_sd_m
        refocused = False
        if math.hypot(sd[0], sd[1]) / math.sqrt(2.0) > self.max_sd_m or sd[2] > self.max_sd_z_m:
            x, y, z = (float(v) for v in self.filter.position_m)
            t0 = self._clock.now_s()
            m = self._refocus(x, y, z)
            self.log.refocus_time_s += self._clock.now_s() - t0
            if m.ok:
                self.filter.update([m.x_m, m.y_m, m.z_m], [m.sigma_m, m.sigma_m, self.sigma_z_m])
                refocused = True
            else:
                self.log.failures.append(f"t={now:.1f} s: {m.reason}")
        x, y, z = (float(v) for v in self.filter.position_m)
        self._stage.move_to(x, y, z)
        self.log.t_s.append(now)
        self.log.position_m.append((x, y, z))
        self.log.sd_m.append(float(self.filter.position_sd_m[0]))
        self.log.refocused.append(refocused)
        return refocused

    def track(self, duration_s: float, *, check_interval_s: float = 5.0) -> DriftLog:
        """Track for ``duration_s``: a :meth:`step` every ``check_interval_s``."""
        check_positive("duration_s", duration_s)
        check_positive("check_interval_s", check_interval_s)
        end = self._clock.now_s() + duration_s
        while self._clock.now_s() < end:
            self._clock.wait(min(check_interval_s, end - self._clock.now_s()))
            self.step()
        return self.log
