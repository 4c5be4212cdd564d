"""Numba kernels of the exact CW photon generator (renewal process over detected photons).

The algorithm is described in :mod:`qlight.physics.photons` and ``docs/twin/photophysics.md``.
The parameter vector ``par`` and the resumable state vector ``st`` share the index layout
below with the pulsed kernel (:mod:`qlight.physics.pulsed`); rates are in 1/ps, times in ps.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT

__all__ = ["cw_kernel", "emit_direct", "geom0"]

P_K12, P_K2, P_K31, P_PD, P_PM, P_PO, P_PU, P_MU1, P_MU2, P_LAM_M, P_LAM_O = range(11)
P_KOFF, P_KON, P_Q1, P_Q2, P_RECORD, P_PERIOD, P_WIDTH, P_PUNDET = range(11, 19)
N_PAR = 19
S_T, S_TOFF, S_ON, S_BLEACHED, S_TBLEACH, S_RLEFT, S_CPEND, S_DPEND = range(8)
S_EMITTED, S_KEXC, S_N, S_LEVEL, S_EDIRECT = range(8, 13)
N_STATE = 13

DONE, FULL = 0, 1
W_DETECTED, W_LIMIT, W_BLEACH, W_BLEACH_DET = 0, 1, 2, 3


@njit(**JIT)  # type: ignore[untyped-decorator]
def geom0(rng: np.random.Generator, lam: float) -> int:
    """``floor(E/λ)``, E ~ Exp(1): Geom0 with ``P(X >= m) = exp(−m λ)``; 0 when λ = inf."""
    return int(rng.standard_exponential() / lam)


@njit(**JIT)  # type: ignore[untyped-decorator]
def _gamma_int(rng: np.random.Generator, n: int) -> float:
    """Gamma(n, 1) for integer n >= 0 (sum of exponentials for small n)."""
    if n <= 3:
        s = 0.0
        for _ in range(n):
            s += rng.standard_exponential()
        return s
    return rng.standard_gamma(float(n))


@njit(**JIT)  # type: ignore[untyped-decorator]
def _dirichlet_part(rng: np.random.Generator, rem: float, count: int) -> float:
    """Next part of ``rem`` split into ``count`` Dirichlet(1,…,1) shares: Beta(1, count−1)."""
    if count <= 1:
        return rem
    return rem * -math.expm1(math.log(rng.random()) / (count - 1))


@njit(**JIT)  # type: ignore[untyped-decorator]
def _walk(
    rng: np.random.Generator,
    t0: float,
    m: int,
    o: int,
    u: int,
    g1: float,
    g2: float,
    g3: float,
    t_limit: float,
    r_left: float,
) -> tuple[int, float, int]:
    """Replay one inter-detection interval cycle by cycle, consistent with its drawn totals.

    ``N = m + 1 + o`` cycles: excitation waits sum to ``g1``, decay waits to ``g2``, shelving
    waits to ``g3`` (split by Dirichlet shares, exact given the sums); the first ``N − 1``
    cycles are ``u`` undetected emissions, ``o − u`` non-radiative and ``m`` shelving in a
    uniformly random order; the last cycle is the detected photon. Stops at ``t_limit`` or at
    the ``r_left``-th emission. Returns ``(kind, time, emissions)``.
    """
    n = m + 1 + o
    c1, c2, c3 = n, n, m
    u_rem, q_rem, m_rem = u, o - u, m
    t = t0
    emitted = 0
    for i in range(n):
        part = _dirichlet_part(rng, g1, c1)
        g1 -= part
        c1 -= 1
        t += part
        if t >= t_limit:
            return W_LIMIT, t_limit, emitted
        part = _dirichlet_part(rng, g2, c2)
        g2 -= part
        c2 -= 1
        t += part
        if t >= t_limit:
            return W_LIMIT, t_limit, emitted
        if i == n - 1:
            emitted += 1
            if emitted >= r_left:
                return W_BLEACH_DET, t, emitted
            return W_DETECTED, t, emitted
        x = rng.random() * (u_rem + q_rem + m_rem)
        if x < u_rem:
            u_rem -= 1
            emitted += 1
            if emitted >= r_left:
                return W_BLEACH, t, emitted
        elif x < u_rem + q_rem:
            q_rem -= 1
        else:
            m_rem -= 1
            part = _dirichlet_part(rng, g3, c3)
            g3 -= part
            c3 -= 1
            t += part
            if t >= t_limit:
                return W_LIMIT, t_limit, emitted
    return W_DETECTED, t, emitted  # not reached


@njit(**JIT)  # type: ignore[untyped-decorator]
def _resolve(rng: np.random.Generator, par: NDArray[np.float64], st: NDArray[np.float64]) -> None:
    """Turn the pending chunk (other cycles, detections) into emitted photons."""
    c = int(st[S_CPEND])
    und = rng.binomial(c, par[P_PU]) if c > 0 and par[P_PU] > 0.0 else 0
    e = st[S_DPEND] + und
    st[S_EMITTED] += e
    st[S_RLEFT] -= e
    st[S_CPEND] = 0.0
    st[S_DPEND] = 0.0


@njit(**JIT)  # type: ignore[untyped-decorator]
def emit_direct(st: NDArray[np.float64], t: float) -> bool:
    """Count one emission outside the renewal loop; True if it bleaches the emitter."""
    st[S_EDIRECT] += 1.0
    st[S_RLEFT] -= 1.0
    if st[S_RLEFT] <= 0.0:
        st[S_BLEACHED] = 1.0
        st[S_TBLEACH] = t
        return True
    return False


@njit(**JIT)  # type: ignore[untyped-decorator]
def _first_cycle(
    rng: np.random.Generator,
    par: NDArray[np.float64],
    st: NDArray[np.float64],
    out: NDArray[np.float64],
    t_end: float,
) -> None:
    """Stationary start: draw the level, run transitions until level 1 (or a limit)."""
    x = rng.random()
    level = 1 if x < par[P_Q1] else (2 if x < par[P_Q1] + par[P_Q2] else 3)
    t = st[S_T]
    while level != 1:
        t_lim = min(st[S_TOFF], t_end)
        if level == 2:
            t_next = t + rng.standard_exponential() / par[P_K2]
            if t_next >= t_lim:
                break
            t = t_next
            y = rng.random()
            level = 1
            if y < par[P_PD]:
                if par[P_RECORD] > 0.0:
                    out[int(st[S_N])] = t
                    st[S_N] += 1.0
                if emit_direct(st, t):
                    break
            elif y < par[P_PD] + par[P_PO]:
                if rng.random() < par[P_PU] and emit_direct(st, t):
                    break
            else:
                level = 3
        else:
            t_next = t + rng.standard_exponential() / par[P_K31]
            if t_next >= t_lim:
                break
            t = t_next
            level = 1
    if level != 1 and st[S_BLEACHED] == 0.0:  # interrupted: blink-off or end of acquisition
        t = min(st[S_TOFF], t_end)
        if st[S_TOFF] < t_end:
            st[S_ON] = 0.0
    st[S_T] = t
    st[S_LEVEL] = 1.0


@njit(**JIT)  # type: ignore[untyped-decorator]
def cw_kernel(
    rng: np.random.Generator,
    par: NDArray[np.float64],
    st: NDArray[np.float64],
    out: NDArray[np.float64],
    t_end: float,
    counting: bool,
) -> int:
    """Renewal generator (see module docstring); returns DONE or FULL (resumable)."""
    k12, k2, k31 = par[P_K12], par[P_K2], par[P_K31]
    mu1, mu2, lam_m, lam_o = par[P_MU1], par[P_MU2], par[P_LAM_M], par[P_LAM_O]
    k_off, k_on = par[P_KOFF], par[P_KON]
    record = par[P_RECORD] > 0.0
    inv_mu1, inv_mu2, inv_k31 = 1.0 / mu1, 1.0 / mu2, 1.0 / k31
    # per-excursion loop while a detection needs few excursions (mean M + 1 <= 1/0.12)
    branchless = lam_m > -math.log1p(-0.12)
    k_exc, d_count = 0.0, 0.0
    cap = out.size
    if st[S_LEVEL] == 0.0 and st[S_ON] > 0.0:
        _first_cycle(rng, par, st, out, t_end)
    st[S_LEVEL] = 1.0
    t, t_off = st[S_T], st[S_TOFF]
    n = int(st[S_N])
    while st[S_BLEACHED] == 0.0 and t < t_end:
        if st[S_ON] == 0.0:
            t += rng.standard_exponential() / k_on
            if t >= t_end:
                break
            st[S_ON] = 1.0
            t_off = t + rng.standard_exponential() / k_off if k_off > 0.0 else np.inf
            continue
        if record and n >= cap:
            st[S_T], st[S_TOFF], st[S_N] = t, t_off, float(n)
            st[S_KEXC] += k_exc
            st[S_DPEND] += d_count
            return FULL
        t_limit = min(t_off, t_end)
        if not counting and branchless:
            # one excursion per pass: Exp(μ1) + Exp(μ2), then the exit type from a third
            # exponential E: detected iff E < λ_M (probability pD/(pD+pM)); otherwise the
            # shelving wait is (E − λ_M)/k31, exponential by memorylessness. No branch on M.
            t_new = t + rng.standard_exponential() * inv_mu1 + rng.standard_exponential() * inv_mu2
            e3 = rng.standard_exponential()
            k_exc += 1.0
            if t_new >= t_limit:
                t = t_limit
                if t_off < t_end:
                    st[S_ON] = 0.0
                continue
            is_det = e3 < lam_m
            if record:
                out[n] = t_new
                n += is_det
            d_count += is_det
            t = t_new + max(e3 - lam_m, 0.0) * inv_k31
            if t >= t_limit:
                t = t_limit
                if t_off < t_end:
                    st[S_ON] = 0.0
            continue
        m = geom0(rng, lam_m)
        if not counting:
            dt = (
                rng.standard_gamma(m + 1.0) / mu1
                + rng.standard_gamma(m + 1.0) / mu2
                + _gamma_int(rng, m) / k31
            )
            k_exc += m + 1.0
            if t + dt >= t_limit:
                t = t_limit
                if t_off < t_end:
                    st[S_ON] = 0.0
                continue
            t += dt
            if record:
                out[n] = t
                n += 1
            d_count += 1.0
            continue
        o = 0
        for _ in range(m + 1):
            o += geom0(rng, lam_o)
        nc = m + 1 + o
        g1 = _gamma_int(rng, nc) / k12
        g2 = _gamma_int(rng, nc) / k2
        g3 = _gamma_int(rng, m) / k31
        t_det = t + g1 + g2 + g3
        if t_det < t_limit and st[S_CPEND] + st[S_DPEND] + o + 1.0 < st[S_RLEFT]:
            st[S_CPEND] += o  # cannot reach the budget: defer the binomial split
            st[S_DPEND] += 1.0
            t = t_det
            if record:
                out[n] = t
                n += 1
            continue
        _resolve(rng, par, st)
        u = rng.binomial(o, par[P_PU]) if o > 0 and par[P_PU] > 0.0 else 0
        if t_det < t_limit and u + 1.0 < st[S_RLEFT]:
            st[S_EMITTED] += u + 1.0
            st[S_RLEFT] -= u + 1.0
            t = t_det
            if record:
                out[n] = t
                n += 1
            continue
        # cut by a blink-off, the end of the acquisition or bleaching: replay the cycles
        kind, t_w, e = _walk(rng, t, m, o, u, g1, g2, g3, t_limit, st[S_RLEFT])
        st[S_EMITTED] += e
        st[S_RLEFT] -= e
        if kind == W_LIMIT:
            t = t_limit
            if t_off < t_end:
                st[S_ON] = 0.0
            continue
        t = t_w
        if kind != W_DETECTED:
            st[S_BLEACHED] = 1.0
            st[S_TBLEACH] = t
        if kind != W_BLEACH and record:
            out[n] = t
            n += 1
    st[S_T], st[S_TOFF], st[S_N] = t, t_off, float(n)
    st[S_KEXC] += k_exc
    st[S_DPEND] += d_count
    return DONE
