"""Twin backend of the confocal raster scanner (:class:`~qlight.instruments.protocols.Scanner`).

A scan of ``ny`` lines of ``nx`` pixels (x fast, y slow) proceeds as on a real microscope:
the stage moves to the first pixel (move + settle time), each line takes ``nx · dwell``
followed by a flyback (``line_flyback_s``), and the stage finally returns to the scan centre.
The clock advances line by line, so realtime pacing, progress and cancellation act per line.

Rendering (all in :func:`render_scan`):

1. Each pixel's physical stage position is the commanded one plus the closed-loop noise
   (:class:`~qlight.physics.stage.StageConfig` repeatability); at the pixel's centre time it
   maps to the chip frame with the TRUE transform plus the drift at that time
   (:meth:`TwinWorld.focus_chip_frame`).
2. The expected detected PL rate comes from :func:`qlight.physics.optics.pl_rate_map`
   (emitters, background spots, background PL), with the runtime brightness of each emitter
   (0 if bleached, its stationary blinking on-fraction at the laser power if it blinks —
   the image shows the blinking average, not the telegraph; tag acquisitions show the
   telegraph). Lines are rendered in groups whose mean focus depth (drift in z) is constant
   within 5 nm.
3. Bleaching: every emitter with a finite budget that the scan reaches consumes its expected
   emitted photons per pixel, ``I∞ · P E/(P E + P_sat) · on-fraction · dwell`` (E: the
   excitation PSF at the pixel). When the cumulative sum reaches its remaining budget at a
   pixel, the emitter is dark for all later pixels, which are re-rendered.
4. Counts: each detector receives half of the rate plus its dark counts; the registered rate
   follows the dead-time/afterpulsing closed form of
   :func:`qlight.physics.detectors.registered_rate_per_s`; the pixel count is Poisson with
   the summed mean × dwell (dead time makes real counts slightly sub-Poissonian: neglected).
5. Reflection: :func:`qlight.physics.reflection.reflection_map` and
   :func:`~qlight.physics.reflection.sample_reflection` (photoelectrons per dwell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight._validation import check_finite, check_positive
from qlight.errors import ParameterError
from qlight.instruments.protocols import (
    CancelToken,
    ProgressCallback,
    ScanImage,
    check_cancel,
)
from qlight.instruments.sim.world import TwinWorld
from qlight.physics.detectors import SPADModel
from qlight.physics.optics import actual_focus_depth_m, pl_rate_map, psf_fwhm_lateral_m
from qlight.physics.reflection import reflection_map, sample_reflection

__all__ = ["MAX_PIXELS", "ScanRender", "SimScanner", "registered_rates_per_s", "render_scan"]

F64 = NDArray[np.float64]

#: Largest scan (pixels) accepted in one call.
MAX_PIXELS = 4_000_000
#: Pixels per call of the optics renderers (bounds temporary memory).
_RENDER_BLOCK = 65_536
#: Lines whose mean focus depth differs by less than this share one rendering depth.
_DEPTH_TOLERANCE_M = 5e-9


def registered_rates_per_s(incoming_per_s: F64, spad: SPADModel) -> F64:
    """Vectorised :func:`qlight.physics.detectors.registered_rate_per_s` (same closed form).

    ``R = 1 / (τd + (1 − p)/r + p/(r + 1/d))`` per element (0 where ``r = 0``).
    """
    r = np.asarray(incoming_per_s, dtype=np.float64)
    tau = spad.dead_time_ps * 1e-12
    p, d = spad.afterpulse_prob, spad.afterpulse_delay_ps * 1e-12
    safe = np.where(r > 0.0, r, 1.0)
    ap = p / (safe + 1.0 / d) if d > 0.0 else 0.0
    out: F64 = np.where(r > 0.0, 1.0 / (tau + (1.0 - p) / safe + ap), 0.0)
    return out


@dataclass(frozen=True)
class ScanRender:
    """Result of :func:`render_scan` before the clock is advanced.

    ``expected_rate_per_s`` is the expected detected PL rate (both detectors, before dead
    time and dark counts); ``consumption`` lists, per emitter with a finite budget, the flat
    pixel indices it was excited at and the cumulative photons it emitted up to each.
    """

    expected_rate_per_s: F64
    expected_reflection_w: F64
    consumption: tuple[tuple[int, NDArray[np.int64], F64], ...]


def _line_groups(depth_per_line: F64) -> list[tuple[int, int]]:
    """Consecutive line ranges whose depth stays within the tolerance of the first line."""
    groups: list[tuple[int, int]] = []
    start = 0
    for i in range(1, depth_per_line.size + 1):
        if i == depth_per_line.size or (
            abs(depth_per_line[i] - depth_per_line[start]) > _DEPTH_TOLERANCE_M
        ):
            groups.append((start, i))
            start = i
    return groups


def render_scan(
    world: TwinWorld,
    xc: F64,
    yc: F64,
    depth: F64,
    dwell_s: float,
) -> ScanRender:
    """Expected PL rate and reflection of a scan, and the photon-budget consumption.

    ``xc``, ``yc``, ``depth``: chip-frame focus positions and nominal depths, shape
    (ny, nx), in scan order. See the module docstring for the model.
    """
    ny, nx = xc.shape
    power = world.laser.power_at_sample_w
    chip = world.chip
    lam = world.laser_wavelength_m
    scale = world.emitter_scale(power)
    fx, fy = xc.ravel(), yc.ravel()
    line_depth = depth.mean(axis=1)
    rate = np.zeros(nx * ny)
    refl = np.zeros(nx * ny)
    for a, b in _line_groups(line_depth):
        z = float(line_depth[a:b].mean())
        for p0 in range(a * nx, b * nx, _RENDER_BLOCK):
            sl = slice(p0, min(b * nx, p0 + _RENDER_BLOCK))
            refl[sl] = reflection_map(
                chip, fx[sl], fy[sl], z, power, world.objective, excitation_wavelength_m=lam
            )
            if power > 0.0:
                rate[sl] = pl_rate_map(
                    chip, fx[sl], fy[sl], z, power, world.objective, world.detector,
                    excitation_wavelength_m=lam, emitter_scale=scale,
                    extra_spots=world.extra_spots,
                )  # fmt: skip
    consumption = _consumption(world, fx, fy, float(line_depth.mean()), power, scale, dwell_s)
    events = []
    for i, pix, cum in consumption:
        remaining = world.emitter_states[i].remaining_budget
        k = int(np.searchsorted(cum, remaining))
        if k < cum.size:
            events.append((int(pix[k]), i))
    ex_xy = world.psf_sigmas[0]
    for k, i in sorted(events):
        scale[i] = 0.0
        e = chip.emitters[i]
        reach = 6.0 * float(max(ex_xy, world.psf_sigmas[2][i]))
        later = np.arange(k + 1, fx.size)
        near = later[(np.abs(fx[k + 1 :] - e.x_m) < reach) & (np.abs(fy[k + 1 :] - e.y_m) < reach)]
        if near.size:
            z = float(depth.ravel()[near].mean())
            rate[near] = pl_rate_map(
                chip, fx[near], fy[near], z, power, world.objective, world.detector,
                excitation_wavelength_m=lam, emitter_scale=scale, extra_spots=world.extra_spots,
            )  # fmt: skip
    return ScanRender(rate.reshape(ny, nx), refl.reshape(ny, nx), consumption)


def _consumption(
    world: TwinWorld, fx: F64, fy: F64, depth_m: float, power: float, scale: F64, dwell_s: float
) -> tuple[tuple[int, NDArray[np.int64], F64], ...]:
    """Cumulative expected emitted photons per pixel for emitters with a finite budget.

    Emission ``I∞ · P E/(P E + P_sat)`` × on-fraction (three-level saturation law,
    REFERENCES.md; ``I∞``, ``P_sat`` from :meth:`EmitterPhotophysics.saturation`), E the
    excitation PSF of :func:`qlight.physics.optics.confocal_sigmas_m` at the pixel.
    """
    if power <= 0.0 or fx.size == 0:
        return ()
    a = world.chip.arrays
    ex_xy, ex_z = world.psf_sigmas[0], world.psf_sigmas[1]
    reach = 6.0 * ex_xy
    zf = float(actual_focus_depth_m(depth_m, world.objective, world.chip.config.refractive_index))
    x_lo, x_hi, y_lo, y_hi = fx.min() - reach, fx.max() + reach, fy.min() - reach, fy.max() + reach
    out = []
    for i, st in enumerate(world.emitter_states):
        if st.bleached or not math.isfinite(st.remaining_budget) or scale[i] <= 0.0:
            continue
        if not (x_lo <= a.x_m[i] <= x_hi and y_lo <= a.y_m[i] <= y_hi):
            continue
        pix = np.flatnonzero((np.abs(fx - a.x_m[i]) < reach) & (np.abs(fy - a.y_m[i]) < reach))
        if pix.size == 0:
            continue
        r2 = (fx[pix] - a.x_m[i]) ** 2 + (fy[pix] - a.y_m[i]) ** 2
        pe = power * np.exp(-r2 / (2 * ex_xy**2) - (a.depth_m[i] - zf) ** 2 / (2 * ex_z**2))
        emitted = a.i_inf_per_s[i] * pe / (pe + a.p_sat_w[i]) * scale[i] * dwell_s
        out.append((i, pix.astype(np.int64), np.cumsum(emitted)))
    return tuple(out)


class SimScanner:
    """The twin's confocal scanner; see :class:`qlight.instruments.protocols.Scanner`."""

    def __init__(self, world: TwinWorld) -> None:
        self._world = world

    @property
    def psf_fwhm_m(self) -> float:
        """Nominal lateral FWHM 0.51·λ/NA of the excitation spot (objective specification)."""
        w = self._world
        return psf_fwhm_lateral_m(w.laser_wavelength_m, w.objective.na)

    def raster_scan(
        self,
        x_center_m: float,
        y_center_m: float,
        width_m: float,
        height_m: float,
        step_m: float,
        dwell_s: float,
        *,
        z_m: float | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ScanImage:
        """Scan and return PL counts and reflection (see module docstring)."""
        w = self._world
        xc0 = check_finite("x_center_m", x_center_m)
        yc0 = check_finite("y_center_m", y_center_m)
        step = check_positive("step_m", step_m)
        dwell = check_positive("dwell_s", dwell_s)
        nx = _n_pixels("width_m", width_m, step)
        ny = _n_pixels("height_m", height_m, step)
        if nx * ny > MAX_PIXELS:
            raise ParameterError("width_m/height_m", (width_m, height_m), f"exceed {MAX_PIXELS} px")
        z = w.stage_target_m[2] if z_m is None else check_finite("z_m", z_m)
        xs: F64 = xc0 + (np.arange(nx, dtype=np.float64) - (nx - 1) / 2) * step
        ys: F64 = yc0 + (np.arange(ny, dtype=np.float64) - (ny - 1) / 2) * step
        (x_lo, x_hi), (y_lo, y_hi), _ = (
            w.stage.config.travel_x_m, w.stage.config.travel_y_m, w.stage.config.travel_z_m
        )  # fmt: skip
        if xs[0] < x_lo or xs[-1] > x_hi or ys[0] < y_lo or ys[-1] > y_hi:
            raise ParameterError("x_center_m/y_center_m", (xc0, yc0), "scan leaves the travel")
        check_cancel(cancel, "raster_scan", 0, ny)
        t_start = w.clock.now_s()
        w.move_stage(float(xs[0]), float(ys[0]), z)
        line_time = nx * dwell + w.line_flyback_s
        t_line: F64 = w.clock.now_s() + np.arange(ny, dtype=np.float64) * line_time
        t_pix = t_line[:, None] + (np.arange(nx)[None, :] + 0.5) * dwell
        rng = w.rngs.scan
        cfg = w.stage.config
        px = xs[None, :] + cfg.repeatability_m * rng.standard_normal((ny, nx))
        py = ys[:, None] + cfg.repeatability_m * rng.standard_normal((ny, nx))
        pz = z + cfg.z_repeatability_m * rng.standard_normal((ny, nx))
        xc, yc, depth = w.focus_chip_frame(px, py, pz, t_pix)
        render = render_scan(w, xc, yc, depth, dwell)
        det = w.detector
        per_det = 0.5 * render.expected_rate_per_s + det.dark_cps
        mean_counts = 2.0 * registered_rates_per_s(per_det, det) * dwell
        counts = rng.poisson(mean_counts).astype(np.int64)
        refl = sample_reflection(
            render.expected_reflection_w, dwell, rng, channel=w.reflection,
            wavelength_m=w.laser_wavelength_m,
        )  # fmt: skip
        done = 0
        try:
            for i in range(ny):
                check_cancel(cancel, "raster_scan", i, ny)
                w.clock.advance(line_time)
                done = i + 1
                if progress is not None:
                    progress(done, ny)
        finally:
            _apply_consumption(w, render, done * nx)
        w.move_stage(xc0, yc0, z)
        return ScanImage(
            pl_counts=counts,
            reflection=refl,
            x_m=xs,
            y_m=ys,
            z_m=z,
            dwell_s=dwell,
            power_w=w.laser.power_at_sample_w,
            line_start_s=t_line,
            t_start_s=t_start,
            t_end_s=w.clock.now_s(),
        )


def _n_pixels(name: str, size_m: float, step_m: float) -> int:
    size = check_finite(name, size_m)
    if size < 0.0:
        raise ParameterError(name, size_m, "must be >= 0")
    return max(1, round(size / step_m))


def _apply_consumption(world: TwinWorld, render: ScanRender, n_pixels_done: int) -> None:
    """Spend the budgets for the pixels actually scanned (all, or up to a cancellation)."""
    for i, pix, cum in render.consumption:
        k = int(np.searchsorted(pix, n_pixels_done))
        if k > 0:
            world.consume_budget(i, float(cum[k - 1]))
