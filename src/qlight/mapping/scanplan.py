"""Tiled wide-field raster scans (PL + reflection) with overlap, stitched into one mosaic.

A :class:`TilePlan` covers a stage-frame rectangle with square tiles on **one global pixel
grid** (pitch ``step_m``): every tile's pixel centres are nodes of that grid, so stitching is
exact placement, no resampling. Neighbouring tiles overlap by ``overlap_px`` pixels (so that
spots on a tile edge are fully inside one tile); in the overlap the mosaic keeps the pixel of
the tile whose centre is nearer (Poisson counts are never averaged, which would break their
statistics). Tiles run in a serpentine order (fewer long moves). Progress is reported per
scan line over the whole plan, and a cancel token stops it between lines
(:class:`~qlight.instruments.protocols.OperationCancelled`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight._validation import check_finite, check_positive
from qlight.errors import ParameterError
from qlight.instruments.protocols import CancelToken, ProgressCallback, Scanner

__all__ = ["Mosaic", "Tile", "TilePlan", "plan_tiles", "run_tiled_scan"]


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile: its first global pixel index and size in pixels."""

    col0: int
    row0: int
    nx: int
    ny: int


@dataclass(frozen=True, slots=True)
class TilePlan:
    """Tiles on a global grid ``x = x0_m + col·step_m``, ``y = y0_m + row·step_m``."""

    x0_m: float
    y0_m: float
    step_m: float
    nx: int
    ny: int
    tiles: tuple[Tile, ...]

    def tile_center_m(self, tile: Tile) -> tuple[float, float]:
        """Stage-frame centre to command for ``tile`` (pixel centres land on the grid)."""
        return (
            self.x0_m + (tile.col0 + (tile.nx - 1) / 2) * self.step_m,
            self.y0_m + (tile.row0 + (tile.ny - 1) / 2) * self.step_m,
        )

    @property
    def n_lines(self) -> int:
        """Scan lines of the whole plan (the progress unit)."""
        return sum(t.ny for t in self.tiles)


def _starts(n: int, tile: int, overlap: int) -> list[int]:
    if n <= tile:
        return [0]
    stride = tile - overlap
    k = math.ceil((n - tile) / stride)
    return [min(i * stride, n - tile) for i in range(k + 1)]


def plan_tiles(
    x_min_m: float,
    x_max_m: float,
    y_min_m: float,
    y_max_m: float,
    *,
    step_m: float,
    tile_m: float = 20e-6,
    overlap_m: float = 1e-6,
) -> TilePlan:
    """Cover ``[x_min, x_max] × [y_min, y_max]`` (stage frame) with overlapping tiles.

    Parameters
    ----------
    x_min_m, x_max_m, y_min_m, y_max_m : float
        Region to cover (``max > min``).
    step_m : float
        Pixel pitch.
    tile_m : float
        Tile side (rounded to whole pixels; at least 8 pixels).
    overlap_m : float
        Overlap of neighbouring tiles (rounded up to whole pixels, less than half a tile).

    Examples
    --------
    >>> p = plan_tiles(0.0, 10e-6, 0.0, 5e-6, step_m=100e-9, tile_m=5e-6, overlap_m=0.5e-6)
    >>> len(p.tiles), p.nx, p.ny
    (6, 101, 51)
    """
    x_lo, x_hi = check_finite("x_min_m", x_min_m), check_finite("x_max_m", x_max_m)
    y_lo, y_hi = check_finite("y_min_m", y_min_m), check_finite("y_max_m", y_max_m)
    if x_hi <= x_lo:
        raise ParameterError("x_max_m", x_max_m, "must be > x_min_m")
    if y_hi <= y_lo:
        raise ParameterError("y_max_m", y_max_m, "must be > y_min_m")
    step = check_positive("step_m", step_m)
    tile = round(check_positive("tile_m", tile_m) / step)
    if tile < 8:
        raise ParameterError("tile_m", tile_m, "must span at least 8 pixels")
    overlap = math.ceil(check_finite("overlap_m", overlap_m) / step - 1e-9)
    if overlap < 0 or 2 * overlap >= tile:
        raise ParameterError("overlap_m", overlap_m, "must be >= 0 and < tile_m/2")
    nx = math.floor((x_hi - x_lo) / step + 1e-9) + 1
    ny = math.floor((y_hi - y_lo) / step + 1e-9) + 1
    tx, ty = min(tile, nx), min(tile, ny)
    cols, rows = _starts(nx, tx, overlap), _starts(ny, ty, overlap)
    tiles: list[Tile] = []
    for r_i, r in enumerate(rows):
        order = cols if r_i % 2 == 0 else cols[::-1]
        tiles.extend(Tile(c, r, tx, ty) for c in order)
    return TilePlan(x_lo, y_lo, step, nx, ny, tuple(tiles))


@dataclass(frozen=True, slots=True)
class Mosaic:
    """A stitched stage-frame mosaic (same conventions as ``ScanImage``).

    ``tile_index[i, j]`` is the tile that supplied pixel ``(i, j)``; ``t_s[i, j]`` the clock
    time of that pixel's line start (for drift-aware downstream use).
    """

    pl_counts: NDArray[np.int64]
    reflection: NDArray[np.float64]
    x_m: NDArray[np.float64]
    y_m: NDArray[np.float64]
    dwell_s: float
    z_m: float
    tile_index: NDArray[np.int64]
    t_s: NDArray[np.float64]


def run_tiled_scan(
    scanner: Scanner,
    plan: TilePlan,
    *,
    dwell_s: float,
    z_m: float | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Mosaic:
    """Scan every tile of ``plan`` and stitch the mosaic.

    ``progress(done_lines, total_lines)`` counts lines over the whole plan; a set ``cancel``
    raises :class:`~qlight.instruments.protocols.OperationCancelled` (from the scanner)
    between lines.
    """
    dwell = check_positive("dwell_s", dwell_s)
    pl = np.zeros((plan.ny, plan.nx), dtype=np.int64)
    refl = np.zeros((plan.ny, plan.nx), dtype=np.float64)
    owner = np.full((plan.ny, plan.nx), -1, dtype=np.int64)
    dist = np.full((plan.ny, plan.nx), np.inf)
    t_line = np.zeros((plan.ny, plan.nx), dtype=np.float64)
    total, done = plan.n_lines, 0
    z_used = math.nan
    for idx, tile in enumerate(plan.tiles):
        base = done

        def tile_progress(d: int, _t: int, base: int = base) -> None:
            if progress is not None:
                progress(base + d, total)

        cx, cy = plan.tile_center_m(tile)
        img = scanner.raster_scan(
            cx,
            cy,
            tile.nx * plan.step_m,
            tile.ny * plan.step_m,
            plan.step_m,
            dwell,
            z_m=z_m,
            progress=tile_progress,
            cancel=cancel,
        )
        z_used = img.z_m
        if img.shape != (tile.ny, tile.nx):
            raise ParameterError("plan", img.shape, f"scanner returned a tile of {img.shape}")
        rs = slice(tile.row0, tile.row0 + tile.ny)
        cs = slice(tile.col0, tile.col0 + tile.nx)
        rr = np.arange(tile.ny)[:, None] - (tile.ny - 1) / 2
        cc = np.arange(tile.nx)[None, :] - (tile.nx - 1) / 2
        d = np.maximum(np.abs(rr), np.abs(cc))
        better = d < dist[rs, cs]
        pl[rs, cs][better] = img.pl_counts[better]
        refl[rs, cs][better] = img.reflection[better]
        owner[rs, cs][better] = idx
        t_line[rs, cs][better] = np.broadcast_to(img.line_start_s[:, None], better.shape)[better]
        dist[rs, cs][better] = d[better]
        done += tile.ny
    x = plan.x0_m + np.arange(plan.nx, dtype=np.float64) * plan.step_m
    y = plan.y0_m + np.arange(plan.ny, dtype=np.float64) * plan.step_m
    return Mosaic(pl, refl, x, y, dwell, z_used, owner, t_line)
