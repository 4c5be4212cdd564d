"""Single-photon detectors (SPAD/SNSPD) and the time tagger.

Detector model (per detector, ``docs/twin/photophysics.md``):

* wavelength-dependent efficiency: a piecewise-linear curve, zero outside its range; it is
  folded into the detection probability η of each source (:func:`spectral_average`);
* Gaussian timing jitter of the given FWHM, added to each photon's arrival time; the
  registered time is floored to integer picoseconds;
* dark counts and background light: Poisson processes merged with the photons (jitter does not
  change a Poisson process, so none is drawn for them);
* non-paralyzable dead time ``τd`` on the registered times: an event less than ``τd`` after the
  last registered count is lost, without extending the dead period;
* afterpulsing: each registered count, with probability ``p_ap``, schedules an afterpulse at
  ``t + τd + X``, ``X ~ Exp(mean afterpulse_delay_ps)``. A later registered count releases the
  pending afterpulse (the new avalanche refills the traps), so the registered stream of a
  detector fed by Poisson light is a renewal process with mean interval
  ``τd + (1 − p)/r + p/(r + 1/d)``; :func:`registered_rate_per_s` is that closed form.

Time tagger: channel delays are added and the times are quantized by flooring to the tagger
resolution (``floor((t + delay) / res) · res``), giving sorted int64 ps per channel.

References
----------
Thorlabs SPCM20A/50A and Excelitas SPCM-AQ data sheets (Si SPAD efficiency 35–70 % at
500–700 nm, dark 25–500 cps, dead time 22–45 ns, jitter 300–350 ps FWHM); afterpulsing 0.5–3 %
and the InGaAs/SNSPD figures are estimates of ``REFERENCES.md``; Swabian Time Tagger Ultra
(8 ps resolution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT
from qlight._validation import check_fraction, check_nonnegative, check_positive
from qlight.errors import ParameterError

__all__ = [
    "INGAAS_SPAD",
    "SI_SPAD",
    "SNSPD",
    "SPADModel",
    "TimeTaggerModel",
    "apply_detector",
    "registered_rate_per_s",
    "split_and_jitter",
    "tag_channel",
]

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class SPADModel:
    """A single-photon detector.

    Parameters
    ----------
    efficiency_curve : tuple of (wavelength_nm, efficiency)
        Detection efficiency, linearly interpolated, 0 outside the tabulated range.
    dark_cps : float
        Dark-count rate (1/s).
    dead_time_ps : int
        Non-paralyzable dead time.
    jitter_fwhm_ps : float
        FWHM of the Gaussian timing jitter.
    afterpulse_prob : float
        Probability that a registered count schedules an afterpulse (< 1).
    afterpulse_delay_ps : float
        Mean of the exponential delay of an afterpulse beyond the dead time.
    """

    efficiency_curve: tuple[tuple[float, float], ...]
    dark_cps: float
    dead_time_ps: int
    jitter_fwhm_ps: float
    afterpulse_prob: float
    afterpulse_delay_ps: float

    def __post_init__(self) -> None:
        pts = np.asarray(self.efficiency_curve, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[0] < 1 or pts.shape[1] != 2 or not np.all(np.isfinite(pts)):
            raise ParameterError(
                "efficiency_curve", self.efficiency_curve, "must be (wavelength_nm, eff) pairs"
            )
        if np.any(np.diff(pts[:, 0]) <= 0.0) or np.any(pts[:, 0] <= 0.0):
            raise ParameterError(
                "efficiency_curve", self.efficiency_curve, "wavelengths must increase from > 0"
            )
        if np.any((pts[:, 1] < 0.0) | (pts[:, 1] > 1.0)):
            raise ParameterError(
                "efficiency_curve", self.efficiency_curve, "efficiencies must be in [0, 1]"
            )
        check_nonnegative("dark_cps", self.dark_cps)
        if isinstance(self.dead_time_ps, bool) or not isinstance(
            self.dead_time_ps, int | np.integer
        ):
            raise ParameterError("dead_time_ps", self.dead_time_ps, "must be an integer")
        if self.dead_time_ps < 0:
            raise ParameterError("dead_time_ps", self.dead_time_ps, "must be >= 0")
        check_nonnegative("jitter_fwhm_ps", self.jitter_fwhm_ps)
        if check_fraction("afterpulse_prob", self.afterpulse_prob) >= 1.0:
            raise ParameterError("afterpulse_prob", self.afterpulse_prob, "must be < 1")
        check_nonnegative("afterpulse_delay_ps", self.afterpulse_delay_ps)

    def efficiency_at(self, wavelength_nm: float) -> float:
        """Efficiency at ``wavelength_nm`` (linear interpolation, 0 outside the curve)."""
        lam = check_positive("wavelength_nm", wavelength_nm)
        pts = np.asarray(self.efficiency_curve, dtype=np.float64)
        return float(np.interp(lam, pts[:, 0], pts[:, 1], left=0.0, right=0.0))

    @property
    def jitter_sigma_ps(self) -> float:
        """Standard deviation of the Gaussian jitter, FWHM / (2√(2 ln 2))."""
        return self.jitter_fwhm_ps / FWHM_PER_SIGMA


#: Si SPAD (Excelitas SPCM-AQRH-like): 55–70 % at 500–700 nm, 100 cps dark, 22 ns dead time,
#: 350 ps jitter (data sheets in REFERENCES.md); curve outside 500–700 nm, afterpulsing 1 %
#: with a 50 ns mean delay are estimates.
SI_SPAD = SPADModel(
    efficiency_curve=(
        (350.0, 0.05),
        (400.0, 0.25),
        (500.0, 0.55),
        (600.0, 0.65),
        (700.0, 0.70),
        (800.0, 0.55),
        (900.0, 0.35),
        (1000.0, 0.10),
        (1100.0, 0.01),
    ),
    dark_cps=100.0,
    dead_time_ps=22_000,
    jitter_fwhm_ps=350.0,
    afterpulse_prob=0.01,
    afterpulse_delay_ps=50_000.0,
)

#: InGaAs SPAD for telecom emitters: dead time µs and ~2 % afterpulsing (REFERENCES.md);
#: 25 % efficiency at 1100–1600 nm, 1000 cps dark, 150 ps jitter and 1 µs delay are estimates.
INGAAS_SPAD = SPADModel(
    efficiency_curve=((900.0, 0.0), (1000.0, 0.15), (1100.0, 0.25), (1600.0, 0.25), (1700.0, 0.0)),
    dark_cps=1000.0,
    dead_time_ps=10_000_000,
    jitter_fwhm_ps=150.0,
    afterpulse_prob=0.02,
    afterpulse_delay_ps=1_000_000.0,
)

#: SNSPD: jitter < 100 ps (REFERENCES.md, 50 ps here); efficiency 60–85 %, 10 cps dark,
#: 50 ns recovery and no afterpulsing are estimates.
SNSPD = SPADModel(
    efficiency_curve=((400.0, 0.5), (650.0, 0.6), (1000.0, 0.8), (1550.0, 0.85), (2000.0, 0.5)),
    dark_cps=10.0,
    dead_time_ps=50_000,
    jitter_fwhm_ps=50.0,
    afterpulse_prob=0.0,
    afterpulse_delay_ps=0.0,
)


@dataclass(frozen=True, slots=True)
class TimeTaggerModel:
    """Time tagger: resolution (ps, floor quantization) and per-channel delays (ps)."""

    resolution_ps: int = 1
    channel_delays_ps: tuple[int, ...] = (0, 0)

    def __post_init__(self) -> None:
        res = self.resolution_ps
        if isinstance(res, bool) or not isinstance(res, int | np.integer) or res < 1:
            raise ParameterError("resolution_ps", res, "must be an integer >= 1")
        delays = self.channel_delays_ps
        if len(delays) < 2 or any(
            isinstance(d, bool) or not isinstance(d, int | np.integer) for d in delays
        ):
            raise ParameterError("channel_delays_ps", delays, "must be >= 2 integers")


def registered_rate_per_s(incoming_rate_per_s: float, spad: SPADModel) -> float:
    """Mean registered count rate of a detector fed by Poisson events at ``r`` (1/s).

    ``R = 1 / (τd + (1 − p)/r + p/(r + 1/d))``: the mean interval of the renewal process of
    the module docstring. ``p = 0`` gives the non-paralyzable ``R = r / (1 + r τd)``. Light
    from a single emitter is not Poisson; for it this is an approximation whose error is of
    order ``r τd · |g2 − 1|`` at delays ``≈ τd``.
    """
    r = check_nonnegative("incoming_rate_per_s", incoming_rate_per_s)
    if r == 0.0:
        return 0.0
    tau = spad.dead_time_ps * 1e-12
    p, d = spad.afterpulse_prob, spad.afterpulse_delay_ps * 1e-12
    ap = p / (r + 1.0 / d) if d > 0.0 else 0.0
    return 1.0 / (tau + (1.0 - p) / r + ap)


@njit(**JIT)  # type: ignore[untyped-decorator]
def _insertion_sort(arr: NDArray[np.int64]) -> None:
    """In-place insertion sort: O(n + inversions), for nearly sorted (jittered) times."""
    for i in range(1, arr.size):
        v = arr[i]
        if arr[i - 1] > v:
            j = i
            while j > 0 and arr[j - 1] > v:
                arr[j] = arr[j - 1]
                j -= 1
            arr[j] = v


@njit(**JIT)  # type: ignore[untyped-decorator]
def _split_jitter_kernel(
    rng: np.random.Generator,
    t_ps: NDArray[np.float64],
    thr: int,
    sigma0: float,
    sigma1: float,
    out0: NDArray[np.int64],
    out1: NDArray[np.int64],
) -> tuple[int, int]:
    """Route each photon to detector 0 with probability ``thr / 2^53``, add jitter, floor.

    The Bernoulli draw compares 16-bit chunks of a 53-bit uniform integer with the top 16
    bits of ``thr`` and, on a tie (probability 2^-16), the remaining 37 bits: exactly
    ``P = thr / 2^53`` at a third of a uniform per photon. Both outputs are written and only
    the chosen counter advances (no unpredictable branch); jitter only reorders locally, so
    the outputs are sorted afterwards by :func:`_insertion_sort` (linear when nearly sorted).
    """
    thr_hi = thr >> 37
    thr_lo = thr & ((1 << 37) - 1)
    bits = np.int64(0)
    left = 0
    n0 = 0
    n1 = 0
    for i in range(t_ps.size):
        if left == 0:
            bits = np.int64(rng.random() * 9007199254740992.0)  # 53 random bits
            left = 3
        chunk = bits & 0xFFFF
        bits >>= 16
        left -= 1
        to0 = bool(chunk < thr_hi)
        if chunk == thr_hi:
            to0 = bool(np.int64(rng.random() * 137438953472.0) < thr_lo)  # 37 more bits
        sig = sigma1 + to0 * (sigma0 - sigma1)
        v = np.int64(math.floor(t_ps[i] + sig * rng.standard_normal()))
        out0[n0] = v
        out1[n1] = v
        n0 += to0
        n1 += 1 - to0
    return n0, n1


def split_and_jitter(
    t_ps: NDArray[np.float64],
    p0: float,
    jitter_sigma_ps: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Beam splitter and detector jitter: per-detector sorted int64 registration times.

    Each photon goes to detector 0 with probability ``p0`` (independently), gets a Gaussian
    delay of standard deviation ``jitter_sigma_ps[k]`` and is floored to integer ps.
    """
    t = np.ascontiguousarray(t_ps, dtype=np.float64)
    if t.ndim != 1 or not np.all(np.isfinite(t)):
        raise ParameterError("t_ps", t_ps, "must be a 1-D array of finite times")
    p = check_fraction("p0", p0)
    s0 = check_nonnegative("jitter_sigma_ps[0]", jitter_sigma_ps[0])
    s1 = check_nonnegative("jitter_sigma_ps[1]", jitter_sigma_ps[1])
    out0 = np.empty(t.size + 1, dtype=np.int64)
    out1 = np.empty(t.size + 1, dtype=np.int64)
    thr = min(int(p * 2.0**53), 2**53)
    n0, n1 = _split_jitter_kernel(rng, t, thr, s0, s1, out0, out1)
    out0, out1 = out0[:n0], out1[:n1]
    _insertion_sort(out0)
    _insertion_sort(out1)
    return out0, out1


@njit(**JIT)  # type: ignore[untyped-decorator]
def _detector_kernel(
    rng: np.random.Generator,
    t_in: NDArray[np.int64],
    extra_per_ps: float,
    dead_ps: int,
    lam_ap: float,
    ap_mean_ps: float,
    t_end: int,
    out: NDArray[np.int64],
    st: NDArray[np.int64],
    next_extra: NDArray[np.float64],
) -> int:
    """Merge Poisson extras, apply dead time and afterpulsing; resumable (returns 1 if full).

    ``st`` = (input index, pending afterpulse, last count, countdown, n); ``next_extra[0]``
    is the next extra (dark/background) event. The countdown counts registered counts until
    the next one that schedules an afterpulse (geometric: an independent Bernoulli(p) each).
    """
    i, pending, last, countdown, n = st[0], st[1], st[2], st[3], st[4]
    t_x = next_extra[0]
    n_in = t_in.size
    cap = out.size
    while True:
        ts = t_in[i] if i < n_in else _NEVER
        te = np.int64(math.floor(t_x)) if t_x < t_end else _NEVER
        t = min(ts, te, pending)
        if t >= t_end:
            break
        if n >= cap:
            st[0], st[1], st[2], st[3], st[4] = i, pending, last, countdown, n
            next_extra[0] = t_x
            return 1
        if t == pending:
            pending = _NEVER
        elif t == ts:
            i += 1
        else:
            t_x += rng.standard_exponential() / extra_per_ps
        if t < 0 or t - last < dead_ps:
            continue
        out[n] = t
        n += 1
        last = t
        pending = _NEVER  # a new avalanche releases the pending afterpulse
        countdown -= 1
        if countdown == 0:
            pending = t + dead_ps + np.int64(math.floor(rng.standard_exponential() * ap_mean_ps))
            countdown = 1 + np.int64(min(rng.standard_exponential() / lam_ap, 4e18))
    st[0], st[1], st[2], st[3], st[4] = i, pending, last, countdown, n
    next_extra[0] = t_x
    return 0


def apply_detector(
    t_ps: NDArray[np.int64],
    spad: SPADModel,
    duration_ps: int,
    rng: np.random.Generator,
    *,
    extra_cps: float = 0.0,
) -> NDArray[np.int64]:
    """Registered counts of one detector in ``[0, duration_ps)``.

    Parameters
    ----------
    t_ps : ndarray of int64
        Sorted registration times of the photons reaching it (after jitter).
    spad : SPADModel
        Dark counts, dead time and afterpulsing (efficiency and jitter are applied upstream).
    duration_ps : int
        Acquisition length; events outside ``[0, duration_ps)`` are dropped.
    rng : numpy.random.Generator
    extra_cps : float
        Additional Poisson background (1/s) registered by this detector, e.g. laser-induced.
    """
    t = np.ascontiguousarray(t_ps, dtype=np.int64)
    if t.ndim != 1 or (t.size > 1 and np.any(np.diff(t) < 0)):
        raise ParameterError("t_ps", "array", "must be a sorted 1-D int64 array")
    if isinstance(duration_ps, bool) or not isinstance(duration_ps, int | np.integer):
        raise ParameterError("duration_ps", duration_ps, "must be an integer number of ps")
    if duration_ps <= 0:
        raise ParameterError("duration_ps", duration_ps, "must be > 0")
    rate = check_nonnegative("extra_cps", extra_cps) + spad.dark_cps
    extra_per_ps = rate * 1e-12
    p = spad.afterpulse_prob
    lam_ap = -math.log1p(-p) if p > 0.0 else 0.0
    next_extra = np.array(
        [rng.standard_exponential() / extra_per_ps if extra_per_ps > 0.0 else math.inf]
    )
    countdown = 1 + int(min(rng.standard_exponential() / lam_ap, 4e18)) if p > 0.0 else 2**62
    st = np.array([0, _NEVER, -(2**62), countdown, 0], dtype=np.int64)
    mean_extra = rate * duration_ps * 1e-12
    base = t.size + mean_extra + 6.0 * math.sqrt(mean_extra)
    cap = int(base * (1.0 + 3.0 * p / (1.0 - p)) + 1024)
    if spad.dead_time_ps > 0:
        cap = min(cap, duration_ps // spad.dead_time_ps + 2)
    out = np.empty(cap, dtype=np.int64)
    while _detector_kernel(
        rng,
        t,
        extra_per_ps,
        spad.dead_time_ps,
        lam_ap,
        spad.afterpulse_delay_ps,
        int(duration_ps),
        out,
        st,
        next_extra,
    ):
        grown = np.empty(int(out.size * 1.5) + 1024, dtype=np.int64)
        grown[: out.size] = out
        out = grown
    return out[: int(st[4])]


def tag_channel(
    t_ps: NDArray[np.int64], tagger: TimeTaggerModel, channel: int, *, in_place: bool = False
) -> NDArray[np.int64]:
    """Tagger output of one channel: ``floor((t + delay) / res) · res`` (sorted int64 ps).

    With ``in_place=True`` the (int64) input array is overwritten and returned.
    """
    if not 0 <= channel < len(tagger.channel_delays_ps):
        raise ParameterError("channel", channel, "must index tagger.channel_delays_ps")
    t = np.asarray(t_ps, dtype=np.int64)
    if not in_place:
        t = t.copy()
    t += np.int64(tagger.channel_delays_ps[channel])
    res = np.int64(tagger.resolution_ps)
    if res != 1:
        np.floor_divide(t, res, out=t)
        t *= res
    return t
