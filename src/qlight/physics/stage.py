"""Stage model: chip↔stage frames, closed-loop moves, thermal drift and power cycles.

Coordinates and sign conventions (see docs/twin/chip-optics-stage.md):

* the **chip frame** is fixed to the sample (origin at the chip centre, metres);
* the **stage frame** is what the stage encoders read;
* :class:`FrameTransform` maps chip → stage: ``p_stage = s·R(θ)·p_chip + t``;
* drift is the displacement ``d(t)`` of the sample relative to the stage frame: a chip point
  ``c`` is under the focus when the stage reads ``chip_to_stage(c) + d(t)``;
* z is positive into the sample; the chip surface is in focus at stage z
  ``focus_offset_m + d_z(t)``; the *nominal* focus depth is stage z minus that value (the
  optics module converts nominal to actual depth inside the GaN).

Everything is pure and seeded: random draws come from the ``numpy.random.Generator`` passed
in, time is simulated seconds since power-on, passed in by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import lfilter

from qlight._validation import check_finite, check_nonnegative, check_positive
from qlight.errors import ParameterError
from qlight.physics.chip import BackgroundSpot, Chip, draw_new_spots
from qlight.physics.thermal import ThermalConfig, ThermalModel

__all__ = [
    "FrameTransform",
    "PowerCycleResult",
    "StageConfig",
    "StageModel",
    "ou_integral_step_moments",
]

F64 = NDArray[np.float64]

#: Number of drift grid steps generated per random draw; fixed, so that the drift path does
#: not depend on the order or span of the queries.
_DRIFT_CHUNK = 1024


@dataclass(frozen=True, slots=True)
class FrameTransform:
    """Similarity transform from chip-frame to stage-frame coordinates.

    ``(x_s, y_s) = scale · R(rotation_rad) · (x_c, y_c) + (tx_m, ty_m)`` with ``R`` the
    counter-clockwise rotation. ``scale`` models a tiny calibration mismatch (≈ 1 ± 1e-4).
    """

    tx_m: float = 0.0
    ty_m: float = 0.0
    rotation_rad: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        check_finite("tx_m", self.tx_m)
        check_finite("ty_m", self.ty_m)
        check_finite("rotation_rad", self.rotation_rad)
        check_positive("scale", self.scale)

    def chip_to_stage(self, x_m: ArrayLike, y_m: ArrayLike) -> tuple[F64, F64]:
        """Map chip-frame ``(x_m, y_m)`` (arrays broadcast together) to the stage frame."""
        x, y = _xy(x_m, y_m)
        c = self.scale * math.cos(self.rotation_rad)
        s = self.scale * math.sin(self.rotation_rad)
        return c * x - s * y + self.tx_m, s * x + c * y + self.ty_m

    def stage_to_chip(self, x_m: ArrayLike, y_m: ArrayLike) -> tuple[F64, F64]:
        """Map stage-frame ``(x_m, y_m)`` to the chip frame (the exact inverse map)."""
        x, y = _xy(x_m, y_m)
        dx = x - self.tx_m
        dy = y - self.ty_m
        c = math.cos(self.rotation_rad) / self.scale
        s = math.sin(self.rotation_rad) / self.scale
        return c * dx + s * dy, -s * dx + c * dy

    def compose(self, other: FrameTransform) -> FrameTransform:
        """Return ``self ∘ other``: apply ``other`` first, then ``self``."""
        c = self.scale * math.cos(self.rotation_rad)
        s = self.scale * math.sin(self.rotation_rad)
        tx = c * other.tx_m - s * other.ty_m + self.tx_m
        ty = s * other.tx_m + c * other.ty_m + self.ty_m
        rot = math.remainder(self.rotation_rad + other.rotation_rad, 2.0 * math.pi)
        return FrameTransform(tx, ty, rot, self.scale * other.scale)

    def inverse(self) -> FrameTransform:
        """Return the transform mapping stage → chip (``t.inverse().compose(t)`` = identity)."""
        c = math.cos(self.rotation_rad) / self.scale
        s = math.sin(self.rotation_rad) / self.scale
        tx = -(c * self.tx_m + s * self.ty_m)
        ty = -(-s * self.tx_m + c * self.ty_m)
        return FrameTransform(tx, ty, -self.rotation_rad, 1.0 / self.scale)

    def matrix(self) -> F64:
        """The 3×3 homogeneous matrix of the chip → stage map."""
        c = self.scale * math.cos(self.rotation_rad)
        s = self.scale * math.sin(self.rotation_rad)
        return np.array([[c, -s, self.tx_m], [s, c, self.ty_m], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, slots=True)
class StageConfig:
    """Stage, drift and power-cycle parameters.

    Defaults follow REFERENCES.md (closed-loop repeatability 1–10 nm; drift 20–100 nm/min
    while warming up and 1–10 nm/min at equilibrium; error after a power cycle 0.1–2 µm with
    referencing, 1–50 µm without; re-seating a sample: up to ~2° and tens of µm). Values
    marked *estimate* have no source.

    Parameters
    ----------
    repeatability_m, z_repeatability_m : float
        1σ closed-loop positioning noise per axis (lateral 3 nm, axial 5 nm).
    velocity_m_per_s, z_velocity_m_per_s : float
        Move speeds (1 mm/s lateral, 0.1 mm/s axial; *estimate*).
    settle_time_s : float
        Settle time added to every move of non-zero length (10 ms; *estimate*).
    travel_x_m, travel_y_m, travel_z_m : tuple[float, float]
        Travel ranges; targets outside raise ParameterError.
    thermal : ThermalConfig
        Warm-up temperature model driving the drift.
    drift_xy_m_per_k, drift_z_m_per_k : float
        Thermal drift per kelvin of warm-up (500 nm/K and 200 nm/K: with the default 2 K
        rise over τ = 20 min the lateral drift starts at 50 nm/min; *estimate*).
    eq_drift_rms_m_per_s, eq_drift_z_rms_m_per_s : float
        Stationary rms of the equilibrium drift velocity per axis (3 nm/min lateral,
        1 nm/min axial): an Ornstein–Uhlenbeck velocity, i.e. a random walk on times ≫
        ``eq_drift_corr_time_s``.
    eq_drift_corr_time_s : float
        Correlation time of the equilibrium drift velocity (10 min; *estimate*).
    drift_grid_s : float
        Time step of the exact OU grid; positions between grid points are interpolated
        linearly.
    homing_error_referenced_m, homing_error_unreferenced_m : tuple[float, float]
        Range of the lateral homing error magnitude (log-uniform) after a power cycle with
        and without reference switches.
    homing_z_error_referenced_m, homing_z_error_unreferenced_m : tuple[float, float]
        Same for the focus (z) offset.
    homing_rotation_sd_rad : float
        1σ rotation change on a power cycle without re-seating (5e-5 rad; *estimate*).
    reseat_translation_m : tuple[float, float]
        Range of the extra translation (uniform magnitude) when the sample is re-seated.
    reseat_rotation_max_rad : float
        Maximum extra rotation when re-seated (uniform in ±2°).
    reseat_z_max_m : float
        Maximum extra focus offset when re-seated (uniform in ±10 µm; *estimate*).
    referenced_homing : bool
        Whether the stage homes against reference switches.
    emitter_turnover : float
        Per power cycle, the probability that a live emitter bleaches for good, replaced by
        as many newly activated defects (:mod:`qlight.physics.turnover`; 0 by default,
        ``0 <= F < 1``; *estimate*). Applied by the twin's power cycle.
    """

    repeatability_m: float = 3e-9
    z_repeatability_m: float = 5e-9
    velocity_m_per_s: float = 1e-3
    z_velocity_m_per_s: float = 1e-4
    settle_time_s: float = 0.01
    travel_x_m: tuple[float, float] = (-1e-3, 1e-3)
    travel_y_m: tuple[float, float] = (-1e-3, 1e-3)
    travel_z_m: tuple[float, float] = (-1e-4, 1e-4)
    thermal: ThermalConfig = field(default_factory=ThermalConfig)
    drift_xy_m_per_k: float = 500e-9
    drift_z_m_per_k: float = 200e-9
    eq_drift_rms_m_per_s: float = 3e-9 / 60.0
    eq_drift_z_rms_m_per_s: float = 1e-9 / 60.0
    eq_drift_corr_time_s: float = 600.0
    drift_grid_s: float = 5.0
    homing_error_referenced_m: tuple[float, float] = (0.1e-6, 2e-6)
    homing_error_unreferenced_m: tuple[float, float] = (1e-6, 50e-6)
    homing_z_error_referenced_m: tuple[float, float] = (0.1e-6, 2e-6)
    homing_z_error_unreferenced_m: tuple[float, float] = (1e-6, 20e-6)
    homing_rotation_sd_rad: float = 5e-5
    reseat_translation_m: tuple[float, float] = (5e-6, 50e-6)
    reseat_rotation_max_rad: float = math.radians(2.0)
    reseat_z_max_m: float = 10e-6
    referenced_homing: bool = True
    emitter_turnover: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.emitter_turnover < 1.0:
            raise ParameterError("emitter_turnover", self.emitter_turnover, "must be in [0, 1)")
        for name in ("repeatability_m", "z_repeatability_m", "settle_time_s"):
            check_nonnegative(name, getattr(self, name))
        for name in ("velocity_m_per_s", "z_velocity_m_per_s", "eq_drift_corr_time_s"):
            check_positive(name, getattr(self, name))
        check_positive("drift_grid_s", self.drift_grid_s)
        for name in (
            "drift_xy_m_per_k",
            "drift_z_m_per_k",
            "eq_drift_rms_m_per_s",
            "eq_drift_z_rms_m_per_s",
            "homing_rotation_sd_rad",
            "reseat_rotation_max_rad",
            "reseat_z_max_m",
        ):
            check_nonnegative(name, getattr(self, name))
        for name in ("travel_x_m", "travel_y_m", "travel_z_m"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ParameterError(name, (lo, hi), "must be a finite (low, high) with low < high")
        for name in (
            "homing_error_referenced_m",
            "homing_error_unreferenced_m",
            "homing_z_error_referenced_m",
            "homing_z_error_unreferenced_m",
            "reseat_translation_m",
        ):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < lo <= hi):
                raise ParameterError(
                    name, (lo, hi), "must be a finite (low, high), 0 < low <= high"
                )


@dataclass(frozen=True, slots=True)
class PowerCycleResult:
    """What changed on a power cycle (ground truth; only the twin's truth interface sees it).

    ``transform`` and ``focus_offset_m`` are the new true values; the errors are this
    cycle's homing error plus any re-seat, relative to the sample's mount before the cycle
    (homing errors do not accumulate over cycles; re-seats do). ``new_spots`` are background
    spots that appeared (the caller adds them to its runtime scene); bleached emitters stay
    dark, which is runtime state.
    """

    transform: FrameTransform
    focus_offset_m: float
    translation_error_m: tuple[float, float]
    rotation_error_rad: float
    z_error_m: float
    referenced: bool
    reseated: bool
    new_spots: tuple[BackgroundSpot, ...] = ()


def ou_integral_step_moments(
    dt_s: float, corr_time_s: float, rms_m_per_s: float
) -> tuple[float, float, float, float]:
    """Exact one-step moments of an Ornstein–Uhlenbeck velocity and its integral.

    For a stationary OU velocity with correlation time τ and rms σ over a step Δt, with
    μ = exp(−Δt/τ) (Gillespie, Phys. Rev. E 54, 2084 (1996), Eqs. 2.12 and 2.13):

    * velocity: v' = μ v + σ_v n₁, σ_v² = σ²(1 − μ²);
    * position: x' = x + τ(1 − μ) v + (κ/σ_v) n₁ + sqrt(σ_x² − κ²/σ_v²) n₂ with
      σ_x² = σ²τ²(2Δt/τ − 3 + 4μ − μ²) and κ = cov(Δx, v') = σ²τ(1 − μ)².

    Returns ``(mu, sigma_v, a, b)``: the decay factor and the coefficients of n₁ in v', of n₁
    and of n₂ in x'.
    """
    mu = math.exp(-dt_s / corr_time_s)
    var_v = rms_m_per_s**2 * -math.expm1(-2.0 * dt_s / corr_time_s)
    var_x = rms_m_per_s**2 * corr_time_s**2 * (2.0 * dt_s / corr_time_s - 3.0 + 4.0 * mu - mu * mu)
    kappa = rms_m_per_s**2 * corr_time_s * (1.0 - mu) ** 2
    sigma_v = math.sqrt(var_v)
    a = kappa / sigma_v if sigma_v > 0.0 else 0.0
    b = math.sqrt(max(var_x - a * a, 0.0))
    return mu, sigma_v, a, b


class _OUDrift:
    """Seeded equilibrium drift: three independent OU velocities on a lazily grown grid."""

    def __init__(self, rng: np.random.Generator, dt_s: float, corr_s: float, rms: F64) -> None:
        self._rng = rng
        self._dt = dt_s
        self._coef = [ou_integral_step_moments(dt_s, corr_s, float(r)) for r in rms]
        self._corr = corr_s
        # stationary start: the velocity at power-on is a draw from the stationary law
        self._v = rms * rng.standard_normal(3)
        self._x: F64 = np.zeros((1, 3))

    def positions(self, t_s: F64) -> F64:
        need = int(np.max(t_s, initial=0.0) // self._dt) + 2
        while self._x.shape[0] < need:
            self._grow()
        k = np.floor(t_s / self._dt).astype(np.int64)
        frac = (t_s - k * self._dt) / self._dt
        x0 = self._x[k]
        x1 = self._x[k + 1]
        result: F64 = x0 + (x1 - x0) * frac[..., None]
        return result

    def _grow(self) -> None:
        n = self._rng.standard_normal((_DRIFT_CHUNK, 3, 2))
        out = np.empty((_DRIFT_CHUNK, 3))
        for axis in range(3):
            mu, sv, a, b = self._coef[axis]
            n1 = n[:, axis, 0]
            # v_k = μ v_{k−1} + σ_v n1_k (a first-order linear recursion)
            v, _ = lfilter([1.0], [1.0, -mu], sv * n1, zi=[mu * self._v[axis]])
            v_prev = np.concatenate([[self._v[axis]], v[:-1]])
            steps = self._corr * (1.0 - mu) * v_prev + a * n1 + b * n[:, axis, 1]
            out[:, axis] = self._x[-1, axis] + np.cumsum(steps)
            self._v[axis] = v[-1]
        self._x = np.concatenate([self._x, out])


class StageModel:
    """Pure stage model with explicit state: position, true transform, drift realisation.

    Parameters
    ----------
    config : StageConfig
        Stage, drift and power-cycle parameters.
    transform : FrameTransform
        True chip → stage transform at power-on.
    rng : numpy.random.Generator
        Source of all randomness; independent child streams are spawned for the moves and
        the drift, so the drift path does not depend on how many moves were made.
    focus_offset_m : float
        Stage z at which the chip surface is in focus (before drift).
    """

    def __init__(
        self,
        config: StageConfig,
        transform: FrameTransform,
        rng: np.random.Generator,
        *,
        focus_offset_m: float = 0.0,
    ) -> None:
        self.config = config
        self.transform = transform
        self.focus_offset_m = check_finite("focus_offset_m", focus_offset_m)
        # Where the sample sits on the stage when homing is perfect; only re-seating moves it.
        self._mount_transform = transform
        self._mount_focus_offset_m = self.focus_offset_m
        self.position_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.time_s = 0.0
        self._thermal = ThermalModel(config.thermal)
        self._move_rng, drift_rng = rng.spawn(2)
        self._start_drift(drift_rng)

    @property
    def mount_transform(self) -> FrameTransform:
        """Chip → stage transform with a perfect homing (moved only by re-seating the sample)."""
        return self._mount_transform

    def _start_drift(self, rng: np.random.Generator) -> None:
        c = self.config
        phi = rng.uniform(0.0, 2.0 * math.pi)
        z_sign = 1.0 if rng.random() < 0.5 else -1.0
        self._drift_dir = np.array([math.cos(phi), math.sin(phi), z_sign])
        rms = np.array([c.eq_drift_rms_m_per_s, c.eq_drift_rms_m_per_s, c.eq_drift_z_rms_m_per_s])
        self._ou = _OUDrift(rng, c.drift_grid_s, c.eq_drift_corr_time_s, rms)

    # ------------------------------------------------------------------ moves
    def move(
        self, x_m: float, y_m: float, z_m: float, t_s: float
    ) -> tuple[float, float, float, float]:
        """Move to the stage-frame target; return the reached ``(x, y, z)`` and the duration.

        Closed-loop, hysteresis-free: the reached position is the target plus Gaussian noise
        of the configured repeatability. Duration = max(lateral distance / velocity,
        |Δz| / z velocity) + settle time (zero for a zero-length move). ``t_s`` is the
        simulated time the move starts; drift is separate (:meth:`drift_offset_m`).
        """
        c = self.config
        tx = _in_range("x_m", x_m, c.travel_x_m)
        ty = _in_range("y_m", y_m, c.travel_y_m)
        tz = _in_range("z_m", z_m, c.travel_z_m)
        t0 = check_nonnegative("t_s", t_s)
        x0, y0, z0 = self.position_m
        dist_xy = math.hypot(tx - x0, ty - y0)
        dist_z = abs(tz - z0)
        duration = max(dist_xy / c.velocity_m_per_s, dist_z / c.z_velocity_m_per_s)
        if dist_xy > 0.0 or dist_z > 0.0:
            duration += c.settle_time_s
        noise = self._move_rng.standard_normal(3)
        reached = (
            tx + c.repeatability_m * float(noise[0]),
            ty + c.repeatability_m * float(noise[1]),
            tz + c.z_repeatability_m * float(noise[2]),
        )
        self.position_m = reached
        self.time_s = t0 + duration
        return (*reached, duration)

    # ------------------------------------------------------------------ drift
    def drift_offsets_m(self, t_s: ArrayLike) -> F64:
        """Drift ``(dx, dy, dz)`` of the sample at times ``t_s`` since power-on, shape (..., 3).

        d(t) = α·[T(t) − T(0)]·u + x_OU(t): the thermal part follows the warm-up
        temperature (:class:`~qlight.physics.thermal.ThermalModel`; velocity ∝ dT/dt) along
        a direction ``u`` drawn at power-on; the OU part is the equilibrium random walk.
        """
        t = np.asarray(t_s, dtype=np.float64)
        if not np.all(np.isfinite(t)) or np.any(t < 0.0):
            raise ParameterError("t_s", t_s, "must be finite and >= 0 (seconds since power-on)")
        c = self.config
        rise = self._thermal.rise_k(t)
        coef = np.array([c.drift_xy_m_per_k, c.drift_xy_m_per_k, c.drift_z_m_per_k])
        thermal: F64 = rise[..., None] * (coef * self._drift_dir)
        result: F64 = thermal + self._ou.positions(t)
        return result

    def drift_offset_m(self, t_s: float) -> tuple[float, float, float]:
        """Drift ``(dx, dy, dz)`` in metres at simulated time ``t_s`` since power-on."""
        d = self.drift_offsets_m(float(t_s))
        return float(d[0]), float(d[1]), float(d[2])

    def focus_in_chip_frame(
        self, x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike, t_s: float
    ) -> tuple[F64, F64, F64]:
        """Chip-frame ``(x, y)`` under the focus and nominal focus depth below the surface.

        For stage readings ``(x_m, y_m, z_m)`` at time ``t_s``: chip = T⁻¹(p − d_xy(t)),
        nominal depth = z − (focus_offset_m + d_z(t)).
        """
        dx, dy, dz = self.drift_offset_m(t_s)
        x, y = _xy(x_m, y_m)
        xc, yc = self.transform.stage_to_chip(x - dx, y - dy)
        depth = np.asarray(z_m, dtype=np.float64) - (self.focus_offset_m + dz)
        return xc, yc, depth

    # ------------------------------------------------------------------ power cycle
    def power_cycle(
        self,
        rng: np.random.Generator,
        *,
        reseated: bool = False,
        chip: Chip | None = None,
    ) -> PowerCycleResult:
        """Power the instrument off and on: homing error, drift restart, new spots.

        The stage re-homes to (0, 0, 0) with a lateral error of log-uniform magnitude in the
        configured range (referenced or not) and uniform direction, a z error likewise with
        random sign, and a small rotation. Homing errors are independent draws about the
        mechanical reference, so they do not accumulate over power cycles; only a re-seated
        sample moves that reference (a rotation uniform in ±``reseat_rotation_max_rad`` about
        the chip centre and a translation of uniform magnitude in ``reseat_translation_m``),
        and re-seats do accumulate. The temperature restarts cold, so the drift
        restarts with a new realisation. If ``chip`` is given, new background spots are
        drawn with :func:`qlight.physics.chip.draw_new_spots`.
        """
        c = self.config
        ref = c.referenced_homing
        lo, hi = c.homing_error_referenced_m if ref else c.homing_error_unreferenced_m
        zlo, zhi = c.homing_z_error_referenced_m if ref else c.homing_z_error_unreferenced_m
        mag = _log_uniform(rng, lo, hi)
        ang = rng.uniform(0.0, 2.0 * math.pi)
        ex, ey = mag * math.cos(ang), mag * math.sin(ang)
        ez = _log_uniform(rng, zlo, zhi) * (1.0 if rng.random() < 0.5 else -1.0)
        rot = c.homing_rotation_sd_rad * float(rng.standard_normal())
        if reseated:  # the sample moved on its mount: this one accumulates
            rmag = rng.uniform(*c.reseat_translation_m)
            rang = rng.uniform(0.0, 2.0 * math.pi)
            rx, ry = rmag * math.cos(rang), rmag * math.sin(rang)
            rrot = rng.uniform(-c.reseat_rotation_max_rad, c.reseat_rotation_max_rad)
            rz = rng.uniform(-c.reseat_z_max_m, c.reseat_z_max_m)
            self._mount_transform = _about_centre(self._mount_transform, rx, ry, rrot)
            self._mount_focus_offset_m += rz
        # the homing error is a fresh draw about the (possibly new) mount
        self.transform = _about_centre(self._mount_transform, ex, ey, rot)
        self.focus_offset_m = self._mount_focus_offset_m + ez
        if reseated:
            ex, ey, rot, ez = ex + rx, ey + ry, rot + rrot, ez + rz
        self.position_m = (0.0, 0.0, 0.0)
        self.time_s = 0.0
        self._move_rng, drift_rng = rng.spawn(2)
        self._start_drift(drift_rng)
        spots: tuple[BackgroundSpot, ...] = ()
        if chip is not None:
            spots = draw_new_spots(chip, rng)
        return PowerCycleResult(
            transform=self.transform,
            focus_offset_m=self.focus_offset_m,
            translation_error_m=(ex, ey),
            rotation_error_rad=rot,
            z_error_m=ez,
            referenced=ref,
            reseated=reseated,
            new_spots=spots,
        )


def _xy(x_m: ArrayLike, y_m: ArrayLike) -> tuple[F64, F64]:
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ParameterError("x_m/y_m", (x_m, y_m), "must be finite")
    xb, yb = np.broadcast_arrays(x, y)
    return xb, yb


def _in_range(name: str, value: float, span: tuple[float, float]) -> float:
    v = check_finite(name, value)
    if not span[0] <= v <= span[1]:
        raise ParameterError(name, value, f"must lie within the travel range {span}")
    return v


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _about_centre(
    transform: FrameTransform, dx_m: float, dy_m: float, rotation_rad: float
) -> FrameTransform:
    """``transform`` followed by a rotation about the chip centre's stage position and a shift."""
    cx, cy = transform.tx_m, transform.ty_m
    error = (
        FrameTransform(cx + dx_m, cy + dy_m)
        .compose(FrameTransform(rotation_rad=rotation_rad))
        .compose(FrameTransform(-cx, -cy))
    )
    return error.compose(transform)
