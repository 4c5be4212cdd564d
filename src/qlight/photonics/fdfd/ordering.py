"""Geometric nested-dissection ordering of the (r, z) FDFD unknowns.

Nested dissection (George, SIAM J. Numer. Anal. 10, 345 (1973); Davis, *Direct Methods for
Sparse Linear Systems*, SIAM 2006, §7.6): split the unknowns by a line through the median
coordinate along the longer extent of the box, take as separator the unknowns of one half
that are coupled to the other half (a vertex separator of the matrix graph, whatever the
stencil), order each half recursively and the separator last. On a 2-D grid of N nodes this
gives O(N log N) fill and O(N^1.5) factorisation work, against the larger fill that local
(minimum-degree) heuristics can reach on long thin domains.

The coordinates of the kept E unknowns come from the staggered grid (:mod:`.grid`): E_r at
(i+½, j), E_φ at (i, j), E_z at (i, j+½), in cells.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from qlight.errors import ParameterError
from qlight.photonics.fdfd.grid import BorGrid

__all__ = ["grid_coordinates", "nested_dissection"]

F64 = NDArray[np.float64]


def grid_coordinates(grid: BorGrid, keep: NDArray[np.intp]) -> F64:
    """(n, 2) positions (r, z) in cells of the kept E unknowns (order of ``keep``)."""
    nr, nz = grid.nr, grid.nz
    parts = []
    for (rows, cols), (dr, dz) in (
        ((nr, nz + 1), (0.5, 0.0)),
        ((nr + 1, nz + 1), (0.0, 0.0)),
        ((nr + 1, nz), (0.0, 0.5)),
    ):
        i, j = np.meshgrid(np.arange(rows) + dr, np.arange(cols) + dz, indexing="ij")
        parts.append(np.column_stack([i.ravel(), j.ravel()]))
    return np.asarray(np.concatenate(parts)[keep], dtype=np.float64)


def nested_dissection(
    matrix: sp.spmatrix | sp.sparray, coords: F64, leaf_size: int = 64
) -> NDArray[np.intp]:
    """Fill-reducing permutation ``p`` (factorise ``A[p][:, p]``) by geometric dissection.

    Parameters
    ----------
    matrix
        Square sparse matrix; its pattern (made symmetric) is the graph.
    coords
        (n, 2) coordinates of the unknowns.
    leaf_size
        Sets of at most this many unknowns are not split further.
    """
    n = matrix.shape[0]
    if matrix.shape != (n, n):
        raise ParameterError("matrix", matrix.shape, "must be square")
    xy = np.asarray(coords, dtype=np.float64)
    if xy.shape != (n, 2):
        raise ParameterError("coords", xy.shape, f"must be ({n}, 2)")
    if leaf_size < 1:
        raise ParameterError("leaf_size", leaf_size, "must be >= 1")
    a = sp.csr_matrix(matrix)
    pattern = sp.csr_matrix((np.ones(a.indices.size), a.indices, a.indptr), shape=(n, n))
    graph = (pattern + pattern.T).tocsr()
    mark = np.zeros(n, dtype=np.float64)
    out: list[NDArray[np.intp]] = []

    def order(idx: NDArray[np.intp]) -> None:
        if idx.size <= leaf_size:
            out.append(idx)
            return
        pts = xy[idx]
        extent = pts.max(axis=0) - pts.min(axis=0)
        axis = int(np.argmax(extent))
        c = pts[:, axis]
        split = float(np.median(c))
        left = idx[c < split]
        right = idx[c >= split]
        if left.size == 0 or right.size == 0:
            out.append(idx)
            return
        mark[left] = 1.0
        touches = (graph[right] @ mark) > 0.0
        mark[left] = 0.0
        order(left)
        order(right[~touches])
        out.append(right[touches])

    order(np.arange(n, dtype=np.intp))
    perm = np.concatenate(out).astype(np.intp)
    return perm
