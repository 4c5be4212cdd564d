"""Configuration of a chip sample: sizes, densities, property distributions, layouts.

:class:`ChipConfig` plus the deterministic layout of marks and structure sites that follows
from it. :func:`qlight.physics.chip.generate_chip` turns ``(config, seed)`` into a chip.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_finite, check_fraction, check_nonnegative, check_positive
from qlight.errors import ParameterError
from qlight.physics.marks import MarkLayout

__all__ = ["ChipConfig", "mark_positions_m", "site_positions_m"]

F64 = NDArray[np.float64]
Range = tuple[float, float]

_RANGES_POSITIVE = (
    "depth_m",
    "lifetime_ns",
    "metastable_lifetime_ns",
    "p_sat_w",
    "zpl_nm",
    "zpl_fwhm_nm",
    "blink_off_rate_per_s_per_w",
    "blink_off_rate_per_s",
    "blink_on_rate_per_s",
    "cluster_separation_m",
    "spot_sigma_m",
    "spot_rate_per_s_per_w",
)


@dataclass(frozen=True, slots=True)
class ChipConfig:
    """Everything that defines a chip sample besides the seed.

    Ranges ``(low, high)`` are drawn uniformly unless the docstring of :func:`generate_chip`
    says log-uniform. Defaults: REFERENCES.md (*estimate* where it gives no source).

    Parameters
    ----------
    size_x_m, size_y_m : float
        Simulated chip area, centred on the chip-frame origin (200 µm × 200 µm).
    emitter_density_per_m2 : float
        Mean density of emitters (0.03 /µm², within the 0.01–0.1 /µm² estimate).
    depth_m : Range
        Emitter depth below the surface (20 nm – 1.5 µm; *estimate*).
    lifetime_ns : Range
        Excited-state lifetime τ₁ = 1/(k21 + k23), uniform (1–3 ns).
    metastable_lifetime_ns : Range
        Metastable lifetime 1/k31, log-uniform (10–500 ns).
    brightness_mean_per_s, brightness_sd_per_s : float
        Gamma law of the saturated *detected* rate in the reference setup
        ((427 ± 215) kcps, Berhane et al., PRB 97 (2018)).
    reference_detection_efficiency : float
        η of the setup that brightness refers to; emitted I∞ = brightness / η_ref.
        Default 0.04298 (in-plane dipole, NA 0.9) × 0.5 (optics) × 0.65 (Si SPAD) = 0.01397.
    quantum_efficiency : float
        Radiative fraction of the 2→1 decay.
    p_sat_w : Range
        Saturation power, log-uniform (0.5–3 mW).
    polarization_visibility : Range
        Uniform (0.7–0.95).
    zpl_nm, zpl_fwhm_nm : Range
        Zero-phonon line, uniform (600–710 nm: Geng et al., Sci. Rep. 13, 8678 (2023)) and
        its width at 300 K, uniform (2–6 nm).
    debye_waller : float
        ZPL fraction of the emission (0.6; *estimate*).
    dipole_tilt_sd_rad : float
        1σ tilt of the dipole out of the surface plane (dipole ⟂ c-axis, arXiv:2306.17339;
        10°, *estimate*).
    blinking_fraction : float
        Fraction of emitters with photo-induced blinking (Berhane, Bradac, Aharonovich,
        PRB 96 (2017); 0.2, *estimate*); rates log-uniform in the three ``blink_*`` ranges.
    bleachable_fraction, mean_photon_budget : float
        Fraction of emitters that bleach, and the mean of their exponential emitted-photon
        budget (0.1 and 1e11; *estimate*); the others never bleach.
    cluster_probability : float
        Probability that an emitter has 1–2 close companions (0.05; *estimate*).
    cluster_separation_m : Range
        Companion distance, uniform (30–200 nm: below the PSF width).
    spot_density_per_m2 : float
        Density of bright, extended, Poissonian background spots (0.002 /µm²; *estimate*).
    spot_sigma_m, spot_rate_per_s_per_w : Range
        Gaussian radius (uniform 0.2–0.6 µm) and peak detected rate per watt (log-uniform
        0.3–3 Mcps/mW) of a spot.
    new_spots_per_power_cycle : float
        Mean number of spots appearing per power cycle (Poisson; 1.0, *estimate*).
    background_median_per_s_per_w : float
        Median detected background PL per watt (4.5 kcps/mW; 1–20 kcps/mW is the 95 % band
        with ``background_log_sd`` = 0.75).
    background_log_sd, background_correlation_m : float
        Log-normal spread and correlation length (30 µm) of the smooth background field.
    background_modes : int
        Random Fourier modes of the background field (64).
    refractive_index : float
        GaN refractive index (2.4).
    mark_reflectance : float
        Reflectance of the metal mark cells at the excitation wavelength (Au at 532 nm
        ≈ 0.7 from the Johnson & Christy, PRB 6, 4370 (1972) optical constants).
    marks : MarkLayout
        Fiducial-mark lattice and code geometry.
    structure_pitch_m, structure_offset_m : float
        Square lattice of circular-grating (bullseye) sites: pitch (40 µm) and offset of the
        first site from the first mark (10 µm in x and y: between the marks).
    structure_radius_m : float
        Outer radius of a bullseye (4 µm).
    structure_occupancy : float
        Probability that a site was fabricated around a pre-located emitter (0.5).
    structure_placement_sd_m : float
        1σ placement error of that emitter from the site centre (20 nm; *estimate*).
    structure_collection_factor : float
        PLACEHOLDER collection gain of an emitter at a site (10; Davanco et al., APL 99,
        041102 (2011) simulate > 80 % into NA 0.7 against 1.8 % planar); the photonics issue
        supplies computed values through ``structure_collection_table``.
    structure_collection_table : tuple of (zpl_nm, factor)
        If non-empty, the factor is interpolated in the emitter's ZPL (the grating is
        resonant), overriding ``structure_collection_factor``.
    structure_purcell_table : tuple of (zpl_nm, purcell)
        If non-empty, the radiative rate k21 of an emitter at a site is multiplied by the
        Purcell factor interpolated in its ZPL (default: none, factor 1). Computed tables
        of both kinds: ``qlight.photonics.design_table.load_design_table().twin_tables()``
        (docs/photonics-design.md).
    """

    size_x_m: float = 200e-6
    size_y_m: float = 200e-6
    emitter_density_per_m2: float = 0.03e12
    depth_m: Range = (20e-9, 1.5e-6)
    lifetime_ns: Range = (1.0, 3.0)
    metastable_lifetime_ns: Range = (10.0, 500.0)
    brightness_mean_per_s: float = 427e3
    brightness_sd_per_s: float = 215e3
    reference_detection_efficiency: float = 0.04298 * 0.5 * 0.65
    quantum_efficiency: float = 1.0
    p_sat_w: Range = (0.5e-3, 3e-3)
    polarization_visibility: Range = (0.7, 0.95)
    zpl_nm: Range = (600.0, 710.0)
    zpl_fwhm_nm: Range = (2.0, 6.0)
    debye_waller: float = 0.6
    dipole_tilt_sd_rad: float = math.radians(10.0)
    blinking_fraction: float = 0.2
    blink_off_rate_per_s_per_w: Range = (1e3, 1e5)
    blink_off_rate_per_s: Range = (0.1, 1.0)
    blink_on_rate_per_s: Range = (10.0, 1000.0)
    bleachable_fraction: float = 0.1
    mean_photon_budget: float = 1e11
    cluster_probability: float = 0.05
    cluster_separation_m: Range = (30e-9, 200e-9)
    spot_density_per_m2: float = 0.002e12
    spot_sigma_m: Range = (0.2e-6, 0.6e-6)
    spot_rate_per_s_per_w: Range = (3e8, 3e9)
    new_spots_per_power_cycle: float = 1.0
    background_median_per_s_per_w: float = 4.5e6
    background_log_sd: float = 0.75
    background_correlation_m: float = 30e-6
    background_modes: int = 64
    refractive_index: float = 2.4
    mark_reflectance: float = 0.7
    marks: MarkLayout = field(default_factory=MarkLayout)
    structure_pitch_m: float = 40e-6
    structure_offset_m: float = 10e-6
    structure_radius_m: float = 4e-6
    structure_occupancy: float = 0.5
    structure_placement_sd_m: float = 20e-9
    structure_collection_factor: float = 10.0
    structure_collection_table: tuple[tuple[float, float], ...] = ()
    structure_purcell_table: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        # configuration files give lists; store tuples so the config stays hashable
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
                object.__setattr__(self, f.name, value)
        for name in (
            "size_x_m",
            "size_y_m",
            "brightness_mean_per_s",
            "brightness_sd_per_s",
            "mean_photon_budget",
            "background_median_per_s_per_w",
            "background_correlation_m",
            "structure_pitch_m",
            "structure_radius_m",
            "structure_collection_factor",
        ):
            check_positive(name, getattr(self, name))
        for name in (
            "emitter_density_per_m2",
            "spot_density_per_m2",
            "new_spots_per_power_cycle",
            "background_log_sd",
            "dipole_tilt_sd_rad",
            "structure_offset_m",
            "structure_placement_sd_m",
        ):
            check_nonnegative(name, getattr(self, name))
        for name in (
            "reference_detection_efficiency",
            "quantum_efficiency",
            "debye_waller",
            "blinking_fraction",
            "bleachable_fraction",
            "cluster_probability",
            "mark_reflectance",
            "structure_occupancy",
        ):
            check_fraction(name, getattr(self, name))
        if self.reference_detection_efficiency == 0.0 or self.quantum_efficiency == 0.0:
            raise ParameterError("reference_detection_efficiency", 0.0, "must be > 0")
        for name in (*_RANGES_POSITIVE, "polarization_visibility"):
            _check_range(name, getattr(self, name))
        if self.polarization_visibility[1] > 1.0:
            raise ParameterError(
                "polarization_visibility", self.polarization_visibility, "must be <= 1"
            )
        if check_finite("refractive_index", self.refractive_index) <= 1.0:
            raise ParameterError("refractive_index", self.refractive_index, "must be > 1")
        b = self.background_modes
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ParameterError("background_modes", b, "must be an integer >= 1")
        n_rows, n_cols = self.marks.grid_shape(self.size_x_m, self.size_y_m)
        if n_rows * n_cols > self.marks.capacity:
            raise ParameterError(
                "marks", n_rows * n_cols, f"exceed the code capacity {self.marks.capacity}"
            )
        for nm, factor in self.structure_collection_table:
            check_positive("structure_collection_table", nm)
            check_positive("structure_collection_table", factor)
        if list(self.structure_collection_table) != sorted(self.structure_collection_table):
            raise ParameterError(
                "structure_collection_table", self.structure_collection_table, "must be sorted"
            )
        for nm, purcell in self.structure_purcell_table:
            check_positive("structure_purcell_table", nm)
            check_positive("structure_purcell_table", purcell)
        if list(self.structure_purcell_table) != sorted(self.structure_purcell_table):
            raise ParameterError(
                "structure_purcell_table", self.structure_purcell_table, "must be sorted"
            )
        # sites sit between marks: check the closest site-mark distance clears both
        sx, sy = site_positions_m(self)
        if sx.size:
            mx, my = mark_positions_m(self)
            dx = np.abs(sx[:, None] - mx[None, :])
            dy = np.abs(sy[:, None] - my[None, :])
            gap = np.maximum(dx, dy).min() - self.marks.half_extent_m
            if gap <= self.structure_radius_m:
                raise ParameterError(
                    "structure_offset_m", self.structure_offset_m, "puts sites on the marks"
                )

    def structure_factor(self, zpl_nm: ArrayLike) -> F64:
        """Collection gain at a structure site for emitters with the given ZPL (placeholder)."""
        z = np.asarray(zpl_nm, dtype=np.float64)
        if not self.structure_collection_table:
            return np.full(z.shape, self.structure_collection_factor)
        nm, fac = zip(*self.structure_collection_table, strict=True)
        result: F64 = np.interp(z, np.array(nm), np.array(fac))
        return result

    def structure_purcell(self, zpl_nm: ArrayLike) -> F64:
        """Purcell factor at a structure site for emitters with the given ZPL (1: no table)."""
        z = np.asarray(zpl_nm, dtype=np.float64)
        if not self.structure_purcell_table:
            return np.ones(z.shape)
        nm, fac = zip(*self.structure_purcell_table, strict=True)
        result: F64 = np.interp(z, np.array(nm), np.array(fac))
        return result


def _check_range(name: str, r: Range) -> None:
    if (
        len(r) != 2
        or not all(isinstance(v, int | float) and math.isfinite(v) for v in r)
        or not 0.0 < r[0] <= r[1]
    ):
        raise ParameterError(name, r, "must be a finite (low, high) with 0 < low <= high")


def mark_positions_m(config: ChipConfig) -> tuple[F64, F64]:
    """Chip-frame centres of all marks, in lattice-index order (row-major, row 0 lowest y)."""
    m = config.marks
    n_rows, n_cols = m.grid_shape(config.size_x_m, config.size_y_m)
    col, row = np.meshgrid(np.arange(n_cols), np.arange(n_rows))
    x = -config.size_x_m / 2 + m.margin_m + col.ravel() * m.pitch_m
    y = -config.size_y_m / 2 + m.margin_m + row.ravel() * m.pitch_m
    return x.astype(np.float64), y.astype(np.float64)


def site_positions_m(config: ChipConfig) -> tuple[F64, F64]:
    """Chip-frame centres of all structure sites, row-major; whole sites lie on the chip."""
    start_x = -config.size_x_m / 2 + config.marks.margin_m + config.structure_offset_m
    start_y = -config.size_y_m / 2 + config.marks.margin_m + config.structure_offset_m
    edge = config.structure_radius_m
    xs = np.arange(start_x, config.size_x_m / 2 - edge, config.structure_pitch_m)
    ys = np.arange(start_y, config.size_y_m / 2 - edge, config.structure_pitch_m)
    gx, gy = np.meshgrid(xs, ys)
    return gx.ravel().astype(np.float64), gy.ravel().astype(np.float64)
