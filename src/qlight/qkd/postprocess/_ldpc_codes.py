"""LDPC parity-check matrices by progressive edge growth with BSC-optimised degree profiles.

Construction: progressive edge growth (PEG; Hu, Eleftheriou, Arnold, "Regular and irregular
progressive edge-growth Tanner graphs", IEEE Trans. Inf. Theory 51, 386 (2005), Sec. III,
Algorithm "PEG"): variable nodes are processed in order of increasing degree; the first edge
of a node goes to a check of lowest current degree, every further edge to the check *farthest*
from the node in the current graph (a check not reached by a breadth-first expansion of the
node's neighbourhood, or, if all checks are reached, one first reached at the last depth),
ties broken by lowest current check degree, then by a public pseudo-random order. Checks end
up with concentrated degrees (lowest degree first). A new edge to a check not reached after
``D`` expansions closes no cycle shorter than ``2D + 4``, so with ``D >= 1`` the graph has
no 4-cycles unless the neighbourhood of a node already covers every check after one
expansion (only for tiny or very dense codes).

Simplification (stated in docs/qkd-privacy-amplification.md, LDPC section): the expansion
depth is capped at ``max_depth`` (default 1: no 4-cycles, girth >= 6, longer cycles not
maximised) so that 2^14-bit codes build in ≈ 0.3 s and 2^16-bit ones in ≈ 1.5 s; depth 2
took 5–8 s at 2^14 for no measurable FER gain. Hu et al. expand without a cap.

Variable-degree profiles (edge perspective, ``λ(x) = Σ λ_i x^{i−1}``): Elkouss, Leverrier,
Alléaume, Boutros, "Efficient reconciliation protocol for discrete-variable quantum key
distribution", Proc. IEEE ISIT 2009, 1879 (arXiv:0901.2140), Table I, optimised for the BSC
by differential evolution with discretised density evolution; see :data:`LAMBDA`. Their
check profiles are (nearly) concentrated on two consecutive degrees; here the check degrees
are concentrated on ``⌊E/m⌋, ⌈E/m⌉`` by PEG's lowest-degree rule, which gives the same
design rate ``1 − m/n``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT
from qlight.errors import ParameterError

__all__ = ["LAMBDA", "degree_profile", "peg_code", "peg_matrix", "variable_degrees"]

#: Edge-perspective variable-degree distributions ``{rate: ((degree i, λ_i), ...)}`` of
#: Elkouss et al. (ISIT 2009), Table I (coefficient of ``x^{i−1}`` is ``λ_i``). Thresholds
#: (BSC crossover) 0.0109, 0.0199, 0.0298, 0.0392, 0.0504, 0.0633, 0.0766, 0.0904, 0.1071
#: for rates 0.90 … 0.50. The 0.85 row as printed sums to 1.05; it is renormalised.
LAMBDA: dict[float, tuple[tuple[int, float], ...]] = {
    0.90: ((2, 0.07689), (3, 0.28096), (5, 0.08933), (9, 0.19620), (12, 0.30631), (21, 0.05031)),
    0.85: (
        (2, 0.04528), (3, 0.20537), (4, 0.05878), (5, 0.094274), (6, 0.08454), (7, 0.01176),
        (9, 0.05137), (21, 0.50015),
    ),
    0.80: (
        (2, 0.09420), (3, 0.18088), (6, 0.11972), (7, 0.08550), (8, 0.09816), (17, 0.07194),
        (26, 0.34960),
    ),
    0.75: (
        (2, 0.10805), (3, 0.09511), (4, 0.01449), (5, 0.13764), (6, 0.10667), (7, 0.05288),
        (28, 0.01107), (31, 0.47408),
    ),
    0.70: (
        (2, 0.05343), (3, 0.29406), (6, 0.00896), (9, 0.15571), (12, 0.12189), (25, 0.19872),
        (46, 0.09572), (62, 0.02741), (65, 0.04056), (73, 0.00354),
    ),
    0.65: (
        (2, 0.10451), (3, 0.15652), (4, 0.08057), (5, 0.00056), (9, 0.12151), (13, 0.10485),
        (15, 0.10719), (21, 0.00771), (51, 0.31656),
    ),
    0.60: (
        (2, 0.11040), (3, 0.20804), (8, 0.14163), (9, 0.14858), (26, 0.14438), (27, 0.08909),
        (46, 0.00748), (71, 0.15038),
    ),
    0.55: (
        (2, 0.16880), (3, 0.20994), (6, 0.18095), (15, 0.03846), (16, 0.02635), (18, 0.23454),
        (19, 0.05815), (31, 0.08280),
    ),
    0.50: (
        (2, 0.14438), (3, 0.19026), (4, 0.01836), (5, 0.00233), (6, 0.04697), (8, 0.053943),
        (9, 0.05590), (10, 0.01290), (11, 0.00162), (14, 0.06159), (15, 0.13115),
        (17, 0.01481), (47, 0.00879), (49, 0.00650), (55, 0.00210), (56, 0.00099),
        (57, 0.11178), (58, 0.06238), (59, 0.05094), (66, 0.02230),
    ),
}  # fmt: skip

_PEG_SEED = 20_260_127  # the codes are public and fixed: both parties build the same ones


def degree_profile(rate: float) -> tuple[tuple[int, float], ...]:
    """The λ profile used for a mother rate: the tabulated rate closest to ``rate``.

    Rates below 0.5 (not in Table I) use the rate-0.5 profile with more checks; this profile
    is not optimised for them.
    """
    best = min(LAMBDA, key=lambda r: (abs(r - rate), r))
    return LAMBDA[best]


def variable_degrees(profile: tuple[tuple[int, float], ...], n: int) -> NDArray[np.int64]:
    """Node degrees (ascending) of ``n`` variables from an edge-perspective profile.

    Node fractions ``L_i = (λ_i / i) / Σ_j (λ_j / j)`` (Richardson & Urbanke, *Modern Coding
    Theory*, Eq. (3.17)); counts rounded by largest remainder so that they sum to ``n``.
    """
    deg = np.array([d for d, _ in profile], dtype=np.int64)
    lam = np.array([w for _, w in profile], dtype=np.float64)
    node = (lam / deg) / np.sum(lam / deg)
    raw = node * n
    counts = np.floor(raw).astype(np.int64)
    short = n - int(counts.sum())
    counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return np.repeat(deg, counts)


@njit(**JIT)  # type: ignore[untyped-decorator]
def _pick_min(
    deg: NDArray[np.int64],
    cap: int,
    stamp: NDArray[np.int64],
    st: int,
    want_stamp: bool,
    cand: NDArray[np.int64],
    n_cand: int,
    start: int,
    floor_deg: int,
) -> int:
    """Lowest-degree check among ``cand[:n_cand]`` (scanned cyclically from ``start``) whose
    stamp is (``want_stamp``) or is not (not ``want_stamp``) ``st``; stops early at
    ``floor_deg``. Returns -1 if none has room."""
    best = -1
    best_deg = cap
    for t in range(n_cand):
        c = cand[(start + t) % n_cand]
        if (stamp[c] == st) != want_stamp:
            continue
        if deg[c] < best_deg:
            best = c
            best_deg = deg[c]
            if best_deg <= floor_deg:
                break
    return best


@njit(**JIT)  # type: ignore[untyped-decorator]
def _peg_kernel(
    var_deg: NDArray[np.int64],
    m: int,
    cap: int,
    max_depth: int,
    order: NDArray[np.int64],
    starts: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    n = var_deg.size
    e_total = int(var_deg.sum())
    var_ptr = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        var_ptr[j + 1] = var_ptr[j] + var_deg[j]
    var_adj = np.full(e_total, -1, dtype=np.int64)
    var_cnt = np.zeros(n, dtype=np.int64)
    chk_adj = np.full((m, cap), -1, dtype=np.int64)
    chk_deg = np.zeros(m, dtype=np.int64)
    deg_count = np.zeros(cap + 1, dtype=np.int64)
    deg_count[0] = m
    gmin = 0
    stamp_c = np.zeros(m, dtype=np.int64)
    stamp_v = np.zeros(n, dtype=np.int64)
    front = np.empty(m, dtype=np.int64)
    nxt = np.empty(m, dtype=np.int64)
    st = 0
    e = 0
    for j in range(n):
        for _k in range(var_deg[j]):
            st += 1
            nf = 0
            for t in range(var_cnt[j]):
                c = var_adj[var_ptr[j] + t]
                stamp_c[c] = st
                front[nf] = c
                nf += 1
            stamp_v[j] = st
            reached = nf
            saturated = False
            nn = 0
            depth = 0
            while nf > 0 and depth < max_depth:
                nn = 0
                for a in range(nf):
                    c = front[a]
                    for b in range(chk_deg[c]):
                        v = chk_adj[c, b]
                        if stamp_v[v] == st:
                            continue
                        stamp_v[v] = st
                        for t in range(var_cnt[v]):
                            c2 = var_adj[var_ptr[v] + t]
                            if stamp_c[c2] != st:
                                stamp_c[c2] = st
                                nxt[nn] = c2
                                nn += 1
                if nn == 0:
                    break
                if reached + nn >= m:
                    saturated = True
                    break
                reached += nn
                for a in range(nn):
                    front[a] = nxt[a]
                nf = nn
                depth += 1
            while deg_count[gmin] == 0:
                gmin += 1
            s0 = starts[e]
            c = -1
            if saturated:  # all checks reached: pick among the last layer (the farthest)
                c = _pick_min(chk_deg, cap, stamp_c, st, True, nxt, nn, s0 % nn, gmin)
            else:
                c = _pick_min(chk_deg, cap, stamp_c, st, False, order, m, s0 % m, gmin)
            if c < 0:  # every candidate full: any check with room not yet adjacent
                st += 1
                for t in range(var_cnt[j]):
                    stamp_c[var_adj[var_ptr[j] + t]] = st
                c = _pick_min(chk_deg, cap, stamp_c, st, False, order, m, s0 % m, gmin)
                if c < 0:
                    break
            var_adj[var_ptr[j] + var_cnt[j]] = c
            var_cnt[j] += 1
            chk_adj[c, chk_deg[c]] = j
            deg_count[chk_deg[c]] -= 1
            chk_deg[c] += 1
            deg_count[chk_deg[c]] += 1
            e += 1
    rows = np.empty(e, dtype=np.int64)
    cols = np.empty(e, dtype=np.int64)
    k = 0
    for j in range(n):
        for t in range(var_cnt[j]):
            rows[k] = var_adj[var_ptr[j] + t]
            cols[k] = j
            k += 1
    return rows, cols


def peg_matrix(
    var_deg: NDArray[np.int64], m: int, seed: int = _PEG_SEED, max_depth: int = 1
) -> sp.csr_matrix:
    """PEG parity-check matrix (``m × n``) with the given variable degrees.

    Parameters
    ----------
    var_deg : ndarray of int
        Degree of each variable node (>= 1, <= ``m``); processed in ascending order, and
        column ``j`` of the result is the ``j``-th node of that order.
    m : int
        Number of checks.
    seed : int
        Seed of the public tie-breaking order (same seed -> same matrix).
    max_depth : int
        Cap on the breadth-first expansions per edge (>= 1 excludes 4-cycles, see module).
    """
    var_deg = np.sort(np.ascontiguousarray(var_deg, dtype=np.int64))
    if var_deg.size == 0 or var_deg[0] < 1:
        raise ParameterError("var_deg", var_deg.size, "must be non-empty with degrees >= 1")
    if isinstance(m, bool) or not isinstance(m, int) or not m >= 2:
        raise ParameterError("m", m, "must be an integer >= 2")
    if int(var_deg[-1]) > m:
        raise ParameterError("var_deg", int(var_deg[-1]), f"must be <= m = {m}")
    if max_depth < 0:
        raise ParameterError("max_depth", max_depth, "must be >= 0")
    e_total = int(var_deg.sum())
    cap = -(-e_total // m) + 2
    rng = np.random.default_rng(seed)
    order = rng.permutation(m).astype(np.int64)
    starts = rng.integers(0, 1 << 40, e_total, dtype=np.int64)
    rows, cols = _peg_kernel(var_deg, m, cap, max_depth, order, starts)
    h = sp.csr_matrix((np.ones(rows.size, dtype=np.uint8), (rows, cols)), shape=(m, var_deg.size))
    h.sort_indices()
    return h


@lru_cache(maxsize=32)
def peg_code(rate: float, n: int, max_depth: int = 1) -> sp.csr_matrix:
    """PEG code of rate ``rate`` (``m = round((1 − rate) n)`` checks) and length ``n`` with the
    Elkouss et al. (2009) profile of the nearest tabulated rate (see :func:`degree_profile`);
    public and deterministic, cached in memory. Columns are in a public pseudo-random order
    (so that punctured and shortened positions mix all degrees)."""
    if not 0.0 < rate < 1.0:
        raise ParameterError("rate", rate, "must be in (0, 1)")
    if isinstance(n, bool) or not isinstance(n, int) or n < 64:
        raise ParameterError("n", n, "must be an integer >= 64")
    m = round((1.0 - rate) * n)
    deg = np.minimum(variable_degrees(degree_profile(rate), n), m)
    seed = _PEG_SEED + n + round(rate * 1000)
    h = peg_matrix(deg, m, seed, max_depth)
    perm = np.random.default_rng(seed + 1).permutation(n)
    out: sp.csr_matrix = h[:, perm].tocsr()
    out.sort_indices()
    return out
