"""Confocal-scan helpers shared by ``qlight simulate scan`` and ``qlight demo``.

Everything here works on what the instruments report (:class:`ScanImage` in the stage frame,
counts per pixel), never on ground truth: spot finding is control-code style. The mapping
layer of a later issue replaces :func:`find_spots` with maximum-likelihood localisation.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global state).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray
from scipy import ndimage, optimize

from qlight.errors import ParameterError
from qlight.instruments.protocols import ScanImage
from qlight.timetags.g2 import G2Histogram

if TYPE_CHECKING:
    from qlight.device.factory import Instruments

__all__ = [
    "PRESETS",
    "ScanRequest",
    "Spot",
    "find_spots",
    "run_scan",
    "save_g2_png",
    "save_scan_npz",
    "save_scan_png",
    "scan_output_paths",
    "scan_request",
    "scan_summary",
]

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def scan_output_paths(out: Path) -> tuple[Path, Path]:
    """``(png, npz)`` for ``--out``: FILE.png/FILE.npz share the stem, any other suffix is kept
    and both extensions are appended."""
    if out.suffix.lower() in (".png", ".npz"):
        return out.with_suffix(".png"), out.with_suffix(".npz")
    return Path(f"{out}.png"), Path(f"{out}.npz")


def _scale_bar_um(width_um: float) -> float:
    """A round bar length near a fifth of the image width (1, 2, 5 × 10^k µm)."""
    target = width_um / 5.0
    decade = 10.0 ** math.floor(math.log10(target))
    for m in (5.0, 2.0, 1.0):
        if m * decade <= target:
            return m * decade
    return decade


def save_scan_png(image: ScanImage, path: Path, title: str) -> Path:
    """PL and reflection side by side, stage-frame axes in µm, scale bars and colour bars."""
    fig = Figure(figsize=(12.0, 5.4), dpi=110)
    FigureCanvasAgg(fig)
    step_um = max(image.step_m, 1e-9) * 1e6
    x_um, y_um = image.x_m * 1e6, image.y_m * 1e6
    extent = (
        float(x_um[0] - step_um / 2), float(x_um[-1] + step_um / 2),
        float(y_um[0] - step_um / 2), float(y_um[-1] + step_um / 2),
    )  # fmt: skip
    width_um = extent[1] - extent[0]
    bar = _scale_bar_um(width_um)
    panels = (
        (image.pl_counts, "PL", f"counts per {image.dwell_s * 1e3:g} ms", "inferno"),
        (image.reflection, "reflection", "photoelectrons per dwell", "gray"),
    )
    for k, (data, name, unit, cmap) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        hi = float(np.percentile(data, 99.9)) if data.size else 1.0
        lo = float(np.min(data)) if data.size else 0.0
        im = ax.imshow(
            data, origin="lower", extent=extent, cmap=cmap, vmin=lo, vmax=max(hi, lo + 1e-12),
            interpolation="nearest",
        )  # fmt: skip
        ax.set_title(name)
        ax.set_xlabel("stage x (µm)")
        ax.set_ylabel("stage y (µm)")
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cb.set_label(unit)
        x0 = extent[0] + 0.05 * width_um
        y0 = extent[2] + 0.06 * (extent[3] - extent[2])
        ax.plot([x0, x0 + bar], [y0, y0], color="cyan" if k == 0 else "red", linewidth=3)
        ax.text(
            x0 + bar / 2, y0 + 0.02 * (extent[3] - extent[2]), f"{bar:g} µm",
            color="cyan" if k == 0 else "red", ha="center", va="bottom",
        )  # fmt: skip
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    return path


def save_scan_npz(image: ScanImage, path: Path, metadata: dict[str, Any]) -> Path:
    """Arrays and axes in SI units (metres, seconds, watts) plus a JSON-able metadata dict."""
    import json

    np.savez_compressed(
        path,
        pl_counts=image.pl_counts,
        reflection=image.reflection,
        x_m=image.x_m,
        y_m=image.y_m,
        z_m=np.float64(image.z_m),
        dwell_s=np.float64(image.dwell_s),
        power_w=np.float64(image.power_w),
        line_start_s=image.line_start_s,
        t_start_s=np.float64(image.t_start_s),
        t_end_s=np.float64(image.t_end_s),
        metadata_json=np.array(json.dumps(metadata)),
    )
    return path


def scan_summary(image: ScanImage) -> dict[str, Any]:
    """Numbers worth printing about a scan."""
    c = image.pl_counts
    return {
        "shape": list(image.shape),
        "step_m": image.step_m,
        "dwell_s": image.dwell_s,
        "power_w": image.power_w,
        "z_m": image.z_m,
        "center_m": [float(image.x_m.mean()), float(image.y_m.mean())],
        "counts_total": int(c.sum()),
        "counts_max": int(c.max()) if c.size else 0,
        "counts_median": float(np.median(c)) if c.size else 0.0,
        "simulated_time_s": image.t_end_s - image.t_start_s,
    }


@dataclass(frozen=True, slots=True)
class Spot:
    """A PL spot fitted with a symmetric 2-D Gaussian on a constant background.

    ``x_m``, ``y_m`` stage frame; ``amplitude`` and ``background`` in counts per pixel;
    ``fwhm_m`` of the fitted Gaussian; ``diffraction_limited`` when that width is
    compatible with a point source (between 0.4 and 1.2 nominal PSF FWHMs).
    """

    x_m: float
    y_m: float
    amplitude: float
    background: float
    fwhm_m: float
    diffraction_limited: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON."""
        return asdict(self)


def _gauss2d(
    xy: tuple[NDArray[np.float64], NDArray[np.float64]],
    a: float, x0: float, y0: float, s: float, b: float,
) -> NDArray[np.float64]:  # fmt: skip
    x, y = xy
    out: NDArray[np.float64] = a * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * s * s)) + b
    return out


def find_spots(image: ScanImage, psf_fwhm_m: float, *, max_candidates: int = 40) -> list[Spot]:
    """Local maxima of the PL image, each fitted with a Gaussian; brightest first.

    Candidates are the maxima of the image smoothed over one pixel that exceed the median
    by 8 Poisson standard deviations of the median level (and 5 counts); each is fitted by
    least squares in a window of ±2 PSF FWHMs. Maxima too close to the edge for a window
    and failed fits are dropped.
    """
    if image.x_m.size < 5 or image.y_m.size < 5:
        raise ParameterError("image", image.shape, "must be at least 5 × 5 pixels")
    step = image.step_m
    counts = image.pl_counts.astype(np.float64)
    smooth = ndimage.gaussian_filter(counts, 1.0)
    med = float(np.median(smooth))
    size = max(3, 2 * round(psf_fwhm_m / step) + 1)
    peaks = (smooth == ndimage.maximum_filter(smooth, size=size)) & (
        smooth > med + max(5.0, 8.0 * math.sqrt(max(med, 1.0)))
    )
    iy, ix = np.nonzero(peaks)
    order = np.argsort(smooth[iy, ix])[::-1][:max_candidates]
    half = max(2, math.ceil(2.0 * psf_fwhm_m / step))
    spots = []
    for i, j in zip(iy[order], ix[order], strict=True):
        if i < half or j < half or i >= counts.shape[0] - half or j >= counts.shape[1] - half:
            continue
        win = counts[i - half : i + half + 1, j - half : j + half + 1]
        gx, gy = np.meshgrid(image.x_m[j - half : j + half + 1], image.y_m[i - half : i + half + 1])
        b0 = float(np.percentile(win, 20))
        p0 = (float(win.max()) - b0, float(image.x_m[j]), float(image.y_m[i]),
              psf_fwhm_m / FWHM_PER_SIGMA, b0)  # fmt: skip
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", optimize.OptimizeWarning)
                popt, _ = optimize.curve_fit(
                    _gauss2d, (gx.ravel(), gy.ravel()), win.ravel(), p0=p0,
                    sigma=np.sqrt(np.maximum(win.ravel(), 1.0)), maxfev=2000,
                )  # fmt: skip
        except (RuntimeError, optimize.OptimizeWarning):
            continue
        a, x0, y0, s, b = (float(v) for v in popt)
        fwhm = abs(s) * FWHM_PER_SIGMA
        inside = abs(x0 - image.x_m[j]) < half * step and abs(y0 - image.y_m[i]) < half * step
        if a <= 0.0 or not inside or not math.isfinite(fwhm):
            continue
        limited = 0.4 * psf_fwhm_m <= fwhm <= 1.2 * psf_fwhm_m
        spots.append(Spot(x0, y0, a, b, fwhm, limited))
    return sorted(spots, key=lambda s: s.amplitude, reverse=True)


def save_g2_png(
    hist: G2Histogram, g2_zero: float, g2_zero_err: float, path: Path, title: str
) -> Path:
    """The normalised g2(τ) with its error bars and the g2(0) estimate."""
    fig = Figure(figsize=(7.5, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    tau_ns = hist.center_ps * 1e-3
    ax.errorbar(tau_ns, hist.g2, yerr=hist.g2_err, fmt=".", markersize=3, linewidth=0.6)
    ax.axhline(1.0, color="gray", linewidth=0.8)
    ax.axhline(0.5, color="red", linewidth=0.8, linestyle="--", label="single-emitter limit")
    ax.set_xlabel("delay τ (ns)")
    ax.set_ylabel("g2(τ)")
    ax.set_title(f"{title}\ng2(0) = {g2_zero:.3f} ± {g2_zero_err:.3f}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path


# ------------------------------------------------------------------------- running a scan


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """A validated confocal-scan request from the command line (SI units)."""

    seed: int
    preset: str
    size_m: float
    step_m: float
    dwell_s: float
    power_w: float
    x_m: float
    y_m: float
    z_m: float


PRESETS = ("visible", "telecom", "telecom-ingaas")


def scan_request(
    *, seed: int, preset: str, size_um: float, step_nm: float, dwell_ms: float, power_mw: float,
    x_um: float, y_um: float, z_um: float,
) -> ScanRequest:  # fmt: skip
    """Validate command-line values (ParameterError naming the option) and convert to SI."""
    from qlight._validation import check_finite, check_nonnegative, check_positive

    if seed < 0:
        raise ParameterError("--seed", seed, "must be an integer >= 0")
    if preset not in PRESETS:
        raise ParameterError("--preset", preset, f"must be one of {', '.join(PRESETS)}")
    size = check_positive("--size-um", size_um) * 1e-6
    step = check_positive("--step-nm", step_nm) * 1e-9
    if size / step > 4000:
        raise ParameterError("--step-nm", step_nm, "gives more than 4000 pixels per line")
    return ScanRequest(
        seed=seed,
        preset=preset,
        size_m=size,
        step_m=step,
        dwell_s=check_positive("--dwell-ms", dwell_ms) * 1e-3,
        power_w=check_nonnegative("--power-mw", power_mw) * 1e-3,
        x_m=check_finite("--x-um", x_um) * 1e-6,
        y_m=check_finite("--y-um", y_um) * 1e-6,
        z_m=check_finite("--z-um", z_um) * 1e-6,
    )


def run_scan(
    instruments: Instruments, req: ScanRequest, advance: Callable[[float], None]
) -> ScanImage:
    """Switch the laser on at the requested power and raster-scan (progress per line)."""
    instruments.laser.set_power(req.power_w)
    instruments.laser.on()
    return instruments.scanner.raster_scan(
        req.x_m, req.y_m, req.size_m, req.size_m, req.step_m, req.dwell_s,
        z_m=req.z_m, progress=lambda done, total: advance(1),
    )  # fmt: skip
