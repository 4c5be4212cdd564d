"""Fiducial marks in a reflection scan: find, decode, and turn into frame correspondences.

The marks are the lithographic design of :mod:`qlight.physics.marks`: an ``n × n`` grid of
square metal cells (pitch 1 µm, side 0.6 µm) whose filled cells encode the mark's lattice
index, with three filled corners and one empty corner fixing the orientation (QR-code finder
logic, ISO/IEC 18004). Metal reflects ≈ 4× more than GaN (Au 0.7 against GaN 0.17), so cells
are the bright connected regions of the reflection channel.

Pipeline (:func:`find_marks`): threshold halfway between the bare-GaN level (the image
median) and the bright level → connected cells → intensity-weighted centroids → group cells
closer than 3.2 cell pitches (the anchors link every cell of a mark) → the group's grid
angle from the 4-fold circular mean of its axis-aligned pair directions
(``φ = arg Σ e^{4iα}/4``, Mardia & Jupp, *Directional Statistics*, §2.4) → grid
indices → bits → :func:`~qlight.physics.marks.decode_mark_bits`
(parity-checked) → the 90° orientation that maps the designed cells onto the seen ones →
a weighted-Umeyama fit of the cell centroids (:func:`~qlight.mapping.similarity.fit_similarity`).
Each decoded mark therefore gives a whole chip → stage similarity on its own (≈ 7–15 cells).
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from qlight._validation import check_positive
from qlight.errors import ParameterError
from qlight.instruments.protocols import ScanImage, Scanner
from qlight.mapping.similarity import Similarity2D, SimilarityFit, fit_similarity
from qlight.physics.marks import MarkLayout, decode_mark_bits, encode_mark_bits

__all__ = [
    "MarkObservation",
    "find_marks",
    "focus_surface",
    "locate_marks",
    "mark_scan_window",
    "search_surface",
]

F64 = NDArray[np.float64]

#: minimum bright/GaN contrast of the brightest pixels for marks to be considered present
_MIN_CONTRAST = 2.0


@dataclass(frozen=True, slots=True)
class MarkObservation:
    """One decoded fiducial mark.

    Attributes
    ----------
    index : int
        Lattice index carried by the mark's code.
    x_chip_m, y_chip_m : float
        Designed chip-frame centre (:meth:`MarkLayout.position_m`).
    x_stage_m, y_stage_m : float
        Where the stage sees that centre (from the cell fit).
    cells_chip : ndarray, shape (k, 2)
        Designed chip-frame centres of the filled cells.
    cells_stage : ndarray, shape (k, 2)
        Measured stage-frame centroids of the same cells (same order).
    fit : SimilarityFit
        Similarity fitted to this mark's cells alone.
    """

    index: int
    x_chip_m: float
    y_chip_m: float
    x_stage_m: float
    y_stage_m: float
    cells_chip: F64
    cells_stage: F64
    fit: SimilarityFit


def mark_scan_window(
    prior: Similarity2D, layout: MarkLayout, *, margin_m: float = 1.5e-6
) -> tuple[float, float, float]:
    """A square stage-frame window that always contains one whole mark.

    Any square of side ``pitch + 2·half_extent + margin`` placed anywhere on the mark
    lattice contains a complete mark, whatever the (small) rotation. Centred on the prior
    image of the chip centre. ``margin_m`` covers the lattice rotation (20 µm · sin 3° ≈
    1 µm) and the cut cells at the border. Returns ``(x_center_m, y_center_m, width_m)``.
    """
    check_positive("margin_m", margin_m)
    x, y = prior.apply(0.0, 0.0)
    width = layout.pitch_m + 2.0 * layout.half_extent_m + margin_m
    return float(x), float(y), width


def _cells(image: ScanImage, min_area_px: float, max_area_px: float) -> F64:
    """Intensity-weighted centroids ``(x, y)`` of the bright cells (stage frame)."""
    r = np.asarray(image.reflection, dtype=np.float64)
    base = float(np.median(r))
    bright = float(np.percentile(r, 99.9))
    if base <= 0.0 or bright < _MIN_CONTRAST * base:
        return np.zeros((0, 2))
    thr = 0.5 * (base + bright)
    labels, n = scipy.ndimage.label(r > thr)
    if n == 0:
        return np.zeros((0, 2))
    idx = np.arange(1, n + 1)
    w = np.maximum(r - base, 0.0)
    area = scipy.ndimage.sum_labels(np.ones_like(r), labels, idx)
    wsum = scipy.ndimage.sum_labels(w, labels, idx)
    ii, jj = np.indices(r.shape)
    ci = scipy.ndimage.sum_labels(w * ii, labels, idx) / wsum
    cj = scipy.ndimage.sum_labels(w * jj, labels, idx) / wsum
    # cells touching the border are cut: their centroid is biased
    edge = np.zeros(n + 1, dtype=bool)
    for border in (labels[0, :], labels[-1, :], labels[:, 0], labels[:, -1]):
        edge[border] = True
    ok = (area >= min_area_px) & (area <= max_area_px) & ~edge[1:]
    step = image.step_m
    x = image.x_m[0] + cj[ok] * step
    y = image.y_m[0] + ci[ok] * (image.y_m[1] - image.y_m[0] if image.y_m.size > 1 else step)
    return np.column_stack([x, y]).astype(np.float64)


def _groups(cells: F64, link_m: float) -> list[NDArray[np.int64]]:
    """Single-linkage groups of cells closer than ``link_m`` (union–find)."""
    n = cells.shape[0]
    parent = list(range(n))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in cKDTree(cells).query_pairs(link_m):
        parent[root(a)] = root(b)
    out: dict[int, list[int]] = {}
    for k in range(n):
        out.setdefault(root(k), []).append(k)
    return [np.array(v, dtype=np.int64) for v in out.values()]


def _rot(theta: float) -> F64:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def _decode_group(
    pts: F64, layout: MarkLayout, size_x_m: float, size_y_m: float
) -> MarkObservation | None:
    n = layout.cells
    p = layout.cell_pitch_m
    if pts.shape[0] < 3:
        return None
    # grid angle modulo 90° from nearest-neighbour directions
    # axis-aligned pairs lie at 1, 2 or 3 pitches (the anchors always give two at 3 p);
    # diagonal ones (√2, √5, √8, √10 p) are at least 0.16 p away from those
    pairs = []
    for a, b in cKDTree(pts).query_pairs((n - 0.9) * p):
        d = float(np.hypot(*(pts[b] - pts[a]))) / p
        if abs(d - round(d)) < 0.08:
            pairs.append((a, b))
    if not pairs:
        return None
    z = sum(cmath.exp(4j * math.atan2(*(pts[b] - pts[a])[::-1])) for a, b in pairs)
    phi = cmath.phase(z) / 4.0
    uv = pts @ _rot(phi)  # rows: R(−φ)·p
    lo = uv.min(axis=0)
    g = (uv - lo) / p
    gi = np.rint(g).astype(np.int64)
    if np.abs(g - gi).max() > 0.3 or gi.max(axis=0).tolist() != [n - 1, n - 1]:
        return None
    bits = np.zeros((n, n), dtype=np.bool_)
    if len({(int(a), int(b)) for a, b in gi}) != gi.shape[0]:
        return None
    bits[gi[:, 1], gi[:, 0]] = True
    index = decode_mark_bits(bits)
    if index is None:
        return None
    try:
        cx, cy = layout.position_m(index, size_x_m, size_y_m)
    except ParameterError:
        return None  # a code outside this chip's lattice: misread
    design = layout.cell_offsets_m(encode_mark_bits(index, n))
    if design.shape[0] != pts.shape[0]:
        return None
    centre_stage = _rot(phi) @ (lo + (n - 1) * p / 2.0)
    tree = cKDTree(pts)
    for k in range(4):
        pred = centre_stage + design @ _rot(phi + k * math.pi / 2).T
        d, j = tree.query(pred)
        if d.max() < 0.3 * p and len(set(j.tolist())) == pts.shape[0]:
            chip = design + np.array([cx, cy])
            stage = pts[j]
            fit = fit_similarity(chip, stage)
            xs, ys = fit.transform.apply(cx, cy)
            return MarkObservation(index, cx, cy, float(xs), float(ys), chip, stage, fit)
    return None


def find_marks(
    image: ScanImage, layout: MarkLayout, size_x_m: float, size_y_m: float
) -> list[MarkObservation]:
    """Find and decode every whole fiducial mark in a reflection scan.

    Parameters
    ----------
    image : ScanImage
        A raster scan with the surface in focus; the pixel step should be ≤ ¼ of the cell
        pitch (0.25 µm for the default 1 µm pitch) so that cells separate.
    layout : MarkLayout
        The fabricated mark design.
    size_x_m, size_y_m : float
        Designed chip size (the lattice of marks depends on it).

    Returns
    -------
    list of MarkObservation
        Decoded marks (parity-checked), sorted by index; empty when none is fully in view
        (blank scan, out of focus, edge of the chip).
    """
    check_positive("size_x_m", size_x_m)
    check_positive("size_y_m", size_y_m)
    step = image.step_m
    if step <= 0.0 or step > 0.4 * layout.cell_pitch_m:
        raise ParameterError("image.step_m", step, "must be in (0, 0.4 cell pitch]")
    cell_area_px = (layout.cell_size_m / step) ** 2
    cells = _cells(image, 0.3 * cell_area_px, 3.0 * cell_area_px)
    if cells.shape[0] < 3:
        return []
    out = []
    for grp in _groups(cells, 3.2 * layout.cell_pitch_m):
        obs = _decode_group(cells[grp], layout, size_x_m, size_y_m)
        if obs is not None:
            out.append(obs)
    return sorted(out, key=lambda m: m.index)


def focus_surface(
    scanner: Scanner,
    x_m: float,
    y_m: float,
    z_center_m: float,
    *,
    span_m: float = 6e-6,
    n_steps: int = 31,
    width_m: float = 2e-6,
    dwell_s: float = 1e-4,
) -> float:
    """Stage z that focuses on the chip surface, from the reflection channel.

    The reflected signal of a plane peaks when the focus is on it (the axial response at
    2z, Gaussian near the peak: docs/twin/chip-optics-stage.md); a sweep of small 4 × 4
    pixel scans over ``z_center_m ± span_m/2`` and a 3-point parabola through the
    logarithm of the mean signal around the maximum (exact for a Gaussian response) give
    the surface. Costs ≈ ``n_steps × (16·dwell_s + moves)``.
    """
    check_positive("span_m", span_m)
    check_positive("width_m", width_m)
    if n_steps < 3:
        raise ParameterError("n_steps", n_steps, "must be >= 3")
    zs = z_center_m + np.linspace(-span_m / 2, span_m / 2, n_steps)
    sig = np.array(
        [
            float(np.mean(scanner.raster_scan(x_m, y_m, width_m, width_m, width_m / 4, dwell_s,
                                              z_m=float(z)).reflection))
            for z in zs
        ]
    )  # fmt: skip
    k = int(np.argmax(sig))
    if 0 < k < n_steps - 1 and np.all(sig[k - 1 : k + 2] > 0):
        lm, l0, lp = np.log(sig[k - 1 : k + 2])
        den = lm - 2.0 * l0 + lp
        if den < 0:
            return float(zs[k] + 0.5 * (lm - lp) / den * (zs[1] - zs[0]))
    return float(zs[k])


def _sweep(
    scanner: Scanner, x_m: float, y_m: float, zs: F64, width_m: float, dwell_s: float
) -> F64:
    return np.array(
        [
            float(np.mean(scanner.raster_scan(x_m, y_m, width_m, width_m, width_m / 4, dwell_s,
                                              z_m=float(z)).reflection))
            for z in zs
        ]
    )  # fmt: skip


def search_surface(
    scanner: Scanner,
    x_m: float,
    y_m: float,
    z_center_m: float,
    z_range_m: tuple[float, float],
    *,
    span_m: float = 44e-6,
    n_steps: int = 45,
    min_snr: float = 30.0,
    width_m: float = 2e-6,
    dwell_s: float = 1e-4,
) -> float | None:
    """Find the surface by coarse reflection sweeps moving outward from ``z_center_m``.

    A single coarse sweep misses the surface when the focus offset after a power cycle
    exceeds its half span (unreferenced homing: up to ±20 µm per cycle about the mount, so
    up to 40 µm between two cycles). Sweeps of ``span_m`` are taken at ``z_center_m``,
    then alternately above and below (a second and further search ring), clipped to
    ``z_range_m``, until the maximum of all samples so far is (a) significant — at least
    ``min_snr`` robust standard deviations (1.4826 × MAD, Hampel 1974) above the median of
    the samples, the reflection peak of a surface being ~10⁴ times the off-focus noise —
    and (b) bracketed by samples on both sides. Then :func:`focus_surface` refines it with a
    3 µm fine sweep. Returns ``None`` when the whole range holds no significant peak.
    """
    check_positive("span_m", span_m)
    lo, hi = float(z_range_m[0]), float(z_range_m[1])
    if not lo < hi:
        raise ParameterError("z_range_m", z_range_m, "must be (low, high) with low < high")
    if n_steps < 3:
        raise ParameterError("n_steps", n_steps, "must be >= 3")
    step = span_m / (n_steps - 1)
    zs_all: list[float] = []
    sig_all: list[float] = []
    pitch = span_m + step
    n_ring = math.ceil((hi - lo) / pitch) + 1
    for m in [0] + [s * r for r in range(1, n_ring + 1) for s in (1, -1)]:
        a = max(lo, z_center_m + m * pitch - span_m / 2)
        b = min(hi, z_center_m + m * pitch + span_m / 2)
        if b - a < 2 * step:
            continue  # this window lies beyond the travel
        zs = np.linspace(a, b, max(3, round((b - a) / step) + 1))
        zs_all.extend(zs.tolist())
        sig_all.extend(_sweep(scanner, x_m, y_m, zs, width_m, dwell_s).tolist())
        order = np.argsort(zs_all)
        z_sorted = np.asarray(zs_all)[order]
        s_sorted = np.asarray(sig_all)[order]
        med = float(np.median(s_sorted))
        noise = 1.4826 * float(np.median(np.abs(s_sorted - med))) + 1e-12
        j = int(np.argmax(s_sorted))
        bracketed = (
            0 < j < s_sorted.size - 1
            or (j == 0 and z_sorted[0] <= lo + step)
            or (j == s_sorted.size - 1 and z_sorted[-1] >= hi - step)
        )
        if s_sorted[j] - med >= min_snr * noise and bracketed:
            zc = min(max(float(z_sorted[j]), lo + 1.5e-6), hi - 1.5e-6)
            return focus_surface(scanner, x_m, y_m, zc, span_m=3e-6, n_steps=31)
    return None


def locate_marks(
    scanner: Scanner,
    prior: Similarity2D,
    layout: MarkLayout,
    size_x_m: float,
    size_y_m: float,
    z_m: float,
    *,
    step_m: float = 0.15e-6,
    dwell_s: float = 5e-5,
    ring: bool = True,
) -> list[MarkObservation]:
    """Scan for marks around the prior image of the chip centre; widen the search if needed.

    First a square of twice :func:`mark_scan_window`'s width (which always holds a whole
    mark) centred on the prior; when no mark decodes there (dust, a defective mark, a
    prior off by more than expected), the eight neighbouring squares of the same size —
    a second search ring, 3× the reach — are scanned one after another until marks decode.
    Returns the decoded marks of the first scan that has any (empty if none).
    """
    x, y, w = mark_scan_window(prior, layout)
    offsets = [(0, 0)]
    if ring:
        offsets += [(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0)]
    for i, j in offsets:
        img = scanner.raster_scan(x + 2 * w * i, y + 2 * w * j, 2 * w, 2 * w, step_m, dwell_s,
                                  z_m=z_m)  # fmt: skip
        marks = find_marks(img, layout, size_x_m, size_y_m)
        if marks:
            return marks
    return []
