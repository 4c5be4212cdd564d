"""Qualification of one emitter at the current focus: g2(0), brightness, ZPL; fingerprint.

* **g2(0)** from a short HBT acquisition (:func:`qlight.timetags.g2.g2_cw` on channels 0
  and 1, :func:`~qlight.timetags.g2.g2_at_zero` over ``±half_width_ps``), corrected for
  the uncorrelated background measured in the scan (Brouri et al. 2000). ``n`` equal
  emitters give ``g2(0) = 1 − 1/n`` (Michler, *Single Semiconductor Quantum Dots* (2009),
  Ch. 6), so an emitter counts as single when ``g2(0) + 2σ < 0.5``.
* **Brightness**: total count rate of the detectors.
* **ZPL**: a Gaussian plus constant fitted to the spectrum around its maximum.
* **Polarization**: the twin offers no analyser in the detection path, so the polarization
  angle is **not measured** (``None``); the field is kept for hardware that has one.
* **Fingerprint**: ZPL, brightness, g2(0) and the neighbour geometry (distances to the
  nearest emitters and the angle between the two nearest, both invariant under the rigid
  motion of a power cycle).
* **Quality score** in ``[0, 1]``: ``0`` for multi-emitters, else
  ``(1 − g2(0))·R/(R + R½)`` with ``R`` the count rate and ``R½ = 100 kcps`` (a heuristic:
  purity times saturating brightness).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from qlight._validation import check_positive
from qlight.errors import ParameterError
from qlight.instruments.protocols import Spectrometer, Spectrum, TimeTagger
from qlight.timetags.g2 import g2_at_zero, g2_cw

__all__ = [
    "Fingerprint",
    "Qualification",
    "background_corrected_g2",
    "fit_zpl_nm",
    "g2_duration_s",
    "neighbour_geometry",
    "qualify_here",
    "quality_score",
    "quick_g2",
]

#: Count rate at which the brightness factor of the score reaches 1/2.
RATE_HALF_PER_S = 1e5


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What identifies an emitter again after a power cycle."""

    zpl_nm: float
    brightness_per_s: float
    g2_0: float
    g2_0_err: float
    g2_0_raw: float = math.nan
    neighbour_dist_m: tuple[float, ...] = ()
    neighbour_angle_rad: float = math.nan
    polarization_deg: float | None = None


@dataclass(frozen=True, slots=True)
class Qualification:
    """The verdict on one emitter: fingerprint, single or not, score and reason."""

    fingerprint: Fingerprint
    single: bool
    score: float
    reason: str


def g2_duration_s(
    rate_a_per_s: float,
    rate_b_per_s: float,
    *,
    half_width_ps: int,
    target_expected: float = 15.0,
    min_s: float = 0.5,
    max_s: float = 30.0,
) -> float:
    """Acquisition time for ``target_expected`` uncorrelated coincidences in ``±half_width``.

    The uncorrelated expectation is ``r_a·r_b·Δτ·T`` (REFERENCES.md, "Time tags"), so the
    standard error of g2(0) is about ``√(g2(0)·E)/E``; ``E = 15`` resolves
    ``g2(0) + 2σ < 0.5`` for a single emitter with g2(0) ≲ 0.2 and rejects a pair
    (g2(0) ≥ 0.5) always.
    """
    prod = max(rate_a_per_s, 0.0) * max(rate_b_per_s, 0.0) * 2 * half_width_ps * 1e-12
    if prod <= 0.0:
        return min_s
    return float(min(max_s, max(min_s, target_expected / prod)))


def quick_g2(
    tagger: TimeTagger,
    duration_s: float | None = None,
    *,
    bin_ps: int = 200,
    window_ps: int = 20_000,
    half_width_ps: int = 200,
    max_duration_s: float = 30.0,
) -> tuple[float, float, float]:
    """Record tags and return ``(g2(0), its standard error, rate_per_s)``.

    ``duration_s=None`` measures the rates for 0.1 s first and picks the duration with
    :func:`g2_duration_s` (at most ``max_duration_s``).
    """
    if tagger.n_channels < 2:
        raise ParameterError("tagger", tagger.n_channels, "needs >= 2 channels for g2")
    if duration_s is None:
        r = tagger.count_rates(0.1).rates_per_s
        duration_s = g2_duration_s(r[0], r[1], half_width_ps=half_width_ps, max_s=max_duration_s)
    tags = tagger.acquire(check_positive("duration_s", duration_s))
    hist = g2_cw(
        tags.t_ps[0], tags.t_ps[1], window_ps=window_ps, bin_ps=bin_ps, duration_ps=tags.duration_ps
    )
    g0, err = g2_at_zero(hist, half_width_ps=half_width_ps)
    rate = sum(tags.counts) / (tags.duration_ps * 1e-12)
    return g0, err, rate


def _gauss(x: NDArray[np.float64], c: float, a: float, x0: float, w: float) -> NDArray[np.float64]:
    return np.asarray(c + a * np.exp(-0.5 * ((x - x0) / w) ** 2), dtype=np.float64)


def fit_zpl_nm(spectrum: Spectrum, *, half_window_nm: float = 3.0) -> float:
    """Centre of the zero-phonon line: Gaussian + constant fitted around the maximum.

    Returns NaN for a spectrum without a significant peak (5 Poisson σ above the median).
    """
    wl = np.asarray(spectrum.wavelength_nm, dtype=np.float64)
    k = np.asarray(spectrum.counts, dtype=np.float64)
    i = int(np.argmax(k))
    floor = float(np.median(k))
    if k[i] - floor < 5.0 * math.sqrt(max(k[i], 1.0)):
        return math.nan
    sel = np.abs(wl - wl[i]) <= half_window_nm
    dw = float(abs(wl[1] - wl[0])) if wl.size > 1 else 0.1
    try:
        popt, _ = optimize.curve_fit(
            _gauss,
            wl[sel],
            k[sel],
            p0=[floor, k[i] - floor, float(wl[i]), max(dw, 0.3)],
            sigma=np.sqrt(np.maximum(k[sel], 1.0)),
            maxfev=2000,
        )
    except (RuntimeError, ValueError):
        return float(wl[i])
    x0 = float(popt[2])
    return x0 if abs(x0 - wl[i]) <= half_window_nm else float(wl[i])


def neighbour_geometry(
    x_m: float, y_m: float, others_x_m: ArrayLike, others_y_m: ArrayLike, *, k: int = 3
) -> tuple[tuple[float, ...], float]:
    """Distances to the ``k`` nearest other emitters and the angle between the two nearest."""
    ox = np.asarray(others_x_m, dtype=np.float64) - x_m
    oy = np.asarray(others_y_m, dtype=np.float64) - y_m
    d = np.hypot(ox, oy)
    keep = d > 0.0
    ox, oy, d = ox[keep], oy[keep], d[keep]
    order = np.argsort(d)[:k]
    angle = math.nan
    if order.size >= 2:
        a0 = math.atan2(oy[order[0]], ox[order[0]])
        a1 = math.atan2(oy[order[1]], ox[order[1]])
        angle = abs((a1 - a0 + math.pi) % (2 * math.pi) - math.pi)
    return tuple(float(v) for v in d[order]), angle


def background_corrected_g2(
    g2_0: float, g2_0_err: float, rate_per_s: float, background_rate_per_s: float
) -> tuple[float, float]:
    """Correct g2(0) for uncorrelated background: ``(g2 − (1 − ρ²))/ρ²``, ``ρ = S/(S + B)``.

    Brouri et al., Opt. Lett. 25, 1294 (2000), Eq. 1; the standard error scales by ``1/ρ²``.
    Returns the input unchanged when ``ρ`` is not in ``(0.1, 1]`` (no reliable correction).
    """
    if rate_per_s <= 0.0 or not math.isfinite(background_rate_per_s):
        return g2_0, g2_0_err
    rho = 1.0 - max(background_rate_per_s, 0.0) / rate_per_s
    if not 0.1 < rho <= 1.0:
        return g2_0, g2_0_err
    return (g2_0 - (1.0 - rho * rho)) / (rho * rho), g2_0_err / (rho * rho)


def quality_score(g2_0: float, g2_0_err: float, rate_per_s: float) -> tuple[bool, float, str]:
    """``(single, score, reason)`` from g2(0) and the count rate (see the module docstring)."""
    if not math.isfinite(g2_0) or not math.isfinite(g2_0_err):
        return False, 0.0, "g2(0) not measurable (no counts)"
    if g2_0 + 2.0 * g2_0_err >= 0.5:
        return False, 0.0, f"multi-emitter: g2(0) = {g2_0:.2f} ± {g2_0_err:.2f}"
    score = max(0.0, 1.0 - g2_0) * rate_per_s / (rate_per_s + RATE_HALF_PER_S)
    return True, float(min(1.0, score)), ""


def qualify_here(
    tagger: TimeTagger,
    spectrometer: Spectrometer,
    *,
    g2_duration_s: float | None = None,
    max_g2_duration_s: float = 30.0,
    spectrum_exposure_s: float = 0.5,
    background_rate_per_s: float = 0.0,
) -> Qualification:
    """Qualify the emitter at the current focus (neighbour geometry added by the caller).

    ``g2_duration_s=None`` chooses the HBT time from the count rate (:func:`quick_g2`).
    ``background_rate_per_s`` (e.g. the fitted scan background per pixel over the dwell)
    corrects g2(0) for uncorrelated background (:func:`background_corrected_g2`); the raw
    value is kept in the fingerprint.
    """
    raw, raw_err, rate = quick_g2(tagger, g2_duration_s, max_duration_s=max_g2_duration_s)
    g0, err = background_corrected_g2(raw, raw_err, rate, background_rate_per_s)
    spec = spectrometer.acquire_spectrum(check_positive("spectrum_exposure_s", spectrum_exposure_s))
    zpl = fit_zpl_nm(spec)
    single, score, reason = quality_score(g0, err, rate)
    return Qualification(Fingerprint(zpl, rate, g0, err, raw), single, score, reason)
