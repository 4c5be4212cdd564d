"""Design of the fabricated fiducial marks: lattice layout and the binary code each carries.

This is fabrication knowledge (the lithography layout), not ground truth of one sample: the
mapping layer may use it to decode a mark seen in the reflection channel into its chip-frame
position. A sample's actual marks live in :class:`qlight.physics.chip.Chip`.

Each mark is an ``n × n`` grid of square metal cells. Three corners are always filled and
the fourth, ``(row n−1, col n−1)``, always empty: they fix the orientation (any multiple of
90°) like the finder patterns of a QR code (ISO/IEC 18004). The other ``n² − 4`` cells carry
bits in row-major order (row 0 at the lowest y, column 0 at the lowest x): ``n² − 5`` data
bits of the mark's lattice index (least significant first) and one even-parity bit.
The lattice index of the mark in row ``r`` and column ``c`` is ``r · n_cols + c``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight._validation import check_positive
from qlight.errors import ParameterError

__all__ = ["MarkLayout", "decode_mark_bits", "encode_mark_bits"]


@dataclass(frozen=True, slots=True)
class MarkLayout:
    """Lattice and sub-feature geometry of the fiducial marks (defaults are *estimates*).

    Parameters
    ----------
    pitch_m : float
        Lattice pitch of the marks (20 µm).
    margin_m : float
        Distance from the chip edge to the first mark centre (10 µm).
    cells : int
        The code grid is ``cells × cells`` (4: 11 data bits, up to 2048 marks).
    cell_pitch_m, cell_size_m : float
        Centre-to-centre spacing and side of the square cells (1.0 and 0.6 µm: well above
        the ≈ 0.3 µm confocal resolution at 532 nm, NA 0.9).
    """

    pitch_m: float = 20e-6
    margin_m: float = 10e-6
    cells: int = 4
    cell_pitch_m: float = 1.0e-6
    cell_size_m: float = 0.6e-6

    def __post_init__(self) -> None:
        check_positive("pitch_m", self.pitch_m)
        check_positive("margin_m", self.margin_m)
        check_positive("cell_pitch_m", self.cell_pitch_m)
        check_positive("cell_size_m", self.cell_size_m)
        if isinstance(self.cells, bool) or not isinstance(self.cells, int) or self.cells < 3:
            raise ParameterError("cells", self.cells, "must be an integer >= 3")
        if self.cell_size_m > self.cell_pitch_m:
            raise ParameterError("cell_size_m", self.cell_size_m, "must be <= cell_pitch_m")
        if self.half_extent_m >= self.pitch_m / 2:
            raise ParameterError("pitch_m", self.pitch_m, "must exceed the mark size")

    @property
    def data_bits(self) -> int:
        """Number of data bits per mark (``cells² − 5``)."""
        return self.cells * self.cells - 5

    @property
    def capacity(self) -> int:
        """Number of distinct lattice indices a mark can carry."""
        return 1 << self.data_bits

    @property
    def half_extent_m(self) -> float:
        """Half the side of the square a mark covers."""
        return ((self.cells - 1) * self.cell_pitch_m + self.cell_size_m) / 2

    def grid_shape(self, size_x_m: float, size_y_m: float) -> tuple[int, int]:
        """``(n_rows, n_cols)`` of the lattice on a chip of the given size."""
        n_cols = math.floor((size_x_m - 2 * self.margin_m) / self.pitch_m + 1e-9) + 1
        n_rows = math.floor((size_y_m - 2 * self.margin_m) / self.pitch_m + 1e-9) + 1
        if n_cols < 1 or n_rows < 1:
            raise ParameterError("margin_m", self.margin_m, "leaves no room for marks")
        return n_rows, n_cols

    def position_m(self, index: int, size_x_m: float, size_y_m: float) -> tuple[float, float]:
        """Chip-frame centre of the mark with lattice ``index`` (chip origin at its centre)."""
        n_rows, n_cols = self.grid_shape(size_x_m, size_y_m)
        if not 0 <= index < n_rows * n_cols:
            raise ParameterError("index", index, f"must be in [0, {n_rows * n_cols})")
        row, col = divmod(index, n_cols)
        return (
            -size_x_m / 2 + self.margin_m + col * self.pitch_m,
            -size_y_m / 2 + self.margin_m + row * self.pitch_m,
        )

    def cell_offsets_m(self, bits: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Centres ``(dx, dy)`` of the filled cells relative to the mark centre, shape (k, 2)."""
        rows, cols = np.nonzero(bits)
        half = (self.cells - 1) / 2
        return np.column_stack(
            [(cols - half) * self.cell_pitch_m, (rows - half) * self.cell_pitch_m]
        ).astype(np.float64)


def _bit_cells(n: int) -> list[tuple[int, int]]:
    corners = {(0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)}
    return [(r, c) for r in range(n) for c in range(n) if (r, c) not in corners]


def encode_mark_bits(code: int, cells: int = 4) -> NDArray[np.bool_]:
    """The ``cells × cells`` filled-cell pattern (``[row, col]``, row 0 lowest y) of ``code``."""
    n_data = cells * cells - 5
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < (1 << n_data):
        raise ParameterError("code", code, f"must be an integer in [0, {1 << n_data})")
    bits = np.zeros((cells, cells), dtype=np.bool_)
    bits[0, 0] = bits[0, cells - 1] = bits[cells - 1, 0] = True
    data = [(code >> k) & 1 for k in range(n_data)]
    data.append(sum(data) % 2)
    for (r, c), b in zip(_bit_cells(cells), data, strict=True):
        bits[r, c] = bool(b)
    return bits


def decode_mark_bits(bits: ArrayLike) -> int | None:
    """Decode a filled-cell pattern into its lattice index, in any of the 4 orientations.

    Returns ``None`` when no orientation shows the three anchors and the empty corner, or the
    parity fails (a misread mark).
    """
    b = np.asarray(bits, dtype=np.bool_)
    if b.ndim != 2 or b.shape[0] != b.shape[1] or b.shape[0] < 3:
        raise ParameterError("bits", b.shape, "must be a square grid of at least 3 × 3")
    n = b.shape[0]
    for k in range(4):
        g = np.rot90(b, k)
        if not (g[0, 0] and g[0, n - 1] and g[n - 1, 0]) or g[n - 1, n - 1]:
            continue
        vals = [int(g[r, c]) for r, c in _bit_cells(n)]
        if sum(vals) % 2 != 0:
            return None
        return sum(v << i for i, v in enumerate(vals[:-1]))
    return None
