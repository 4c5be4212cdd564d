"""Slow, obviously-correct oracles for the numba kernels (one section per area).

Each engineer adds functions with a prefix naming the area; nothing here is fast.
"""

from __future__ import annotations

# ---------------------------------------------------------------- tt_: time tags (engineer H3)


def tt_cross_correlate(
    a_ps: list[int],
    b_ps: list[int],
    window_ps: int,
    bin_ps: int,
    delay_a_ps: int = 0,
    delay_b_ps: int = 0,
) -> tuple[list[int], list[int]]:
    """Naive O(n·m) all-pairs histogram of (b + delay_b) − (a + delay_a) in [−W, W)."""
    n_bins = 2 * window_ps // bin_ps
    lags = [-window_ps + k * bin_ps for k in range(n_bins)]
    counts = [0] * n_bins
    for ta in a_ps:
        for tb in b_ps:
            d = (int(tb) + delay_b_ps) - (int(ta) + delay_a_ps)
            for k, left in enumerate(lags):
                if left <= d < left + bin_ps:
                    counts[k] += 1
    return lags, counts


def tt_g2_cw(
    a_ps: list[int], b_ps: list[int], window_ps: int, bin_ps: int, duration_ps: int
) -> tuple[list[float], list[float]]:
    """g2 and its error from the naive histogram and the normalisation written out per bin.

    expected_k = N1·N2·∫_bin (T − |τ|)/T² dτ, integrated exactly with fractions (the bin
    never straddles 0, so |τ| is linear on it).
    """
    from fractions import Fraction

    lags, counts = tt_cross_correlate(a_ps, b_ps, window_ps, bin_ps)
    t = Fraction(duration_ps)
    g2, err = [], []
    for left, c in zip(lags, counts, strict=True):
        lo, hi = Fraction(left), Fraction(left + bin_ps)
        # antiderivative of (T − |τ|) on a bin of one sign
        sign = 1 if left >= 0 else -1

        def prim(x: Fraction, s: int = sign) -> Fraction:
            return t * x - s * x * x / 2

        expected = len(a_ps) * len(b_ps) * (prim(hi) - prim(lo)) / (t * t)
        g2.append(float(c / expected))
        err.append(float(max(c, 1)) ** 0.5 / float(expected))
    return g2, err


def tt_pulsed_peaks(
    a_ps: list[int],
    b_ps: list[int],
    period_ps: int,
    n_side: int,
    width_ps: int,
    delay_b_ps: int = 0,
) -> list[int]:
    """Pairs per peak k = −n … n, peak k covering [k·P − w//2, k·P − w//2 + w)."""
    peaks = [0] * (2 * n_side + 1)
    for ta in a_ps:
        for tb in b_ps:
            d = int(tb) + delay_b_ps - int(ta)
            for idx, k in enumerate(range(-n_side, n_side + 1)):
                lo = k * period_ps - width_ps // 2
                if lo <= d < lo + width_ps:
                    peaks[idx] += 1
    return peaks


# ---------------------------------------------------- optics_/chip_/stage_ (engineer H2)


def optics_collection_efficiency(
    dipole_polar_rad: float, na: float, n: float = 2.4, n_grid: int = 600
) -> float:
    """Collected fraction of a deep dipole's power by brute-force angular integration.

    Written from scratch: the far field of a dipole p along unit vector u in direction k is
    ∝ u − (u·k)k; it is split on the s and p unit vectors, each transmitted with the Fresnel
    *amplitude* coefficients t_s = 2n c1/(n c1 + c2), t_p = 2n c1/(c1 + n c2) and power
    factor c2/(n c1); midpoint sums over θ < asin(NA/n) and φ ∈ [0, 2π); divided by the
    total 8π/3. The dipole azimuth is 0 (the result cannot depend on it).
    """
    import math

    u = (math.sin(dipole_polar_rad), 0.0, math.cos(dipole_polar_rad))
    theta_m = math.asin(na / n)
    dth = theta_m / n_grid
    dph = 2.0 * math.pi / n_grid
    total = 0.0
    for i in range(n_grid):
        th = (i + 0.5) * dth
        c1, s1 = math.cos(th), math.sin(th)
        s2 = n * s1
        c2 = math.sqrt(1.0 - s2 * s2)
        ts = 2 * n * c1 / (n * c1 + c2)
        tp = 2 * n * c1 / (c1 + n * c2)
        factor = c2 / (n * c1)
        for j in range(n_grid):
            ph = (j + 0.5) * dph
            es = (-math.sin(ph), math.cos(ph), 0.0)
            ep = (c1 * math.cos(ph), c1 * math.sin(ph), -s1)
            us = sum(a * b for a, b in zip(u, es, strict=True))
            up = sum(a * b for a, b in zip(u, ep, strict=True))
            total += factor * (ts * ts * us * us + tp * tp * up * up) * s1 * dth * dph
    return total / (8.0 * math.pi / 3.0)


def _optics_sigma(fwhm: float) -> float:
    import math

    return fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def optics_pl_rate_map(
    chip: object,
    xs: list[float],
    ys: list[float],
    focus_depth_m: float,
    power_w: float,
    objective: object,
    detector: object,
    excitation_wavelength_m: float,
    emitter_scale: list[float] | None = None,
    extra_spots: tuple[object, ...] = (),
) -> list[float]:
    """Per-pixel loop over *every* emitter and spot (no cut-off), formulas written out.

    Paraxial focal shift (z_actual = n·z for z > 0), Gaussian PSFs with FWHM 0.51λ/NA and
    0.88λ/(n − sqrt(n² − NA²)), pinhole blur σ_pin = d/4 laterally and the same relative
    blur axially, emitted rate from the emitter's own ``emission_rate_at`` at the local
    power, η from the per-emitter ``detection_efficiency``.
    """
    import math

    from qlight.physics.optics import detection_efficiency

    n = chip.config.refractive_index
    na = objective.na
    assert objective.focal_shift == "paraxial"
    zf = n / objective.immersion_index * focus_depth_m if focus_depth_m > 0 else focus_depth_m
    axial = 0.88 / (n - math.sqrt(n * n - na * na))
    s_ex = _optics_sigma(0.51 * excitation_wavelength_m / na)
    z_ex = _optics_sigma(axial * excitation_wavelength_m)
    pin = objective.pinhole_m / 4.0

    def det_sigmas(lam: float) -> tuple[float, float]:
        s_em = _optics_sigma(0.51 * lam / na)
        z_em = _optics_sigma(axial * lam)
        s_det = math.sqrt(s_em * s_em + pin * pin)
        return s_det, z_em * s_det / s_em

    lam_bg = 0.5e-9 * (chip.config.zpl_nm[0] + chip.config.zpl_nm[1])
    sdb, zdb = det_sigmas(lam_bg)
    eff_xy = 1.0 / math.sqrt(1 / s_ex**2 + 1 / sdb**2)
    eff_z = 1.0 / math.sqrt(1 / z_ex**2 + 1 / zdb**2)
    emitters = chip.emitters
    scale = emitter_scale if emitter_scale is not None else [1.0] * len(emitters)
    out = []
    for x, y in zip(xs, ys, strict=True):
        acc = 0.0
        for e, sc in zip(emitters, scale, strict=True):
            r2 = (x - e.x_m) ** 2 + (y - e.y_m) ** 2
            dz = e.depth_m - zf
            s_det, z_det = det_sigmas(e.photophysics.zpl_nm * 1e-9)
            p_local = power_w * math.exp(-r2 / (2 * s_ex**2) - dz * dz / (2 * z_ex**2))
            d = math.exp(-r2 / (2 * s_det**2) - dz * dz / (2 * z_det**2))
            eta = detection_efficiency(e, objective, detector)
            acc += sc * eta * e.photophysics.emission_rate_at(p_local) * d
        for s in (*chip.spots, *extra_spots):
            var = s.sigma_m**2 + eff_xy**2
            r2 = (x - s.x_m) ** 2 + (y - s.y_m) ** 2
            dz = s.depth_m - zf
            acc += (
                power_w * s.rate_per_s_per_w * math.exp(-r2 / (2 * var) - dz * dz / (2 * eff_z**2))
            )
        frac = 0.5 * (1 + math.erf(zf / (math.sqrt(2) * eff_z)))
        acc += power_w * frac * float(chip.background_pl_per_s_per_w(x, y))
        out.append(acc)
    return out


def optics_box_gaussian_fraction(
    x: float, y: float, x0: float, x1: float, y0: float, y1: float, sigma: float, n: int = 400
) -> float:
    """Fraction of a unit 2-D Gaussian at (x, y) that falls on [x0, x1]×[y0, y1] (midpoint sum)."""
    import math

    hx = (x1 - x0) / n
    hy = (y1 - y0) / n
    total = 0.0
    for i in range(n):
        u = x0 + (i + 0.5) * hx - x
        gu = math.exp(-u * u / (2 * sigma * sigma))
        for j in range(n):
            v = y0 + (j + 0.5) * hy - y
            total += gu * math.exp(-v * v / (2 * sigma * sigma))
    return total * hx * hy / (2 * math.pi * sigma * sigma)


def optics_reflection_map(
    chip: object, xs: list[float], ys: list[float], sigma: float, axial: float, power_w: float
) -> list[float]:
    """P·A·[R_GaN + (R_mark − R_GaN)·Σ_all cells erf-box fraction]: every mark, no culling."""
    import math

    n = chip.config.refractive_index
    r_gan = ((n - 1) / (n + 1)) ** 2
    r_mark = chip.config.mark_reflectance
    k = 1 / (math.sqrt(2) * sigma)
    out = []
    for x, y in zip(xs, ys, strict=True):
        frac = 0.0
        for m in chip.marks:
            h = m.cell_size_m / 2
            for dx, dy in m.cells:
                cx, cy = m.x_m + dx, m.y_m + dy
                fx = math.erf((cx + h - x) * k) - math.erf((cx - h - x) * k)
                fy = math.erf((cy + h - y) * k) - math.erf((cy - h - y) * k)
                frac += fx * fy / 4
        out.append(power_w * axial * (r_gan + (r_mark - r_gan) * frac))
    return out


def stage_chip_to_stage(
    tx: float, ty: float, rot: float, scale: float, x: float, y: float
) -> tuple[float, float]:
    """Homogeneous 3×3 matrix product written out: [s·R | t] · (x, y, 1)."""
    import math

    m = [
        [scale * math.cos(rot), -scale * math.sin(rot), tx],
        [scale * math.sin(rot), scale * math.cos(rot), ty],
        [0.0, 0.0, 1.0],
    ]
    v = [x, y, 1.0]
    res = [sum(m[i][j] * v[j] for j in range(3)) for i in range(3)]
    return res[0], res[1]


def chip_mark_bits_from_cells(
    cells: tuple[tuple[float, float], ...], n: int, cell_pitch_m: float
) -> list[list[bool]]:
    """Rebuild the n×n filled-cell grid ``[row][col]`` from a mark's cell-centre offsets."""
    grid = [[False] * n for _ in range(n)]
    half = (n - 1) / 2
    for dx, dy in cells:
        grid[round(dy / cell_pitch_m + half)][round(dx / cell_pitch_m + half)] = True
    return grid


# ------------------------------------------ emitter_/stream_: photophysics, streams (engineer H1)


def emitter_propagate_expm(q: list[list[float]], p0: list[float], t_ns: float) -> list[float]:
    """p(t) = expm(Q t) p0 with scipy's matrix exponential (dp/dt = Q p, columns sum to 0)."""
    import numpy as np
    from scipy.linalg import expm

    return [float(x) for x in expm(np.asarray(q) * t_ns) @ np.asarray(p0)]


def emitter_stationary_expm(q: list[list[float]]) -> list[float]:
    """Stationary populations: solve Q π = 0 with the last equation replaced by Σ π = 1."""
    import numpy as np

    a = np.array(q, dtype=float)
    a[-1, :] = 1.0
    rhs = np.zeros(len(q))
    rhs[-1] = 1.0
    return [float(x) for x in np.linalg.solve(a, rhs)]


def emitter_g2_expm(q: list[list[float]], tau_ps: list[float], emit_level: int = 1) -> list[float]:
    """g2(τ) = [expm(Q|τ|) e0]_emit / π_emit, one matrix exponential per delay."""
    pi = emitter_stationary_expm(q)
    p0 = [1.0] + [0.0] * (len(q) - 1)
    return [
        emitter_propagate_expm(q, p0, abs(t) * 1e-3)[emit_level] / pi[emit_level] for t in tau_ps
    ]


def emitter_g2_convolved_numeric(g2: object, tau_ps: list[float], sigma_ps: float) -> list[float]:
    """∫ g2(τ − s) N(s; σ) ds by the trapezoid rule on ±10 σ with 40001 points."""
    import numpy as np

    s = np.linspace(-10.0 * sigma_ps, 10.0 * sigma_ps, 40001)
    w = np.exp(-0.5 * (s / sigma_ps) ** 2)
    w /= np.trapezoid(w, s)
    return [float(np.trapezoid(g2(t - s) * w, s)) for t in tau_ps]  # type: ignore[operator]


def emitter_pulsed_areas_grid(
    q_on: list[list[float]],
    q_off: list[list[float]],
    emit: list[float],
    period_ns: float,
    width_ns: float,
    n_peaks: int,
    steps_per_period: int = 200,
) -> list[float]:
    """Pulsed peak areas by brute force on a time grid (midpoint rule, step h = P/steps).

    The pulse width must be a multiple of h and ``steps`` even. Periodic state by
    iterating 3000 periods; emission intensity at every step midpoint; for an emission at
    the midpoint of step i the emitter restarts in level 0 and its intensity at the
    midpoints of the following steps (delays j·h) is summed into the windows
    [kP − P/2, kP + P/2) (the central one from the positive delays, doubled; a sample on a
    window edge counts half to each). Error O(h²).
    """
    import numpy as np
    from scipy.linalg import expm

    n_s = steps_per_period
    h = period_ns / n_s
    on = (np.arange(n_s) + 0.5) * h < width_ns
    full = np.array([expm(np.asarray(q_on if o else q_off) * h) for o in on])
    half = np.array([expm(np.asarray(q_on if o else q_off) * h / 2) for o in on])
    e = np.asarray(emit, dtype=float)
    n_lev = len(q_on)
    u = np.eye(n_lev)
    for m in full:
        u = m @ u  # propagator over one period
    p = np.zeros(n_lev)
    p[0] = 1.0
    p = np.linalg.matrix_power(u, 3000) @ p
    intens = np.zeros(n_s)
    for i in range(n_s):
        intens[i] = e @ (half[i] @ p)
        p = full[i] @ p
    total = h * intens.sum()
    q = np.zeros((n_s, n_lev))
    q[:, 0] = 1.0
    q = np.einsum("sij,sj->si", half, q)  # end of the emission step
    areas = np.zeros(n_peaks + 1)
    for j in range(1, int((n_peaks + 0.5) * n_s) + 1):
        idx = (np.arange(n_s) + j) % n_s
        val = np.einsum("j,sij,sj->s", e, half[idx], q)
        q = np.einsum("sij,sj->si", full[idx], q)
        contrib = h * h * float(intens @ val)
        x = (j + n_s // 2) / n_s  # (delay + P/2) / P; integer on a window edge
        k = int(x)
        shares = [(k - 1, 0.5), (k, 0.5)] if j % n_s == n_s // 2 else [(k, 1.0)]
        for kk, share in shares:
            if kk <= n_peaks:
                areas[kk] += (2.0 if kk == 0 else 1.0) * share * contrib
    return [float(a) / total**2 for a in areas]


def stream_interval_cdf(
    t_ps: object, k12: float, k21: float, k23: float, k31: float, qe: float, eta: float
) -> list[float]:
    """Exact CDF of the time between detected photons (phase type), expm per point.

    Sub-generator: the rate matrix with the detected part of 2→1 removed; start in level 1;
    F(t) = 1 − Σ_i [expm(S t) e1]_i. Rates in 1/ns.
    """
    import numpy as np
    from scipy.linalg import expm

    s = np.array([[-k12, k21 * (1.0 - qe * eta), k31], [k12, -(k21 + k23), 0.0], [0.0, k23, -k31]])
    t = np.atleast_1d(np.asarray(t_ps, dtype=float))
    return [1.0 - float(np.sum(expm(s * x * 1e-3)[:, 0])) for x in t]


def stream_gillespie(
    k12: float,
    k21: float,
    k23: float,
    k31: float,
    qe: float,
    eta: float,
    duration_ps: float,
    seed: int,
    *,
    k_off: float = 0.0,
    k_on: float = 1.0,
    budget: float = float("inf"),
) -> tuple[list[float], int, float]:
    """Transition-by-transition Gillespie simulation in pure Python (rates in 1/ns).

    Levels 1, 2, 3 and a dark state D (entered from any level at k_off, left to 1 at k_on);
    each radiative 2→1 decay emits a photon, detected with probability η. Starts in level 1,
    bright. Stops after the ceil(budget)-th emitted photon. Returns (detected times in ps,
    emitted photons, bleach time in ps or NaN).
    """
    import math
    import random

    rnd = random.Random(seed)
    t, level, emitted = 0.0, 1, 0
    detected: list[float] = []
    limit = math.ceil(budget) if math.isfinite(budget) else math.inf
    while True:
        if level == 1:
            moves = [(k12, 2), (k_off, 0)]
        elif level == 2:
            moves = [(qe * k21, -1), ((1 - qe) * k21, 1), (k23, 3), (k_off, 0)]
        elif level == 3:
            moves = [(k31, 1), (k_off, 0)]
        else:
            moves = [(k_on, 1)]
        total = sum(r for r, _ in moves)
        t += rnd.expovariate(total) * 1e3
        if t >= duration_ps:
            return detected, emitted, math.nan
        x = rnd.random() * total
        k = 0
        while k < len(moves) - 1 and x >= moves[k][0]:
            x -= moves[k][0]
            k += 1
        target = moves[k][1]
        if target == -1:
            emitted += 1
            if rnd.random() < eta:
                detected.append(t)
            if emitted >= limit:
                return detected, emitted, t
            level = 1
        else:
            level = target


def stream_pair_histogram(a_ps: object, b_ps: object, edges_ps: object) -> list[int]:
    """All pairs (a_i, b_j) with b_j − a_i inside [edges[0], edges[-1]), histogrammed.

    For each a_i the b's inside the window are found by bisection and every difference is
    kept (all pairs, not start–stop), then counted in the half-open bins ``edges``.
    """
    import numpy as np

    a = np.asarray(a_ps, dtype=np.int64)
    b = np.asarray(b_ps, dtype=np.int64)
    e = np.asarray(edges_ps, dtype=np.int64)
    lo = np.searchsorted(b, a + e[0], side="left")
    hi = np.searchsorted(b, a + e[-1], side="left")
    counts = hi - lo
    owner = np.repeat(np.arange(a.size), counts)
    start = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    j = np.arange(owner.size) + start
    d = b[j] - a[owner]
    idx = np.searchsorted(e, d, side="right") - 1
    return [int(c) for c in np.bincount(idx, minlength=e.size - 1)[: e.size - 1]]


# ------------------------------------------------- sim_: twin instruments (engineer H4)


def sim_stage_to_chip(
    transform: object, x_m: float, y_m: float, drift_m: tuple[float, float, float]
) -> tuple[float, float]:
    """Chip point under the focus: invert p_stage = s·R(θ)·p_chip + t after removing drift."""
    import math

    x = x_m - drift_m[0] - transform.tx_m
    y = y_m - drift_m[1] - transform.ty_m
    c, s = math.cos(transform.rotation_rad), math.sin(transform.rotation_rad)
    # R(θ)ᵀ = R(−θ)
    return (c * x + s * y) / transform.scale, (-s * x + c * y) / transform.scale


def sim_registered_rate(incoming_per_s: float, detector: object) -> float:
    """Registered rate of a detector fed by Poisson light, 1/(τd + (1 − p)/r + p/(r + 1/d))."""
    if incoming_per_s == 0.0:
        return 0.0
    tau = detector.dead_time_ps * 1e-12
    p = detector.afterpulse_prob
    d = detector.afterpulse_delay_ps * 1e-12
    ap = p / (incoming_per_s + 1.0 / d) if d > 0 else 0.0
    return 1.0 / (tau + (1.0 - p) / incoming_per_s + ap)


def sim_scan_expected_counts(
    truth: object,
    image: object,
    *,
    objective: object,
    detector: object,
    excitation_wavelength_m: float,
    emitter_scale: list[float],
    extra_spots: tuple[object, ...] = (),
) -> list[list[float]]:
    """Expected PL counts of every pixel of a scan, pixel by pixel.

    For pixel (i, j) at clock time ``line_start_s[i] + (j + ½)·dwell``: drift from the truth,
    stage → chip written out (:func:`sim_stage_to_chip`), nominal depth
    z − (focus offset + drift z), the rate from :func:`optics_pl_rate_map`, each detector
    fed half of it plus its dark counts, registered rate by :func:`sim_registered_rate`.
    Assumes zero closed-loop noise (the test configures it).
    """
    out = []
    for i, y in enumerate(image.y_m):
        row = []
        for j, x in enumerate(image.x_m):
            t = image.line_start_s[i] + (j + 0.5) * image.dwell_s
            drift = truth.drift_m(float(t))
            xc, yc = sim_stage_to_chip(truth.transform, float(x), float(y), drift)
            depth = image.z_m - (truth.focus_offset_m + drift[2])
            rate = optics_pl_rate_map(
                truth.chip, [xc], [yc], depth, image.power_w, objective, detector,
                excitation_wavelength_m, emitter_scale, extra_spots,
            )[0]  # fmt: skip
            per_detector = 0.5 * rate + detector.dark_cps
            row.append(2.0 * sim_registered_rate(per_detector, detector) * image.dwell_s)
        out.append(row)
    return out


# ---------------------------------------------------------------- ptu_: PTU records (engineer HA)


def ptu_decode(
    records: list[int], record_type: str
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """Record-by-record PTU decoder, written from PicoQuant's ``Read_PTU.py`` demo.

    ``record_type``: "PicoHarpT2", "PicoHarpT3", "HydraHarpT2", "HydraHarpT3" (V1) or any
    V2-style name ("HydraHarp2T2", "MultiHarpT3", …). Returns events ``(channel, time, dtime)``
    (PicoHarp T3 channels made 0-based, T2 sync records as channel -1, time in tag units or
    absolute sync number) and markers ``(bits, time)``. Invalid records raise ValueError.
    """
    events: list[tuple[int, int, int]] = []
    markers: list[tuple[int, int]] = []
    ofl = 0
    t3 = record_type.endswith("T3")
    for rec in records:
        bits = format(rec, "032b")  # bits[0] is the most significant bit
        if record_type == "PicoHarpT2":
            channel, time = int(bits[0:4], 2), int(bits[4:32], 2)
            if channel == 15:
                if int(bits[28:32], 2) == 0:
                    ofl += 210698240
                else:
                    markers.append((int(bits[28:32], 2), ofl + time - int(bits[28:32], 2)))
            elif channel <= 4:
                events.append((channel, ofl + time, 0))
            else:
                raise ValueError(f"illegal channel {channel}")
        elif record_type == "PicoHarpT3":
            channel, dtime, nsync = int(bits[0:4], 2), int(bits[4:16], 2), int(bits[16:32], 2)
            if channel == 15:
                if dtime == 0:
                    ofl += 65536
                else:
                    markers.append((dtime & 15, ofl + nsync))
            elif 1 <= channel <= 4:
                events.append((channel - 1, ofl + nsync, dtime))
            else:
                raise ValueError(f"illegal channel {channel}")
        else:
            v1 = record_type in ("HydraHarpT2", "HydraHarpT3")
            special, channel = int(bits[0], 2), int(bits[1:7], 2)
            time = int(bits[22:32], 2) if t3 else int(bits[7:32], 2)
            dtime = int(bits[7:22], 2) if t3 else 0
            if special:
                if channel == 63:
                    wrap = 1024 if t3 else (33552000 if v1 else 33554432)
                    ofl += wrap if (v1 or time == 0) else wrap * time
                elif 1 <= channel <= 15:
                    markers.append((channel, ofl + time))
                elif channel == 0 and not t3:
                    events.append((-1, ofl + time, 0))
                else:
                    raise ValueError(f"illegal special channel {channel}")
            else:
                events.append((channel, ofl + time, dtime))
    return events, markers


def link_simulate_pulses(
    photons: object,
    probabilities: list[float],
    eta_channel: float,
    eta_bob: float,
    dark_prob: float,
    err_z: float,
    err_x: float,
    pz: float,
    dead: int,
    shared_dead: bool,
    p_ap: float,
    ap_mean_delay: float,
    eve: str,
    eve_fraction: float,
    pns_s: float,
    pns_r: float,
    n_pulses: int,
    rng: object,
) -> tuple[list[tuple[int, int, int, int, int, int, int]], list[int]]:
    """Pulse-by-pulse BB84 link (qlight.qkd.link.simulate's model), one photon at a time.

    Returns rows ``(slot, alice_basis, alice_bit, class, bob_basis, bob_bit, flags)`` for the
    registered slots (flags: 1 double, 2 afterpulse, 4 Eve knows) and pulses sent per class.
    """
    import random as _random

    r = _random.Random(int(rng.integers(2**63)))  # type: ignore[attr-defined]
    table = [list(map(float, row)) for row in photons]  # type: ignore[attr-defined]
    rows: list[tuple[int, int, int, int, int, int, int]] = []
    sent = [0] * len(probabilities)
    dead_until = [-1, -1]
    pending = [-1, -1]

    def pick(weights: list[float]) -> int:
        u, acc = r.random() * sum(weights), 0.0
        for j, w in enumerate(weights):
            acc += w
            if u < acc:
                return j
        return len(weights) - 1

    for i in range(n_pulses):
        k = pick(list(probabilities))
        sent[k] += 1
        n = pick(table[k])
        ab, ax = (0 if r.random() < pz else 1), (1 if r.random() < 0.5 else 0)
        bb = 0 if r.random() < pz else 1
        flag = 0
        sb, sx = ab, ax
        if eve == "pns":  # Eve keeps one photon of multi-photon pulses, lossless channel
            if n == 1:
                m = sum(r.random() < eta_bob for _ in range(1 if r.random() < pns_s else 0))
            elif n >= 2:
                fwd = r.random() < pns_r
                m = sum(r.random() < eta_bob for _ in range(n - 1)) if fwd else 0
                flag |= 4  # Eve split off one photon whether she forwards or not
            else:
                m = 0
        else:
            if eve == "intercept-resend" and n >= 1 and r.random() < eve_fraction:
                eb = 0 if r.random() < 0.5 else 1
                if eb == ab:
                    flag |= 4
                else:
                    sx = 1 if r.random() < 0.5 else 0
                sb = eb
            m = sum(r.random() < eta_channel * eta_bob for _ in range(n))
        hits = [0, 0]
        for _ in range(m):
            if sb == bb:
                wrong = r.random() < (err_z if bb == 0 else err_x)
                hits[1 - sx if wrong else sx] += 1
            else:
                hits[0 if r.random() < 0.5 else 1] += 1
        click = [hits[j] > 0 or r.random() < dark_prob for j in (0, 1)]
        for j in (0, 1):
            if pending[j] == i:
                pending[j] = -1
                if i > dead_until[j]:
                    click[j] = True
                    flag |= 2
            if i <= dead_until[j]:
                click[j] = False
        if not (click[0] or click[1]):
            continue
        if click[0] and click[1]:
            bx = 1 if r.random() < 0.5 else 0
            flag |= 1
        else:
            bx = 0 if click[0] else 1
        rows.append((i, ab, ax, k, bb, bx, flag))
        for j in (0, 1):
            if not click[j]:
                continue
            for d in (0, 1) if shared_dead else (j,):
                dead_until[d] = i + dead
            pending[j] = -1
            if r.random() < p_ap:
                g = 0
                while r.random() >= 1.0 / (1.0 + ap_mean_delay):
                    g += 1
                pending[j] = i + dead + 1 + g
    return rows, sent


# ------------------------------------------------- ph_: planar dipole emission (engineer HE)


def _ph_kz(eps: complex, u: complex) -> complex:
    import cmath

    w = cmath.sqrt(eps - u * u)
    return -w if w.imag < 0 else w


def ph_side_tm(
    pol: str, eps_from_emitter: list[complex], thick_nm: list[float], k0: float, u: float
) -> tuple[complex, complex]:
    """Reflection and transmission of one side of a stack by 2×2 transfer matrices.

    ``eps_from_emitter`` starts with the emitter's medium and ends with the far
    semi-infinite medium; ``thick_nm`` holds the thicknesses of the media in between.
    Characteristic matrices D = (1/t)[[1, r], [r, 1]] per interface and diag(e^{-iφ}, e^{iφ})
    per layer (Born & Wolf §1.6; Yeh, *Optical Waves in Layered Media*, ch. 5): a method
    independent of the recursive formulas of the library. No PEC.
    """
    import cmath

    def interface(a: complex, b: complex) -> list[list[complex]]:
        wa, wb = _ph_kz(a, u), _ph_kz(b, u)
        if pol == "s":
            r, t = (wa - wb) / (wa + wb), 2 * wa / (wa + wb)
        else:
            r, t = (b * wa - a * wb) / (b * wa + a * wb), 2 * b * wa / (b * wa + a * wb)
        return [[1 / t, r / t], [r / t, 1 / t]]

    def mul(x: list[list[complex]], y: list[list[complex]]) -> list[list[complex]]:
        return [[sum(x[i][k] * y[k][j] for k in range(2)) for j in range(2)] for i in range(2)]

    m = interface(eps_from_emitter[0], eps_from_emitter[1])
    for j, h in enumerate(thick_nm, start=1):
        phi = k0 * _ph_kz(eps_from_emitter[j], u) * h
        m = mul(m, [[cmath.exp(-1j * phi), 0], [0, cmath.exp(1j * phi)]])
        m = mul(m, interface(eps_from_emitter[j], eps_from_emitter[j + 1]))
    return m[1][0] / m[0][0], 1 / m[0][0]


def ph_total_power_real_axis(
    eps_up: list[complex],
    thick_up_nm: list[float],
    eps_down: list[complex],
    thick_down_nm: list[float],
    d_top_nm: float,
    d_bottom_nm: float,
    wavelength_nm: float,
    u_max: float,
    points: tuple[float, ...] = (),
) -> tuple[float, float]:
    """(P_∥, P_⊥)/P₀ by scipy ``quad`` straight along the real u axis (no contour).

    ``eps_up``/``eps_down`` run from the emitter's (lossless) medium outwards, as in
    :func:`ph_side_tm`; ``[]`` after the emitter means that side is the emitter's own
    semi-infinite medium. Only correct where no pole sits on the real axis, i.e. when the
    stack absorbs a little (Chance, Prock & Silbey 1978; Novotny & Hecht Eq. 10.26-10.27).
    """
    import cmath
    import math

    from scipy.integrate import quad

    k0 = 2 * math.pi / wavelength_nm
    eps1 = eps_up[0].real
    n1 = math.sqrt(eps1)

    def rho(pol: str, eps: list[complex], thick: list[float], d: float, u: float) -> complex:
        if len(eps) < 2:
            return 0j
        r, _ = ph_side_tm(pol, eps, thick, k0, u)
        return r * cmath.exp(2j * k0 * _ph_kz(eps1, u) * d)

    def integrands(u: float) -> tuple[float, float]:
        w1 = _ph_kz(eps1, u)
        out = []
        for pol in ("s", "p"):
            rt = rho(pol, eps_up, thick_up_nm, d_top_nm, u)
            rb = rho(pol, eps_down, thick_down_nm, d_bottom_nm, u)
            out.append((rt, rb))
        (rts, rbs), (rtp, rbp) = out
        fs = (1 + rts) * (1 + rbs) / (1 - rts * rbs)
        fpp = (1 + rtp) * (1 + rbp) / (1 - rtp * rbp)
        fpm = (1 - rtp) * (1 - rbp) / (1 - rtp * rbp)
        gh = 0.75 * u / (n1 * w1) * (fs + w1 * w1 / eps1 * fpm)
        gv = 1.5 * u**3 / (n1**3 * w1) * fpp
        return gh.real, gv.real

    # split at the emitter's branch point, where 1/w1 is integrably singular
    pts = sorted({p for p in (n1, *points) if 0 < p < u_max})
    h = quad(lambda u: integrands(u)[0], 0, u_max, points=pts, limit=2000, epsabs=1e-12)[0]
    v = quad(lambda u: integrands(u)[1], 0, u_max, points=pts, limit=2000, epsabs=1e-12)[0]
    return h, v


def ph_pec_mirror(x: float) -> tuple[float, float]:
    """(P_∥, P_⊥)/P₀ of a dipole at distance d from a perfect mirror, x = 2·k·d.

    Image-dipole closed form (the field of the image at distance 2d; Morawitz, Phys. Rev.
    187, 1792 (1969); Chance, Prock & Silbey 1978, perfect-reflector limit).
    """
    import math

    s, c = math.sin(x), math.cos(x)
    par = 1 - 1.5 * (s / x + c / x**2 - s / x**3)
    perp = 1 - 3 * (c / x**2 - s / x**3)
    return par, perp


def ph_abram_cavity(k_l: float, z_over_l: float) -> tuple[float, float]:
    """(Γ_∥, Γ_⊥)/Γ₀ of a dipole in a perfect-conductor planar cavity (sum over modes).

    Abram, Robert, Kuszelewicz, IEEE JQE 34, 71 (1998): with kL the cavity length times
    the wavenumber in the filling medium and z the dipole position,
    Γ_∥ = (3π/2kL) Σ_{m=1}^{⌊kL/π⌋} (1 + (mπ/kL)²) sin²(mπz/L),
    Γ_⊥ = (3π/kL) [1/2 + Σ_{m=1}^{⌊kL/π⌋} (1 − (mπ/kL)²) cos²(mπz/L)].
    """
    import math

    m_max = int(k_l / math.pi)
    par = 0.0
    perp = 0.5
    for m in range(1, m_max + 1):
        q = m * math.pi / k_l
        par += (1 + q * q) * math.sin(m * math.pi * z_over_l) ** 2
        perp += (1 - q * q) * math.cos(m * math.pi * z_over_l) ** 2
    return 1.5 * math.pi / k_l * par, 3 * math.pi / k_l * perp


# ---------------------------------------------------------------- qkd_: QKD theory (engineer HC)


def qkd_gain_and_qber(p_n: list[float], eta: float, y0: float, e_d: float) -> tuple[float, float]:
    """Gain and QBER summed photon number by photon number (Ma et al., PRA 72, 012326).

    Each of the n photons is lost independently: the no-click probability is
    (1 − Y0) · Π_{k=1..n} (1 − η), multiplied out one factor at a time; a click from a
    photon is wrong with probability e_d, a dark click with probability 1/2.
    """
    gain = 0.0
    errors = 0.0
    for n, p in enumerate(p_n):
        no_click = 1.0 - y0
        for _ in range(n):
            no_click *= 1.0 - eta
        y_n = 1.0 - no_click
        gain += p * y_n
        errors += p * (0.5 * y0 + e_d * (y_n - y0))
    return gain, errors / gain


def qkd_poisson(mu: float, n_max: int) -> list[float]:
    """Poisson probabilities by the recursion p_n = p_{n−1} μ / n."""
    import math

    p = [math.exp(-mu)]
    for n in range(1, n_max + 1):
        p.append(p[-1] * mu / n)
    return p


def ptu_encode(events: list[tuple[int, int, int]], record_type: str) -> list[int]:
    """Record-by-record PTU encoder: events ``(channel, time, dtime)`` → 32-bit records.

    Channel codes as ``PtuWriter.write``: detector ≥ 0, -1 T2 sync, ``-1 - b`` marker bits b.
    Before each event, overflow records bring the overflow base within one period of its
    time (V2-style layouts: one record carrying up to 2^25−1 (T2) / 1023 (T3) overflows).
    """
    t3 = record_type.endswith("T3")
    v1 = record_type in ("HydraHarpT2", "HydraHarpT3")
    if record_type == "PicoHarpT2":
        wrap = 210698240
    elif record_type == "PicoHarpT3":
        wrap = 65536
    else:
        wrap = 1024 if t3 else (33552000 if v1 else 33554432)
    out: list[int] = []
    base = 0
    for channel, time, dtime in events:
        while time - base >= wrap:
            if record_type.startswith("PicoHarpT"):
                out.append(15 << 28)
                base += wrap
            elif v1:
                out.append((1 << 31) | (63 << 25))
                base += wrap
            else:
                count = min((time - base) // wrap, (2**25 - 1) if not t3 else 1023)
                out.append((1 << 31) | (63 << 25) | count)
                base += count * wrap
        low = time - base
        if record_type == "PicoHarpT2":
            if channel >= 0:
                out.append((channel << 28) | low)
            else:
                out.append((15 << 28) | (low - low % 16) | (-1 - channel))
        elif record_type == "PicoHarpT3":
            if channel >= 0:
                out.append(((channel + 1) << 28) | (dtime << 16) | low)
            else:
                out.append((15 << 28) | ((-1 - channel) << 16) | low)
        else:
            payload = (dtime << 10) | low if t3 else low
            if channel >= 0:
                out.append((channel << 25) | payload)
            elif channel == -1:
                out.append((1 << 31) | payload)
            else:
                out.append((1 << 31) | ((-1 - channel) << 25) | payload)
    return out


def ptu_group_by_channel(channel: list[int], t: list[int]) -> dict[int, list[int]]:
    """Per-channel lists of ``t`` in stream order."""
    out: dict[int, list[int]] = {}
    for c, v in zip(channel, t, strict=True):
        out.setdefault(int(c), []).append(int(v))
    return out


# ------------------------------------------------------- tt2_: time-tag analyses (engineer HB)


def tt2_multitau_counts(
    a_ps: list[int], b_ps: list[int], base_ps: int, n_levels: int, points: int
) -> list[int]:
    """Multi-tau pair counts by definition: level l, lag d counts pairs with
    ⌊b/Δl⌋ − ⌊a/Δl⌋ = d, Δl = base·2^l, d = 0 … B−1 at level 0 and B/2 … B−1 above."""
    counts: list[int] = []
    for level in range(n_levels):
        step = base_ps * 2**level
        first = 0 if level == 0 else points // 2
        for d in range(first, points):
            counts.append(sum(1 for x in a_ps for y in b_ps if y // step - x // step == d))
    return counts


def tt2_coincidences(channels: list[list[int]], window_ps: int) -> int:
    """All tuples with one tag per channel and max − min < window (itertools.product)."""
    import itertools

    return sum(1 for tup in itertools.product(*channels) if max(tup) - min(tup) < window_ps)


def tt2_lifetime_t2(
    sync_ps: list[int], t_ps: list[int], bin_ps: int, range_ps: int, delay_ps: int = 0
) -> tuple[list[int], int]:
    """Each photon against the latest sync ≤ t + delay, by linear search; (counts, outside)."""
    counts = [0] * (range_ps // bin_ps)
    outside = 0
    for t in t_ps:
        y = t + delay_ps
        before = [s for s in sync_ps if s <= y]
        if not before or y - max(before) >= range_ps:
            outside += 1
        else:
            counts[(y - max(before)) // bin_ps] += 1
    return counts, outside


def tt2_trace(channels: list[list[int]], bin_ps: int, start_ps: int, stop_ps: int) -> list[int]:
    """Photons per whole bin [start + k·Δ, start + (k+1)·Δ), by testing every bin."""
    n = (stop_ps - start_ps) // bin_ps
    return [
        sum(
            1
            for ch in channels
            for t in ch
            if start_ps + k * bin_ps <= t < start_ps + (k + 1) * bin_ps
        )
        for k in range(n)
    ]


def pa_toeplitz_product(key_bits: list[int], seed_bits: list[int], n_out: int) -> list[int]:
    """GF(2) product of the explicit Toeplitz matrix T[i, j] = seed[i − j + n − 1] with the key."""
    n = len(key_bits)
    return [sum(seed_bits[i - j + n - 1] * key_bits[j] for j in range(n)) % 2 for i in range(n_out)]


def pa_syndrome(checks: list[list[int]], bits: list[int]) -> list[int]:
    """Parity of the bits each check (a list of variable indices) touches."""
    return [sum(bits[j] for j in row) % 2 for row in checks]


# ---- qkd post-processing (engineer HF): pp_ oracles ----
def pp_toeplitz_hash(key: list[int], seed: list[int], t: int) -> list[int]:
    """T·key over GF(2) with T[i][j] = seed[i - j + n - 1], by the definition."""
    n = len(key)
    return [sum(seed[i - j + n - 1] * key[j] for j in range(n)) % 2 for i in range(t)]


def pp_poly_hash(r: int, data: bytes) -> int:
    """Σ c_i r^(L-i+1) mod 2^127-1 over 15-byte little-endian chunks of data + b'\\x01'."""
    p = (1 << 127) - 1
    data = data + b"\x01"
    chunks = [int.from_bytes(data[i : i + 15], "little") for i in range(0, len(data), 15)]
    ell = len(chunks)
    return sum(c * pow(r, ell - i, p) for i, c in enumerate(chunks)) % p


def pp_range_parity(key: list[int], perm: list[int], lo: int, hi: int) -> int:
    """Parity of key[perm[lo]] ... key[perm[hi - 1]]."""
    return sum(key[perm[i]] for i in range(lo, hi)) % 2


def pp_node_range(h: int, lo: int, hi: int) -> tuple[int, int]:
    """Range of heap node h (root 1) by recursive halving with mid = (lo + hi) // 2."""
    if h == 1:
        return lo, hi
    plo, phi = pp_node_range(h // 2, lo, hi)
    mid = (plo + phi) // 2
    return (plo, mid) if h % 2 == 0 else (mid, phi)


# ---- mapping registration (engineer HK): reg_ oracles ----
def reg_similarity_lsq(
    src: list[tuple[float, float]], dst: list[tuple[float, float]], w: list[float]
) -> tuple[float, float, float, float]:
    """(tx, ty, θ, s) minimising Σ wᵢ|dstᵢ − s R(θ) srcᵢ − t|² by generic nonlinear least
    squares from a far start (no closed form, no SVD)."""
    import math

    import scipy.optimize

    def resid(p: list[float]) -> list[float]:
        tx, ty, th, s = p
        out = []
        for (x, y), (u, v), wi in zip(src, dst, w, strict=True):
            px = s * (math.cos(th) * x - math.sin(th) * y) + tx
            py = s * (math.sin(th) * x + math.cos(th) * y) + ty
            out += [math.sqrt(wi) * (u - px), math.sqrt(wi) * (v - py)]
        return out

    scale = max(max(abs(c) for pt in src + dst for c in pt), 1e-30)
    best = None
    for th0 in (0.0, 1.5, 3.0, -1.5):
        r = scipy.optimize.least_squares(
            lambda p: [c / scale for c in resid([p[0] * scale, p[1] * scale, p[2], p[3]])],
            [0.0, 0.0, th0, 1.0],
            xtol=1e-15,
            ftol=1e-15,
            gtol=1e-15,
        )
        if best is None or r.cost < best.cost:
            best = r
    assert best is not None
    tx, ty, th, s = best.x
    if s < 0:  # s R(θ) = (−s) R(θ + π)
        s, th = -s, th + math.pi
    return float(tx * scale), float(ty * scale), math.remainder(float(th), 2 * math.pi), float(s)


def reg_nearest_pairs(
    chip: list[tuple[float, float]], stage_in_chip: list[tuple[float, float]], gate: float
) -> list[tuple[int, int]]:
    """Sorted one-to-one (chip, spot) pairs: each spot's nearest chip point within the gate,
    keeping for a chip point only its closest spot (double loop)."""
    import math

    best: dict[int, tuple[float, int]] = {}
    for i, (x, y) in enumerate(stage_in_chip):
        d_best, k_best = math.inf, -1
        for k, (cx, cy) in enumerate(chip):
            d = math.hypot(cx - x, cy - y)
            if d < d_best:
                d_best, k_best = d, k
        if d_best <= gate and (k_best not in best or d_best < best[k_best][0]):
            best[k_best] = (d_best, i)
    return sorted((k, i) for k, (_, i) in best.items())


# --------------------------------------------------------------------- mapping: localization
def map_pixel_integral(
    xc: float, yc: float, pitch: float, x0: float, y0: float, sigma: float, sub: int = 200
) -> float:
    """Fraction of a normalised 2-D Gaussian falling in one square pixel: midpoint sum over a
    ``sub × sub`` grid inside the pixel (brute force)."""
    import math

    h = pitch / sub
    total = 0.0
    for i in range(sub):
        y = yc - pitch / 2 + (i + 0.5) * h
        gy = math.exp(-((y - y0) ** 2) / (2 * sigma**2))
        for j in range(sub):
            x = xc - pitch / 2 + (j + 0.5) * h
            total += gy * math.exp(-((x - x0) ** 2) / (2 * sigma**2))
    return total * h * h / (2 * math.pi * sigma**2)


def map_grid_mle(
    counts: list[list[float]],
    xs: list[float],
    ys: list[float],
    *,
    photons: float,
    background: float,
    sigma: float,
    candidates_x: list[float],
    candidates_y: list[float],
) -> tuple[float, float]:
    """Grid-search maximum of the Poisson log-likelihood Σ k ln μ − μ over (x0, y0) with the
    pixel-integrated Gaussian (erf, written out per pixel) and N, b, σ fixed."""
    import math

    pitch = xs[1] - xs[0]

    def frac(c: float, c0: float) -> float:
        s = sigma * math.sqrt(2.0)
        return 0.5 * (math.erf((c + pitch / 2 - c0) / s) - math.erf((c - pitch / 2 - c0) / s))

    best = (-math.inf, 0.0, 0.0)
    for x0 in candidates_x:
        for y0 in candidates_y:
            ll = 0.0
            for i, y in enumerate(ys):
                fy = frac(y, y0)
                for j, x in enumerate(xs):
                    mu = background + photons * fy * frac(x, x0)
                    ll += counts[i][j] * math.log(mu) - mu
            if ll > best[0]:
                best = (ll, x0, y0)
    return best[1], best[2]


# ------------------------------------------------------ hl_: characterization (engineer HL)


def hl_allan_deviation(y: list[float], m: int) -> float:
    """Overlapping Allan deviation written out (NIST SP 1065 eq. 11), double loop, absolute."""
    n = len(y)
    terms = []
    for j in range(n - 2 * m + 1):
        s = 0.0
        for i in range(j, j + m):
            s += y[i + m] - y[i]
        terms.append(s * s)
    return (sum(terms) / (2.0 * m * m * len(terms))) ** 0.5


def hl_exp_conv_gauss(tau_ns: float, tc_ns: float, sigma_ns: float) -> float:
    """exp(−|τ|/τc) convolved with a unit-area Gaussian by brute-force trapezoidal quadrature."""
    import math

    n = 20001
    half = 12.0 * sigma_ns
    total = 0.0
    step = 2.0 * half / (n - 1)
    for k in range(n):
        s = -half + k * step
        w = 0.5 if k in (0, n - 1) else 1.0
        g = math.exp(-(s * s) / (2.0 * sigma_ns**2)) / (sigma_ns * math.sqrt(2.0 * math.pi))
        total += w * g * math.exp(-abs(tau_ns - s) / tc_ns)
    return total * step


def hl_periodic_decay(
    t_ns: float, tau_ns: float, t0_ns: float, sigma_ns: float, period_ns: float
) -> float:
    """Σ over pulses m = −1 … 200 of the one-sided decay ⊛ a Gaussian, each by quad.

    Pulse m (at t0 − m·T) contributes ∫ g(s) e^{−(t − s − t0 + mT)/τ} ds over
    s ≤ t − t0 + mT (the decay starts at the pulse), integrated with its breakpoint.
    """
    import math

    from scipy import integrate

    def g(s: float) -> float:
        return math.exp(-(s * s) / (2.0 * sigma_ns**2)) / (sigma_ns * math.sqrt(2.0 * math.pi))

    total = 0.0
    for m in range(-1, 200):
        edge = t_ns - t0_ns + m * period_ns
        lo, hi = -12.0 * sigma_ns, min(12.0 * sigma_ns, edge)
        if hi <= lo:
            continue
        val, _ = integrate.quad(
            lambda s, e=edge: g(s) * math.exp(-(e - s) / tau_ns), lo, hi, epsabs=1e-13
        )
        total += val
    return total


def fd_curl_e_loops(grid: object, m: int, e_r: object, e_phi: object, e_z: object) -> tuple:
    """∇×E of an order-m field on the BOR grid, node by node from the cylindrical formulas.

    (∇×E)_r = (im/r̃)E_z − ∂_zE_φ/s_z at (r_i, z_{j+½}); (∇×E)_φ = ∂_zE_r/s_z − ∂_rE_z/s_r at
    (r_{i+½}, z_{j+½}); (∇×E)_z = ∂_r(r̃E_φ)/(r̃ s_r) − (im/r̃)E_r at (r_{i+½}, z_j); on the
    axis (i = 0) H_r has no (im/r)E_z term (E_z = 0 there for m ≠ 0, and m = 0 has no im).
    Plain Python loops; returns (H_r, H_φ, H_z) as nested lists.
    """
    g = grid
    nr, nz, dr, dz = g.nr, g.nz, g.dr_nm, g.dz_nm  # type: ignore[attr-defined]
    im = 1j * m
    ri = [i * dr for i in range(nr + 1)]
    rh = [(i + 0.5) * dr for i in range(nr)]
    zh = [g.z0_nm + (j + 0.5) * dz for j in range(nz)]  # type: ignore[attr-defined]

    def sr(r: float) -> tuple[complex, complex]:
        s, rt = g.stretch_r(__import__("numpy").array([r]))  # type: ignore[attr-defined]
        return complex(s[0]), complex(rt[0])

    def sz(z: float) -> complex:
        return complex(g.stretch_z(__import__("numpy").array([z]))[0])  # type: ignore[attr-defined]

    hr = [[0j] * nz for _ in range(nr + 1)]
    hp = [[0j] * nz for _ in range(nr)]
    hz = [[0j] * (nz + 1) for _ in range(nr)]
    for i in range(nr + 1):
        _, rt = sr(ri[i])
        for j in range(nz):
            term = 0j if i == 0 else im / rt * e_z[i][j]  # type: ignore[index]
            hr[i][j] = term - (e_phi[i][j + 1] - e_phi[i][j]) / dz / sz(zh[j])  # type: ignore[index]
    for i in range(nr):
        s, rt = sr(rh[i])
        _, rt0 = sr(ri[i])
        _, rt1 = sr(ri[i + 1])
        for j in range(nz):
            hp[i][j] = (e_r[i][j + 1] - e_r[i][j]) / dz / sz(zh[j]) - (  # type: ignore[index]
                e_z[i + 1][j] - e_z[i][j]  # type: ignore[index]
            ) / dr / s
        for j in range(nz + 1):
            circ = (rt1 * e_phi[i + 1][j] - rt0 * e_phi[i][j]) / dr  # type: ignore[index]
            hz[i][j] = circ / (rt * s) - im / rt * e_r[i][j]  # type: ignore[index]
    return hr, hp, hz


# --- engineer E (QKD post-processing speed): oracles -------------------------------------


def pp_left_half_parity(key: list[int], perm: list[int], k: int, k2: int, slot: int) -> int:
    """Parity of key[perm[lo:mid]] for the node at global slot ``slot`` of a pass."""
    b, h = divmod(slot, k2)  # pp_node_range is defined above (Cascade oracles)
    lo, hi = pp_node_range(h, b * k, min(b * k + k, len(perm)))
    mid = (lo + hi) // 2
    acc = 0
    for q in range(lo, mid):
        acc ^= key[perm[q]]
    return acc


# --- engineer G (characterization: spectrum, blinking, measured IRF): oracles -------------


def char_spectrum_density(
    lam_nm: float,
    n_tot: float,
    dw: float,
    lam0_nm: float,
    fwhm_nm: float,
    shift_mev: float,
    psb_fwhm_mev: float,
) -> float:
    """Photons per nm at ``lam_nm`` before the instrument function: truncated Lorentzian
    (±20 FWHM, renormalised) + Gaussian-in-energy sideband, written out term by term."""
    import math

    hc = 1239.841984
    g = fwhm_nm / 2.0
    cut = 20.0 * fwhm_nm
    norm = 2.0 / math.pi * math.atan(cut / g)
    zpl = g / math.pi / ((lam_nm - lam0_nm) ** 2 + g * g) / norm
    if abs(lam_nm - lam0_nm) > cut:
        zpl = 0.0
    e0 = hc / lam0_nm - shift_mev / 1000.0
    s = psb_fwhm_mev / 1000.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    e = hc / lam_nm
    psb = math.exp(-0.5 * ((e - e0) / s) ** 2) / (s * math.sqrt(2.0 * math.pi)) * hc / lam_nm**2
    return n_tot * (dw * zpl + (1.0 - dw) * psb)


def char_spectrum_pixels(
    lam_nm: list[float], params: list[float], resolution_nm: float, sub: int = 40
) -> list[float]:
    """Expected counts per pixel: the density convolved with the Gaussian instrument function
    by brute-force quadrature (step ``pitch/sub``, ±6 σ) and integrated over each pixel."""
    import math

    n_tot, dw, lam0, fwhm, shift, psb_w, b0 = params[:7]
    pitch = lam_nm[1] - lam_nm[0]
    sigma = resolution_nm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    h = pitch / sub
    n_k = int(6.0 * sigma / h) + 1
    kern = [math.exp(-0.5 * (k * h / sigma) ** 2) for k in range(-n_k, n_k + 1)]
    ksum = sum(kern)
    out = []
    for c in lam_nm:
        acc = 0.0
        for i in range(sub):
            x = c - pitch / 2.0 + (i + 0.5) * h
            conv = 0.0
            for k in range(-n_k, n_k + 1):
                conv += kern[k + n_k] * char_spectrum_density(
                    x - k * h, n_tot, dw, lam0, fwhm, shift, psb_w
                )
            acc += conv / ksum * h
        out.append(acc + b0)
    return out


def char_hmm_loglik(
    counts: list[int], rates: list[float], trans: list[list[float]], init: list[float]
) -> float:
    """Log-likelihood of a two-state Poisson HMM by the unscaled forward recursion in logs."""
    import math

    def logp(n: int, lam: float) -> float:
        return n * math.log(lam) - lam - math.lgamma(n + 1)

    def lse(a: float, b: float) -> float:
        m = max(a, b)
        return m + math.log(math.exp(a - m) + math.exp(b - m))

    la = [math.log(init[s]) + logp(counts[0], rates[s]) for s in range(2)]
    for n in counts[1:]:
        la = [
            lse(la[0] + math.log(trans[0][j]), la[1] + math.log(trans[1][j])) + logp(n, rates[j])
            for j in range(2)
        ]
    return lse(la[0], la[1])


def char_viterbi_bruteforce(
    counts: list[int], rates: list[float], trans: list[list[float]], init: list[float]
) -> list[int]:
    """Most probable state path by enumerating all 2^T paths (T <= 12)."""
    import itertools
    import math

    best, best_path = -math.inf, []
    for path in itertools.product((0, 1), repeat=len(counts)):
        v = math.log(init[path[0]])
        for t, s in enumerate(path):
            if t:
                v += math.log(trans[path[t - 1]][s])
            v += counts[t] * math.log(rates[s]) - rates[s] - math.lgamma(counts[t] + 1)
        if v > best:
            best, best_path = v, list(path)
    return best_path


def char_run_lengths(path: list[int]) -> tuple[list[int], list[int]]:
    """On (1) and off (0) run lengths, the first and last runs dropped."""
    runs: list[tuple[int, int]] = []
    for s in path:
        if runs and runs[-1][0] == s:
            runs[-1] = (s, runs[-1][1] + 1)
        else:
            runs.append((s, 1))
    inner = runs[1:-1]
    return [n for s, n in inner if s == 1], [n for s, n in inner if s == 0]


def char_reconvolve(irf: list[float], shift_bins: float, decay: list[float]) -> list[float]:
    """Circular convolution of the linearly-interpolated shifted IRF with a decay, O(K²)."""
    import math

    k_n = len(irf)
    i0 = math.floor(shift_bins)
    f = shift_bins - i0
    shifted = [(1 - f) * irf[(k - i0) % k_n] + f * irf[(k - i0 - 1) % k_n] for k in range(k_n)]
    return [sum(shifted[i] * decay[(k - i) % k_n] for i in range(k_n)) for k in range(k_n)]


def pp_modified_toeplitz(key: list[int], seed: list[int], m: int) -> list[int]:
    """(I_m | T) · key over GF(2), T[i][j] = seed[i − j + (n − m) − 1], by the definition."""
    n = len(key)
    nb = n - m
    out = []
    for i in range(m):
        acc = key[i]
        for j in range(nb):
            acc ^= seed[i - j + nb - 1] & key[m + j]
        out.append(acc)
    return out


def pp_minimal_odd(cand: list[int], st: list[int], k2: int) -> list[int]:
    """E3 oracle: distinct odd nodes of ``cand`` (global slots, ``k2`` per block) that are not
    a proper ancestor of another odd node of ``cand``; sorted."""
    odd = sorted({s for s in cand if st[s] == 1})
    out = []
    for s in odd:
        base = (s // k2) * k2
        has_odd_descendant = False
        for t in odd:
            if t != s and t // k2 == s // k2:
                h = t - base
                while h > 1:
                    h //= 2
                    if base + h == s:
                        has_odd_descendant = True
        if not has_odd_descendant:
            out.append(s)
    return out


def pp_pack64(key: list[int]) -> list[int]:
    """C7 oracle: 0/1 bits packed 64 per word, bit i of the key = bit i % 64 of word i // 64."""
    words = [0] * ((len(key) + 63) // 64)
    for i, bit in enumerate(key):
        words[i // 64] |= bit << (i % 64)
    return words


def ldpc_has_4_cycle(rows: list[list[int]]) -> bool:
    """L9 oracle: a Tanner graph has a 4-cycle iff two checks share two or more variables
    (checked pair by pair over the rows' variable sets)."""
    sets = [set(r) for r in rows]
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            if len(sets[i] & sets[j]) >= 2:
                return True
    return False
