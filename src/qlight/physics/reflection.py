"""Reflection channel: the chip surface and its metal marks seen at the laser wavelength.

The confocal microscope also detects the laser light reflected by the surface; metal marks
reflect far more than GaN, so the fiducial codes (:mod:`qlight.physics.marks`) show up here.
Positions in the chip frame; ``focus_depth_m`` is the nominal defocus from the surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.constants
from numba import njit
from numpy.typing import ArrayLike, NDArray

from qlight._numba import JIT
from qlight._validation import check_finite, check_fraction, check_nonnegative, check_positive
from qlight.errors import ParameterError
from qlight.physics.optics import Objective, confocal_sigmas_m, fresnel_reflectance, pixel_arrays

if TYPE_CHECKING:
    from qlight.physics.chip import Chip

__all__ = ["ReflectionChannel", "reflection_map", "reflection_sigmas_m", "sample_reflection"]

F64 = NDArray[np.float64]


@njit(**JIT)  # type: ignore[untyped-decorator]
def _reflection_kernel(
    px: F64,
    py: F64,
    sigma: float,
    x0: float,
    y0: float,
    pitch: float,
    n_rows: int,
    n_cols: int,
    cell_x: F64,
    cell_y: F64,
    cell_start: NDArray[np.int64],
    half_cell: float,
    reach: float,
    out: F64,
) -> None:
    k = 1.0 / (math.sqrt(2.0) * sigma)
    for p in range(px.size):
        col = math.floor((px[p] - x0) / pitch + 0.5)
        row = math.floor((py[p] - y0) / pitch + 0.5)
        acc = 0.0
        for r in range(max(row - 1, 0), min(row + 2, n_rows)):
            for c in range(max(col - 1, 0), min(col + 2, n_cols)):
                mx = x0 + c * pitch
                my = y0 + r * pitch
                if abs(px[p] - mx) > reach or abs(py[p] - my) > reach:
                    continue
                m = r * n_cols + c
                for j in range(cell_start[m], cell_start[m + 1]):
                    fx = math.erf((cell_x[j] + half_cell - px[p]) * k) - math.erf(
                        (cell_x[j] - half_cell - px[p]) * k
                    )
                    fy = math.erf((cell_y[j] + half_cell - py[p]) * k) - math.erf(
                        (cell_y[j] - half_cell - py[p]) * k
                    )
                    acc += 0.25 * fx * fy
        out[p] = acc


def reflection_sigmas_m(
    excitation_wavelength_m: float, objective: Objective, focus_depth_m: float
) -> tuple[float, float]:
    """Lateral blur σ and axial response factor of the reflection channel at a defocus.

    The reflection channel images the surface at the laser wavelength: confocal PSF
    σ₀ = (1/σ_ex² + 1/σ_det²)^(−1/2) at λ_ex, broadened with defocus z as a Gaussian beam,
    σ(z) = σ₀·sqrt(1 + (z/z_R)²), z_R = π w₀²/λ, w₀ = 2σ₀ (Siegman, *Lasers*, ch. 17). A
    mirror at defocus z images the focus at 2z, so the collected fraction is the axial
    detection response at 2z: A = exp(−(2z)²/2σ_det,z²), σ_det,z in the immersion medium.
    Returns ``(σ(z), A)``.
    """
    n_imm = objective.immersion_index
    s = confocal_sigmas_m(excitation_wavelength_m, excitation_wavelength_m, objective, n_imm)
    s0 = float(s.eff_xy)
    z_r = math.pi * (2.0 * s0) ** 2 / excitation_wavelength_m
    z = focus_depth_m
    return s0 * math.sqrt(1.0 + (z / z_r) ** 2), math.exp(-2.0 * z * z / float(s.det_z) ** 2)


def reflection_map(
    chip: Chip,
    xs_chip_m: ArrayLike,
    ys_chip_m: ArrayLike,
    focus_depth_m: float,
    power_w: float,
    objective: Objective,
    *,
    excitation_wavelength_m: float = 532e-9,
) -> F64:
    """Expected reflected laser power (W) collected by the confocal reflection channel.

    P · A(z) · [R_GaN + (R_mark − R_GaN) · F(x, y)], with R_GaN the Fresnel reflectance of
    the chip's index, R_mark its ``mark_reflectance``, F the fraction of the blurred spot
    (:func:`reflection_sigmas_m`) falling on mark cells (Gaussian integrated over each
    square cell with erf; incoherent imaging), A the axial response at the nominal
    defocus ``focus_depth_m`` (the surface is at 0). Structure sites are not rendered.
    """
    px, py, shape = pixel_arrays(xs_chip_m, ys_chip_m)
    power = check_nonnegative("power_w", power_w)
    z = check_finite("focus_depth_m", focus_depth_m)
    sigma, axial = reflection_sigmas_m(excitation_wavelength_m, objective, z)
    cfg = chip.config
    lay = cfg.marks
    n_rows, n_cols = lay.grid_shape(cfg.size_x_m, cfg.size_y_m)
    marks = sorted(chip.marks, key=lambda mk: mk.index)
    cell_x = np.array([mk.x_m + dx for mk in marks for dx, _ in mk.cells], dtype=np.float64)
    cell_y = np.array([mk.y_m + dy for mk in marks for _, dy in mk.cells], dtype=np.float64)
    counts = np.array([0] + [len(mk.cells) for mk in marks], dtype=np.int64)
    frac = np.zeros(px.size)
    if marks and px.size:
        _reflection_kernel(
            px, py, sigma,
            -cfg.size_x_m / 2 + lay.margin_m, -cfg.size_y_m / 2 + lay.margin_m, lay.pitch_m,
            n_rows, n_cols, cell_x, cell_y, np.cumsum(counts), lay.cell_size_m / 2,
            lay.half_extent_m + 8.0 * sigma, frac,
        )  # fmt: skip
    r_gan = fresnel_reflectance(cfg.refractive_index)
    result: F64 = power * axial * (r_gan + (cfg.mark_reflectance - r_gan) * frac)
    return result.reshape(shape)


@dataclass(frozen=True, slots=True)
class ReflectionChannel:
    """Photodiode of the reflection channel (all *estimates*).

    Parameters
    ----------
    efficiency : float
        Fraction of the collected reflected power converted to photoelectrons (beam
        splitter, neutral-density attenuation and quantum efficiency; 1e-5).
    read_noise_e : float
        Gaussian read noise per sample, electrons (50).
    relative_intensity_noise : float
        1σ relative laser-power fluctuation per sample (0.2 %).
    """

    efficiency: float = 1e-5
    read_noise_e: float = 50.0
    relative_intensity_noise: float = 0.002

    def __post_init__(self) -> None:
        check_fraction("efficiency", self.efficiency)
        check_nonnegative("read_noise_e", self.read_noise_e)
        check_nonnegative("relative_intensity_noise", self.relative_intensity_noise)


def sample_reflection(
    expected_power_w: ArrayLike,
    dwell_s: float,
    rng: np.random.Generator,
    *,
    channel: ReflectionChannel,
    wavelength_m: float,
) -> F64:
    """Noisy reflection readings in photoelectrons for a dwell time per pixel.

    N = Poisson(P·(1 + RIN·g)·η·t/(hc/λ)) + read noise, g ~ N(0, 1) (shot noise of the
    photocurrent plus laser intensity noise plus electronics; Poisson statistics of
    photodetection, e.g. Saleh & Teich, *Fundamentals of Photonics*, §19.5).
    """
    p = np.asarray(expected_power_w, dtype=np.float64)
    if not np.all(np.isfinite(p)) or np.any(p < 0.0):
        raise ParameterError("expected_power_w", "array", "must be finite and >= 0")
    t = check_positive("dwell_s", dwell_s)
    photon_j = scipy.constants.h * scipy.constants.c / check_positive("wavelength_m", wavelength_m)
    rin = 1.0 + channel.relative_intensity_noise * rng.standard_normal(p.shape)
    mean = np.maximum(p * rin, 0.0) * channel.efficiency * t / photon_j
    result: F64 = rng.poisson(mean).astype(np.float64)
    result += channel.read_noise_e * rng.standard_normal(p.shape)
    return result
