"""Robust refocus on one emitter: xy fine scan + Poisson MLE, z sweep + Gaussian fit.

Qudi's refocus fits can run away and lose the emitter (issue 4). Here every step is bounded
and checked, and a failed check leaves the stage at the previous position with a reason:

* **xy**: a fine raster scan around the current estimate; spots are detected and fitted by
  Poisson MLE (:mod:`qlight.mapping.detect`); the point-like spot nearest to the estimate
  is taken only if it lies within ``max_shift_m``; otherwise the previous position is kept.
* **z**: count rates at ``n_steps`` focus positions over ``span_m``; a Gaussian plus offset
  is fitted by weighted least squares (Poisson weights). It is accepted only if the maximum
  is not at an end of the sweep, the peak rises above the floor by ``min_contrast_sigma``
  Poisson standard deviations, the fitted centre lies inside the sweep and moves by at most
  ``max_shift_m``. Otherwise the previous z is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from qlight._validation import check_positive, check_positive_int
from qlight.instruments.protocols import Scanner, Stage, TimeTagger
from qlight.mapping.detect import DetectionConfig, detect_and_localize
from qlight.mapping.localize import Localization, psf_sigma_from_fwhm

__all__ = ["RefocusResult", "ZSweep", "refocus", "refocus_xy", "refocus_z"]


@dataclass(frozen=True, slots=True)
class RefocusResult:
    """Where the stage was left, whether refocus succeeded, and why not.

    ``localization`` is the last xy fit (``None`` when none succeeded); ``rate_per_s`` the
    count rate at the final focus (NaN when not measured).
    """

    x_m: float
    y_m: float
    z_m: float
    ok: bool
    reason: str
    localization: Localization | None
    rate_per_s: float = math.nan


@dataclass(frozen=True, slots=True)
class ZSweep:
    """The z sweep behind a z refocus (for logs and plots)."""

    z_m: NDArray[np.float64]
    rate_per_s: NDArray[np.float64]
    z_fit_m: float
    ok: bool
    reason: str


def refocus_xy(
    stage: Stage,
    scanner: Scanner,
    x_m: float,
    y_m: float,
    z_m: float,
    *,
    size_m: float = 3e-6,
    step_m: float = 50e-9,
    dwell_s: float = 1e-3,
    max_shift_m: float = 1.3e-6,
) -> RefocusResult:
    """Fine-scan around ``(x_m, y_m)`` at ``z_m`` and move to the nearest point-like emitter.

    Returns ``ok=False`` (stage back at ``(x_m, y_m, z_m)``) when no point-like emitter lies
    within ``max_shift_m``.
    """
    size = check_positive("size_m", size_m)
    step = check_positive("step_m", step_m)
    max_shift = check_positive("max_shift_m", max_shift_m)
    sigma = psf_sigma_from_fwhm(scanner.psf_fwhm_m)
    img = scanner.raster_scan(x_m, y_m, size, size, step, dwell_s, z_m=z_m)
    n_bg = max(8, img.shape[1])
    res = detect_and_localize(
        img.pl_counts,
        img.x_m,
        img.y_m,
        psf_sigma_m=sigma,
        config=DetectionConfig(background_window_px=n_bg, bright_factor=math.inf),
    )
    best: Localization | None = None
    best_d = math.inf
    for det in res.accepted:
        loc = det.localization
        d = math.hypot(loc.x_m - x_m, loc.y_m - y_m)
        if d < best_d:
            best, best_d = loc, d
    if best is None or best_d > max_shift:
        stage.move_to(x_m, y_m, z_m)
        why = (
            "no point-like emitter in the fine scan"
            if best is None
            else f"nearest emitter {best_d * 1e9:.0f} nm away > max shift {max_shift * 1e9:.0f} nm"
        )
        return RefocusResult(x_m, y_m, z_m, False, why, None)
    stage.move_to(best.x_m, best.y_m, z_m)
    return RefocusResult(best.x_m, best.y_m, z_m, True, "", best)


def _gauss(z: NDArray[np.float64], c: float, a: float, z0: float, w: float) -> NDArray[np.float64]:
    return np.asarray(c + a * np.exp(-0.5 * ((z - z0) / w) ** 2), dtype=np.float64)


def refocus_z(
    stage: Stage,
    tagger: TimeTagger,
    x_m: float,
    y_m: float,
    z_m: float,
    *,
    span_m: float = 3e-6,
    n_steps: int = 15,
    dwell_s: float = 0.02,
    max_shift_m: float = 1.5e-6,
    min_contrast_sigma: float = 5.0,
) -> ZSweep:
    """Sweep z around ``z_m`` and fit the count-rate maximum (Gaussian + offset).

    The stage is left at the fitted focus when every check passes, else at ``z_m``.
    """
    span = check_positive("span_m", span_m)
    n = check_positive_int("n_steps", n_steps)
    dwell = check_positive("dwell_s", dwell_s)
    zs = z_m + np.linspace(-span / 2, span / 2, max(n, 5))
    counts = np.empty(zs.size)
    for i, z in enumerate(zs):
        stage.move_to(x_m, y_m, float(z))
        counts[i] = sum(tagger.count_rates(dwell).counts)
    rates = counts / dwell

    def fail(why: str) -> ZSweep:
        stage.move_to(x_m, y_m, z_m)
        return ZSweep(zs, rates, z_m, False, why)

    i_max = int(np.argmax(counts))
    if i_max in (0, zs.size - 1):
        return fail("count-rate maximum at the end of the z sweep")
    floor = float(np.min(counts))
    if counts[i_max] - floor < min_contrast_sigma * math.sqrt(max(counts[i_max], 1.0)):
        return fail("no significant count-rate peak in the z sweep")
    p0 = [floor, counts[i_max] - floor, float(zs[i_max]), span / 6]
    try:
        popt, _ = optimize.curve_fit(
            _gauss,
            zs,
            counts,
            p0=p0,
            sigma=np.sqrt(np.maximum(counts, 1.0)),
            absolute_sigma=True,
            maxfev=2000,
        )
    except (RuntimeError, ValueError):
        return fail("z fit did not converge")
    z_fit = float(popt[2])
    if not (zs[0] < z_fit < zs[-1]) or popt[1] <= 0.0:
        return fail("fitted focus outside the sweep")
    if abs(z_fit - z_m) > max_shift_m:
        return fail(f"fitted focus moves {abs(z_fit - z_m) * 1e9:.0f} nm > max shift")
    stage.move_to(x_m, y_m, z_fit)
    return ZSweep(zs, rates, z_fit, True, "")


def refocus(
    stage: Stage,
    scanner: Scanner,
    tagger: TimeTagger,
    x_m: float,
    y_m: float,
    z_m: float,
    *,
    xy_size_m: float = 3e-6,
    xy_step_m: float = 50e-9,
    xy_dwell_s: float = 1e-3,
    max_xy_shift_m: float = 1.3e-6,
    z_span_m: float = 3e-6,
    z_steps: int = 15,
    z_dwell_s: float = 0.02,
    max_z_shift_m: float = 1.5e-6,
    rate_dwell_s: float = 0.05,
) -> RefocusResult:
    """xy refocus, z refocus, then a final smaller xy refocus at the new focus.

    Any failed step keeps the last good position and is reported in ``reason``; the
    result is ``ok`` only when the final xy fit succeeded.
    """
    r1 = refocus_xy(
        stage, scanner, x_m, y_m, z_m,
        size_m=xy_size_m, step_m=xy_step_m, dwell_s=xy_dwell_s, max_shift_m=max_xy_shift_m,
    )  # fmt: skip
    if not r1.ok:
        return r1
    zs = refocus_z(
        stage, tagger, r1.x_m, r1.y_m, z_m,
        span_m=z_span_m, n_steps=z_steps, dwell_s=z_dwell_s, max_shift_m=max_z_shift_m,
    )  # fmt: skip
    z_new = zs.z_fit_m
    r2 = refocus_xy(
        stage, scanner, r1.x_m, r1.y_m, z_new,
        size_m=min(xy_size_m, 1.5e-6), step_m=xy_step_m, dwell_s=xy_dwell_s,
        max_shift_m=min(max_xy_shift_m, 0.5e-6),
    )  # fmt: skip
    final = r2 if r2.ok else RefocusResult(r1.x_m, r1.y_m, z_new, True, r2.reason, r1.localization)
    stage.move_to(final.x_m, final.y_m, final.z_m)
    rate = tagger.count_rates(check_positive("rate_dwell_s", rate_dwell_s)).total_rate_per_s
    reason = "; ".join(r for r in (zs.reason, r2.reason) if r)
    return RefocusResult(
        final.x_m, final.y_m, final.z_m, True, reason, final.localization, rate_per_s=rate
    )
