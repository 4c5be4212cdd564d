"""The GaN chip: emitters, background spots, fiducial marks, structure sites, background PL.

A :class:`Chip` is fully determined by ``(config, seed)`` (:func:`generate_chip`) and is saved
and loaded as versioned JSON (:mod:`qlight.physics.chipfile`). Positions are in the **chip
frame**: metres, origin at the chip centre, depth positive below the surface. Distributions,
defaults and their sources: docs/twin/chip-optics-stage.md and REFERENCES.md.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_positive
from qlight.errors import ParameterError
from qlight.physics.chipconfig import ChipConfig, Range, mark_positions_m, site_positions_m
from qlight.physics.emitter import Blinking, EmitterPhotophysics
from qlight.physics.marks import encode_mark_bits

__all__ = [
    "BackgroundField",
    "BackgroundSpot",
    "Chip",
    "ChipConfig",
    "ChipEmitter",
    "EmitterArrays",
    "FiducialMark",
    "StructureSite",
    "draw_new_spots",
    "generate_chip",
]

F64 = NDArray[np.float64]

# ---------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class ChipEmitter:
    """One emitter: chip-frame position, photophysics and collection modifiers (ground truth).

    ``cluster`` is the index of the emitter whose close companion this one is (its own index
    for the first member of a cluster, −1 for an isolated emitter). ``photon_budget`` is the
    number of photons it emits before bleaching (``inf``: never), equal to
    ``photophysics.photon_budget``.
    """

    index: int
    x_m: float
    y_m: float
    depth_m: float
    photophysics: EmitterPhotophysics
    at_structure: bool
    collection_factor: float
    photon_budget: float
    cluster: int = -1

    def __post_init__(self) -> None:
        if self.photon_budget != self.photophysics.photon_budget:
            raise ParameterError(
                "photon_budget", self.photon_budget, "must equal photophysics.photon_budget"
            )
        check_positive("collection_factor", self.collection_factor)


@dataclass(frozen=True, slots=True)
class BackgroundSpot:
    """A bright, extended, Poissonian (non-single) background emitter.

    Seen through the confocal PSF its profile is a Gaussian of variance ``sigma_m² + σ_psf²``
    whose peak detected rate is ``rate_per_s_per_w`` × laser power (linear, no saturation).
    """

    x_m: float
    y_m: float
    sigma_m: float
    rate_per_s_per_w: float
    depth_m: float = 0.0


@dataclass(frozen=True, slots=True)
class FiducialMark:
    """A fabricated metal mark carrying its lattice index as a code of filled cells.

    ``cells`` are the centres ``(dx, dy)`` of the filled square cells of side ``cell_size_m``
    relative to the mark centre ``(x_m, y_m)``; see :mod:`qlight.physics.marks`.
    """

    index: int
    x_m: float
    y_m: float
    code: int
    row: int
    col: int
    cell_size_m: float
    cells: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class StructureSite:
    """A circular Bragg grating (bullseye) site; ``emitter`` is the index it was built around."""

    index: int
    x_m: float
    y_m: float
    radius_m: float
    emitter: int = -1


@dataclass(frozen=True, slots=True)
class BackgroundField:
    """Smooth, seeded background photoluminescence, detected counts per second per watt.

    b(r) = b_med · exp(s·g(r)), g(r) = sqrt(2/M) Σ_m cos(k_m·r + φ_m): random Fourier
    features of a unit-variance Gaussian field with correlation exp(−|r|²/2ℓ²), k_m ~
    N(0, ℓ⁻² I), φ_m ~ U(0, 2π) (Rahimi & Recht, NIPS 2007). b is log-normal with median
    b_med; its mean over the chip tends to b_med·exp(s²/2).
    """

    median_per_s_per_w: float
    log_sd: float
    kx_per_m: tuple[float, ...]
    ky_per_m: tuple[float, ...]
    phase_rad: tuple[float, ...]

    def __call__(self, x_m: ArrayLike, y_m: ArrayLike) -> F64:
        x = np.asarray(x_m, dtype=np.float64)
        y = np.asarray(y_m, dtype=np.float64)
        kx = np.asarray(self.kx_per_m)
        ky = np.asarray(self.ky_per_m)
        ph = np.asarray(self.phase_rad)
        arg = x[..., None] * kx + y[..., None] * ky + ph
        g = math.sqrt(2.0 / kx.size) * np.cos(arg).sum(axis=-1)
        result: F64 = self.median_per_s_per_w * np.exp(self.log_sd * g)
        return result


@dataclass(frozen=True)
class EmitterArrays:
    """Column view of a chip's emitters for vectorised optics (one entry per emitter)."""

    x_m: F64
    y_m: F64
    depth_m: F64
    i_inf_per_s: F64
    p_sat_w: F64
    dipole_polar_rad: F64
    zpl_nm: F64
    collection_factor: F64


@dataclass(frozen=True)
class Chip:
    """A generated chip sample (ground truth of the twin).

    Created by :func:`generate_chip`; saved and loaded with :meth:`save` / :meth:`load`.
    """

    config: ChipConfig
    seed: int
    emitters: tuple[ChipEmitter, ...]
    spots: tuple[BackgroundSpot, ...]
    marks: tuple[FiducialMark, ...]
    structure_sites: tuple[StructureSite, ...]
    background: BackgroundField

    def background_pl_per_s_per_w(self, x_m: ArrayLike, y_m: ArrayLike) -> F64:
        """Detected background PL per watt of laser power at chip-frame ``(x_m, y_m)``."""
        return self.background(x_m, y_m)

    @cached_property
    def derived_cache(self) -> dict[Hashable, Any]:
        """Scratch space for data derived from the chip and a setup (not part of its identity).

        :mod:`qlight.physics.optics` keeps per-emitter detection efficiencies and PSF widths
        here, keyed by the setup, so repeated maps of one chip do not recompute them.
        """
        return {}

    @cached_property
    def arrays(self) -> EmitterArrays:
        """Emitter properties as arrays (computed once per chip)."""
        sat = [e.photophysics.saturation() for e in self.emitters]
        return EmitterArrays(
            x_m=np.array([e.x_m for e in self.emitters], dtype=np.float64),
            y_m=np.array([e.y_m for e in self.emitters], dtype=np.float64),
            depth_m=np.array([e.depth_m for e in self.emitters], dtype=np.float64),
            i_inf_per_s=np.array([s[0] for s in sat], dtype=np.float64),
            p_sat_w=np.array([s[1] for s in sat], dtype=np.float64),
            dipole_polar_rad=np.array(
                [e.photophysics.dipole_polar_rad for e in self.emitters], dtype=np.float64
            ),
            zpl_nm=np.array([e.photophysics.zpl_nm for e in self.emitters], dtype=np.float64),
            collection_factor=np.array(
                [e.collection_factor for e in self.emitters], dtype=np.float64
            ),
        )

    def save(self, path: str | Path) -> None:
        """Write the chip as versioned, checksummed JSON (see :mod:`qlight.physics.chipfile`)."""
        from qlight.physics.chipfile import save_chip

        save_chip(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Chip:
        """Read a chip file; raise :class:`~qlight.errors.FileFormatError` if it is bad."""
        from qlight.physics.chipfile import load_chip

        return load_chip(path)


# ---------------------------------------------------------------------------- generation


def generate_chip(config: ChipConfig, seed: int) -> Chip:
    """Generate the chip defined by ``(config, seed)``; the same pair gives an equal chip.

    Independent streams (``SeedSequence(seed).spawn``) draw, in order: emitter positions
    (homogeneous Poisson process of ``emitter_density_per_m2``, thinned where a mark's metal
    covers the GaN), cluster companions, structure-site emitters, emitter properties,
    spots and the background field. Property laws: lifetime, ZPL, ZPL width, visibility
    uniform; metastable lifetime, P_sat and blinking rates log-uniform; detected saturated
    brightness Gamma(mean, sd); dipole polar angle π/2 + N(0, tilt), azimuth U(0, π);
    photon budget Exp(mean_photon_budget) for a ``bleachable_fraction`` of emitters.
    The rates follow from the three-level model: k21 + k23 = 1/τ₁, k31 = 1/τ_m,
    I∞ = qe·k21·k31/(k31 + k23) = brightness/η_ref solved for k23, and k12 per watt from
    P_sat = (k21 + k23)/(k12_per_w·(1 + k23/k31)).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError("seed", seed, "must be an integer >= 0")
    seed = int(seed)
    ss = np.random.SeedSequence(seed)
    r_pos, r_clu, r_site, r_prop, r_spot, r_bg = (np.random.default_rng(s) for s in ss.spawn(6))
    c = config
    area = c.size_x_m * c.size_y_m

    n = int(r_pos.poisson(c.emitter_density_per_m2 * area))
    x = r_pos.uniform(-c.size_x_m / 2, c.size_x_m / 2, n)
    y = r_pos.uniform(-c.size_y_m / 2, c.size_y_m / 2, n)
    dep = r_pos.uniform(*c.depth_m, n)
    cluster = np.full(n, -1, dtype=np.int64)

    # companions closer than the PSF
    has = r_clu.random(n) < c.cluster_probability
    extra = r_clu.integers(1, 3, n)
    xs, ys, ds, cs = [x], [y], [dep], [cluster]
    for parent in np.flatnonzero(has):
        k = int(extra[parent])
        rad = r_clu.uniform(*c.cluster_separation_m, k)
        ang = r_clu.uniform(0.0, 2 * math.pi, k)
        xs.append(x[parent] + rad * np.cos(ang))
        ys.append(y[parent] + rad * np.sin(ang))
        ds.append(np.clip(dep[parent] + r_clu.normal(0.0, 50e-9, k), *c.depth_m))
        cs.append(np.full(k, parent, dtype=np.int64))
        cluster[parent] = parent

    # emitters the bullseyes were fabricated around
    sx, sy = site_positions_m(c)
    occupied = r_site.random(sx.size) < c.structure_occupancy
    n_occ = int(occupied.sum())
    xs.append(sx[occupied] + r_site.normal(0.0, c.structure_placement_sd_m, n_occ))
    ys.append(sy[occupied] + r_site.normal(0.0, c.structure_placement_sd_m, n_occ))
    ds.append(r_site.uniform(*c.depth_m, n_occ))
    cs.append(np.full(n_occ, -1, dtype=np.int64))
    ax = np.concatenate(xs)
    ay = np.concatenate(ys)
    adep = np.concatenate(ds)
    aclu = np.concatenate(cs)
    at_site = np.zeros(ax.size, dtype=np.bool_)
    at_site[ax.size - n_occ :] = True
    site_of = np.full(sx.size, -1, dtype=np.int64)

    inside = (np.abs(ax) <= c.size_x_m / 2) & (np.abs(ay) <= c.size_y_m / 2)
    keep = inside & ~_under_mark(c, ax, ay)
    new_index = np.cumsum(keep) - 1
    # renumber cluster labels; a companion whose parent was removed becomes isolated
    par = np.maximum(aclu, 0)
    aclu = np.where((aclu >= 0) & keep[par], new_index[par], -1)
    site_rows = ax.size - n_occ + np.arange(n_occ)
    site_of[np.flatnonzero(occupied)] = np.where(keep[site_rows], new_index[site_rows], -1)
    ax, ay, adep, aclu, at_site = ax[keep], ay[keep], adep[keep], aclu[keep], at_site[keep]
    members = np.bincount(aclu[aclu >= 0], minlength=ax.size)
    aclu[(aclu == np.arange(ax.size)) & (members < 2)] = -1  # all companions were removed

    props = _draw_properties(c, r_prop, ax.size)
    budgets = props.photon_budget
    factor = np.where(at_site, c.structure_factor(props.zpl_nm), 1.0)
    purcell = np.where(at_site, c.structure_purcell(props.zpl_nm), 1.0)
    emitters = []
    for i in range(ax.size):
        blink = props.blinking[i]
        pp = EmitterPhotophysics(
            k12_per_ns_per_w=float(props.k12[i]),
            k21_per_ns=float(props.k21[i] * purcell[i]),
            k23_per_ns=float(props.k23[i]),
            k31_per_ns=float(props.k31[i]),
            qe=c.quantum_efficiency,
            blinking=blink,
            photon_budget=float(budgets[i]),
            zpl_nm=float(props.zpl_nm[i]),
            zpl_fwhm_nm=float(props.zpl_fwhm_nm[i]),
            debye_waller=c.debye_waller,
            dipole_azimuth_rad=float(props.azimuth[i]),
            dipole_polar_rad=float(props.polar[i]),
            polarization_visibility=float(props.visibility[i]),
        )
        emitters.append(
            ChipEmitter(
                index=i,
                x_m=float(ax[i]),
                y_m=float(ay[i]),
                depth_m=float(adep[i]),
                photophysics=pp,
                at_structure=bool(at_site[i]),
                collection_factor=float(factor[i]),
                photon_budget=float(budgets[i]),
                cluster=int(aclu[i]),
            )
        )
    sites = tuple(
        StructureSite(k, float(sx[k]), float(sy[k]), c.structure_radius_m, int(site_of[k]))
        for k in range(sx.size)
    )
    n_spots = int(r_spot.poisson(c.spot_density_per_m2 * area))
    return Chip(
        config=c,
        seed=seed,
        emitters=tuple(emitters),
        spots=_draw_spots(c, r_spot, n_spots),
        marks=_make_marks(c),
        structure_sites=sites,
        background=_draw_background(c, r_bg),
    )


def draw_new_spots(chip: Chip, rng: np.random.Generator) -> tuple[BackgroundSpot, ...]:
    """Spots that appear on a power cycle: Poisson(``new_spots_per_power_cycle``) of them."""
    n = int(rng.poisson(chip.config.new_spots_per_power_cycle))
    return _draw_spots(chip.config, rng, n)


def _log_uniform(rng: np.random.Generator, r: Range, n: int) -> F64:
    return np.exp(rng.uniform(math.log(r[0]), math.log(r[1]), n))


@dataclass(frozen=True)
class _Properties:
    k12: F64
    k21: F64
    k23: F64
    k31: F64
    visibility: F64
    zpl_nm: F64
    zpl_fwhm_nm: F64
    polar: F64
    azimuth: F64
    blinking: list[Blinking | None]
    photon_budget: F64


def _draw_properties(c: ChipConfig, rng: np.random.Generator, n: int) -> _Properties:
    """Emitter properties, vectorised and in a fixed draw order (see :func:`generate_chip`)."""
    tau1_ns = rng.uniform(*c.lifetime_ns, n)
    k31 = 1.0 / _log_uniform(rng, c.metastable_lifetime_ns, n)
    shape = (c.brightness_mean_per_s / c.brightness_sd_per_s) ** 2
    brightness = rng.gamma(shape, c.brightness_mean_per_s / shape, n)
    p_sat = _log_uniform(rng, c.p_sat_w, n)
    visibility = rng.uniform(*c.polarization_visibility, n)
    zpl = rng.uniform(*c.zpl_nm, n)
    fwhm = rng.uniform(*c.zpl_fwhm_nm, n)
    polar = np.clip(math.pi / 2 + rng.normal(0.0, c.dipole_tilt_sd_rad, n), 0.0, math.pi)
    azimuth = rng.uniform(0.0, math.pi, n)
    blinks = rng.random(n) < c.blinking_fraction
    off_p = _log_uniform(rng, c.blink_off_rate_per_s_per_w, n)
    off_0 = _log_uniform(rng, c.blink_off_rate_per_s, n)
    on = _log_uniform(rng, c.blink_on_rate_per_s, n)
    bleach = rng.random(n) < c.bleachable_fraction
    budget = np.where(bleach, rng.exponential(c.mean_photon_budget, n), math.inf)
    # three-level rates: I∞ = qe·k21·k31/(k31 + k23) solved for k23 with k21 + k23 = Γ
    gamma = 1.0 / tau1_ns
    x = brightness / (c.reference_detection_efficiency * c.quantum_efficiency) * 1e-9
    x = np.minimum(x, 0.95 * gamma)  # a saturated rate cannot exceed the decay rate
    k23 = k31 * (gamma - x) / (x + k31)
    blinking = [
        Blinking(float(off_p[i]), float(off_0[i]), float(on[i])) if blinks[i] else None
        for i in range(n)
    ]
    return _Properties(
        k12=gamma / (p_sat * (1.0 + k23 / k31)),
        k21=gamma - k23,
        k23=k23,
        k31=k31,
        visibility=visibility,
        zpl_nm=zpl,
        zpl_fwhm_nm=fwhm,
        polar=polar,
        azimuth=azimuth,
        blinking=blinking,
        photon_budget=budget,
    )


def _under_mark(c: ChipConfig, x: F64, y: F64) -> NDArray[np.bool_]:
    """True where a point lies within a mark's square footprint (metal covers the GaN)."""
    m = c.marks
    n_rows, n_cols = m.grid_shape(c.size_x_m, c.size_y_m)
    x0 = -c.size_x_m / 2 + m.margin_m
    y0 = -c.size_y_m / 2 + m.margin_m
    col = np.clip(np.rint((x - x0) / m.pitch_m), 0, n_cols - 1)
    row = np.clip(np.rint((y - y0) / m.pitch_m), 0, n_rows - 1)
    dx = np.abs(x - (x0 + col * m.pitch_m))
    dy = np.abs(y - (y0 + row * m.pitch_m))
    result: NDArray[np.bool_] = (dx <= m.half_extent_m) & (dy <= m.half_extent_m)
    return result


def _draw_spots(c: ChipConfig, rng: np.random.Generator, n: int) -> tuple[BackgroundSpot, ...]:
    x = rng.uniform(-c.size_x_m / 2, c.size_x_m / 2, n)
    y = rng.uniform(-c.size_y_m / 2, c.size_y_m / 2, n)
    sigma = rng.uniform(*c.spot_sigma_m, n)
    rate = _log_uniform(rng, c.spot_rate_per_s_per_w, n)
    depth = rng.uniform(*c.depth_m, n)
    return tuple(
        BackgroundSpot(float(x[i]), float(y[i]), float(sigma[i]), float(rate[i]), float(depth[i]))
        for i in range(n)
    )


def _make_marks(c: ChipConfig) -> tuple[FiducialMark, ...]:
    m = c.marks
    n_rows, n_cols = m.grid_shape(c.size_x_m, c.size_y_m)
    mx, my = mark_positions_m(c)
    marks = []
    for idx in range(n_rows * n_cols):
        cells = m.cell_offsets_m(encode_mark_bits(idx, m.cells))
        marks.append(
            FiducialMark(
                index=idx,
                x_m=float(mx[idx]),
                y_m=float(my[idx]),
                code=idx,
                row=idx // n_cols,
                col=idx % n_cols,
                cell_size_m=m.cell_size_m,
                cells=tuple((float(dx), float(dy)) for dx, dy in cells),
            )
        )
    return tuple(marks)


def _draw_background(c: ChipConfig, rng: np.random.Generator) -> BackgroundField:
    k = rng.normal(0.0, 1.0 / c.background_correlation_m, (c.background_modes, 2))
    phase = rng.uniform(0.0, 2 * math.pi, c.background_modes)
    return BackgroundField(
        median_per_s_per_w=c.background_median_per_s_per_w,
        log_sd=c.background_log_sd,
        kx_per_m=tuple(float(v) for v in k[:, 0]),
        ky_per_m=tuple(float(v) for v in k[:, 1]),
        phase_rad=tuple(float(v) for v in phase),
    )
