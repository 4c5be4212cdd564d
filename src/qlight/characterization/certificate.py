"""The emitter certificate: every characterization result from time tags, with provenance.

:func:`characterize_tags` runs, on the two HBT channels of one acquisition (and the laser sync
when there is one):

* the CW g2 fit (:func:`qlight.characterization.g2fit.fit_g2_cw`) — raw, Brouri-corrected and
  deconvolved g2(0), emitter number, antibunching and bunching times; with a sync, the pulsed
  g2(0) from peak areas;
* the lifetime reconvolution fit (pulsed data only);
* the count rate with a batch-means interval (20 consecutive batches, Student t: honest under
  blinking slower than a batch; Law & Kelton, *Simulation Modeling and Analysis*, §9.5.3);
* the Allan deviation of the count rate;
* the blinking analysis of the intensity trace (:func:`analyse_blinking`: two-state Poisson
  HMM, dwell times, exponential vs truncated power law);
* optionally a saturation fit of a power series (:func:`fit_saturation`), a polarization
  fit of an analyser series (:func:`fit_polarization`), a spectrum fit (:func:`fit_spectrum`:
  ZPL centre and width, Debye–Waller factor) and, for the lifetime, a measured IRF.

The JSON (:meth:`Certificate.as_json`) holds every result as
``{"value": v, "ci95": [lo, hi], "unit": u}`` under stable keys (:data:`RESULT_KEYS`), or
``{"value": null, "ci95": null, "unit": u, "note": why}`` when it was not determined.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from qlight import __version__
from qlight._validation import check_nonnegative, check_positive
from qlight.characterization.blinking import BLINKING_KEYS, BlinkingAnalysis, analyse_blinking
from qlight.characterization.g2fit import G2Fit, fit_g2_cw, g2_pulsed_areas, rho_from_rates
from qlight.characterization.lifetime import LifetimeFit, fit_lifetime
from qlight.characterization.polarization import PolarizationFit, fit_polarization
from qlight.characterization.saturation import SaturationFit, SaturationSeries, fit_saturation
from qlight.characterization.spectrum import SpectrumFit, fit_spectrum
from qlight.characterization.stability import AllanDeviation, allan_deviation
from qlight.characterization.uncertainty import Estimate, Result, Undetermined
from qlight.errors import ParameterError
from qlight.timetags.correlate import as_time_tags
from qlight.timetags.g2 import G2Histogram, g2_cw, g2_pulsed_ratio
from qlight.timetags.lifetime import LifetimeHistogram, lifetime_histogram_t2
from qlight.timetags.trace import IntensityTrace, intensity_trace

__all__ = [
    "RESULT_KEYS",
    "Certificate",
    "CertificateSettings",
    "PolarizationSeries",
    "SpectrumData",
    "characterize_tags",
    "count_rate_batch_means",
    "file_sha256",
]

RESULT_KEYS = (
    "g2_0_raw",
    "g2_0_corrected",
    "g2_0_deconvolved",
    "n_emitters",
    "antibunching_time_ns",
    "bunching_time_ns",
    "g2_0_pulsed",
    "lifetime_ns",
    "count_rate_cps",
    "i_inf_cps",
    "p_sat_w",
    "saturation_background_cps_per_w",
    "polarization_visibility",
    "dipole_angle_rad",
    "zpl_nm",
    "zpl_fwhm_nm",
    "debye_waller",
    *BLINKING_KEYS,
)
"""Stable keys of :meth:`Certificate.as_json` ``["results"]`` (always all present)."""

N_BATCHES = 20


@dataclass(frozen=True)
class CertificateSettings:
    """Analysis settings (all recorded in the provenance).

    Parameters
    ----------
    irf_sigma_ps : float
        Combined timing response of the two detectors, ``√(σ1² + σ2²)`` (ps).
    background_cps : float
        Background count rate per detector measured off the emitter (1/s); 0 = unknown
        (then ``ρ = 1`` and the corrected g2 equals the raw one; the report says so).
    g2_window_ps, g2_bin_ps : int
        Half range and bin of the CW g2 histogram.
    lifetime_bin_ps : int
        TCSPC bin.
    trace_bin_s : float
        Bin of the intensity trace (Allan deviation base).
    n_side_peaks : int
        Side peaks on each side for the pulsed g2(0).
    """

    irf_sigma_ps: float = 0.0
    background_cps: float = 0.0
    g2_window_ps: int = 200_000
    g2_bin_ps: int = 200
    lifetime_bin_ps: int = 50
    trace_bin_s: float = 1e-3
    n_side_peaks: int = 4

    def __post_init__(self) -> None:
        check_nonnegative("irf_sigma_ps", self.irf_sigma_ps)
        check_nonnegative("background_cps", self.background_cps)
        check_positive("trace_bin_s", self.trace_bin_s)
        for name in ("g2_window_ps", "g2_bin_ps", "lifetime_bin_ps", "n_side_peaks"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ParameterError(name, v, "must be a positive integer")
        if self.g2_window_ps % self.g2_bin_ps:
            raise ParameterError("g2_window_ps", self.g2_window_ps, "must be a bin multiple")


@dataclass(frozen=True)
class PolarizationSeries:
    """Counts behind an analyser at each angle (rad), integrated for ``duration_s``."""

    analyser_rad: NDArray[np.float64]
    counts: NDArray[np.int64]
    duration_s: NDArray[np.float64]


@dataclass(frozen=True)
class SpectrumData:
    """A spectrum: counts per pixel at pixel-centre wavelengths (linear grid) and the FWHM of
    the spectrometer's Gaussian instrument function; ``band_nm`` the band of a flat
    background level (detection filter), if any."""

    wavelength_nm: NDArray[np.float64]
    counts: NDArray[np.float64]
    resolution_nm: float
    band_nm: tuple[float, float] | None = None


@dataclass(frozen=True)
class BudgetLine:
    """One line of the uncertainty budget: a contribution to a result's 95 % half-width."""

    result: str
    source: str
    half_width: float
    unit: str


@dataclass
class Certificate:
    """All results, the data behind the figures and the provenance of one characterization."""

    results: dict[str, Result]
    settings: CertificateSettings
    provenance: dict[str, object]
    g2_hist: G2Histogram | None = None
    g2_fit: G2Fit | None = None
    lifetime_hist: LifetimeHistogram | None = None
    lifetime_fit: LifetimeFit | None = None
    trace: IntensityTrace | None = None
    allan: AllanDeviation | None = None
    saturation_series: SaturationSeries | None = None
    saturation_fit: SaturationFit | None = None
    polarization_data: PolarizationSeries | None = None
    polarization_fit: PolarizationFit | None = None
    spectrum_data: SpectrumData | None = None
    spectrum_fit: SpectrumFit | None = None
    blinking: BlinkingAnalysis | None = None
    budget: list[BudgetLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """Results under :data:`RESULT_KEYS`, the budget, notes and provenance."""
        out: dict[str, object] = {
            "results": {k: self.results[k].as_json() for k in RESULT_KEYS},
            "uncertainty_budget": [asdict(b) for b in self.budget],
            "notes": list(self.notes),
            "settings": asdict(self.settings),
            "provenance": dict(self.provenance),
        }
        if self.blinking is not None:
            out["blinking"] = self.blinking.as_json()
        if self.spectrum_fit is not None and self.spectrum_fit.curve.size:
            sf = self.spectrum_fit
            out["spectrum"] = {
                "psb_shift_mev": sf.psb_shift_mev,
                "psb_fwhm_mev": sf.psb_fwhm_mev,
                "deviance": sf.deviance,
                "dof": sf.dof,
            }
        if self.allan is not None:
            out["allan_deviation"] = {
                "tau_s": self.allan.tau_s.tolist(),
                "relative_adev": self.allan.adev.tolist(),
                "shot_noise": self.allan.shot_noise.tolist(),
            }
        return out


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def count_rate_batch_means(
    channels: Sequence[NDArray[np.int64]], duration_ps: int, n_batches: int = N_BATCHES
) -> Result:
    """Total count rate with a batch-means 95 % interval (module docstring).

    The record is cut into ``n_batches`` equal batches; the interval is
    ``ȳ ± t_{0.975, n−1} · s/√n`` over the batch rates.
    """
    total = sum(int(c.size) for c in channels)
    if total == 0:
        return Undetermined("count rate not determined: no counts", "1/s")
    edges = np.linspace(0.0, float(duration_ps), n_batches + 1)
    per = np.zeros(n_batches)
    for c in channels:
        per += np.histogram(c, bins=edges)[0]
    batch_s = duration_ps * 1e-12 / n_batches
    rates = per / batch_s
    mean = total / (duration_ps * 1e-12)
    half = (
        float(stats.t.ppf(0.975, n_batches - 1)) * float(rates.std(ddof=1)) / math.sqrt(n_batches)
    )
    # Never narrower than the Poisson interval of the total count.
    half = max(half, 1.96 * math.sqrt(total) / (duration_ps * 1e-12))
    return Estimate(mean, (mean - half, mean + half), "1/s", f"batch means ({n_batches})")


def _half(r: Result) -> float:
    return 0.5 * (r.ci95[1] - r.ci95[0]) if isinstance(r, Estimate) else math.nan


def _blinking(cert: Certificate) -> None:
    res = cert.results
    if cert.trace is None:
        why = "blinking not analysed: no intensity trace (record too short)"
        for k in BLINKING_KEYS:
            res[k] = Undetermined(why, "" if k == "blinking_on_fraction" else
                                  ("1/s" if k.endswith("cps") else "s"))  # fmt: skip
        return
    ba = analyse_blinking(cert.trace.counts, cert.settings.trace_bin_s)
    cert.blinking = ba
    res.update(ba.results)
    if not ba.blinking:
        cert.notes.append(ba.reason)
        return
    for k in BLINKING_KEYS:
        r = res[k]
        if isinstance(r, Estimate):
            cert.budget.append(BudgetLine(k, r.method, _half(r), r.unit))
    for name, law in (("on", ba.on_law), ("off", ba.off_law)):
        if law is not None:
            cert.notes.append(
                f"blinking {name} times: {law.preferred} preferred (likelihood ratio "
                f"{law.lr:.2f}, p = {law.p_value:.3g}, {law.n} periods)"
            )


def _spectrum(cert: Certificate, spectrum: SpectrumData | None) -> None:
    res = cert.results
    keys = (("zpl_nm", "nm"), ("zpl_fwhm_nm", "nm"), ("debye_waller", ""))
    if spectrum is None:
        for k, u in keys:
            res[k] = Undetermined("no spectrum given", u)
        return
    sf = fit_spectrum(spectrum.wavelength_nm, spectrum.counts,
                      resolution_nm=spectrum.resolution_nm, band_nm=spectrum.band_nm)  # fmt: skip
    cert.spectrum_data, cert.spectrum_fit = spectrum, sf
    res["zpl_nm"], res["zpl_fwhm_nm"], res["debye_waller"] = (
        sf.zpl_nm, sf.zpl_fwhm_nm, sf.debye_waller
    )  # fmt: skip
    for k, _ in keys:
        r = res[k]
        if isinstance(r, Estimate):
            cert.budget.append(BudgetLine(k, "Poisson statistics (profile likelihood; "
                                          "instrument function taken as exact)", _half(r),
                                          r.unit))  # fmt: skip
    if sf.curve.size:
        cert.notes.append(f"spectrum fit: deviance {sf.deviance:.1f} for {sf.dof} degrees of "
                          f"freedom; phonon sideband {sf.psb_shift_mev:.1f} meV below the ZPL, "
                          f"FWHM {sf.psb_fwhm_mev:.1f} meV")  # fmt: skip


def characterize_tags(
    a_ps: NDArray[np.int64],
    b_ps: NDArray[np.int64],
    *,
    duration_ps: int,
    settings: CertificateSettings,
    sync_ps: NDArray[np.int64] | None = None,
    period_ps: float | None = None,
    saturation: SaturationSeries | None = None,
    polarization: PolarizationSeries | None = None,
    provenance: Mapping[str, object] | None = None,
    spectrum: SpectrumData | None = None,
    irf_counts: NDArray[np.float64] | None = None,
) -> Certificate:
    """Characterize one HBT acquisition (module docstring).

    Parameters
    ----------
    a_ps, b_ps : ndarray of int64
        Sorted tags of the two detectors (ps).
    duration_ps : int
        Record length.
    settings : CertificateSettings
        Analysis settings.
    sync_ps : ndarray of int64, optional
        Laser sync tags (pulsed excitation); enables the lifetime and pulsed g2.
    period_ps : float, optional
        Laser period (required with ``sync_ps``).
    saturation : SaturationSeries, optional
        A power series for the saturation fit.
    polarization : PolarizationSeries, optional
        An analyser series for the visibility and dipole angle.
    provenance : mapping, optional
        File hashes and the like, merged into the certificate's provenance.
    spectrum : SpectrumData, optional
        A spectrum for the ZPL and Debye–Waller fit.
    irf_counts : ndarray, optional
        A measured IRF on the lifetime histogram's bins (``settings.lifetime_bin_ps``, range
        the period rounded down to whole bins): reconvolution with it instead of a Gaussian.
    """
    a = as_time_tags("a_ps", a_ps)
    b = as_time_tags("b_ps", b_ps)
    if duration_ps <= 0:
        raise ParameterError("duration_ps", duration_ps, "must be > 0")
    s = settings
    res: dict[str, Result] = {}
    notes: list[str] = []
    budget: list[BudgetLine] = []
    cert = Certificate(res, s, {}, budget=budget, notes=notes)

    rate = count_rate_batch_means([a, b], duration_ps)
    res["count_rate_cps"] = rate
    if isinstance(rate, Estimate):
        budget.append(BudgetLine("count_rate_cps", "statistical + slow fluctuations "
                                 "(batch means)", _half(rate), "1/s"))  # fmt: skip

    # CW g2 (for pulsed data the CW fit is meaningless: the pulsed areas are used instead).
    pulsed = sync_ps is not None
    rho = 1.0
    if s.background_cps > 0.0:
        per_det = 0.5 * (a.size + b.size) / (duration_ps * 1e-12)
        rho = rho_from_rates(per_det, s.background_cps)
    else:
        notes.append("no background rate given: rho = 1, g2_0_corrected equals g2_0_raw")
    window = min(s.g2_window_ps, (duration_ps // 4) // s.g2_bin_ps * s.g2_bin_ps)
    if window >= s.g2_bin_ps and a.size and b.size:
        cert.g2_hist = g2_cw(a, b, window_ps=window, bin_ps=s.g2_bin_ps, duration_ps=duration_ps)
    if pulsed:
        why = "CW g2 model not applicable to pulsed excitation (see g2_0_pulsed)"
        for k in ("g2_0_raw", "g2_0_corrected", "g2_0_deconvolved", "n_emitters"):
            res[k] = Undetermined(why, "")
        for k in ("antibunching_time_ns", "bunching_time_ns"):
            res[k] = Undetermined(why, "ns")
    elif cert.g2_hist is None:
        why = "g2(0) not determined: record too short or a channel empty"
        for k in ("g2_0_raw", "g2_0_corrected", "g2_0_deconvolved", "n_emitters"):
            res[k] = Undetermined(why, "")
        for k in ("antibunching_time_ns", "bunching_time_ns"):
            res[k] = Undetermined(why, "ns")
    else:
        fit = fit_g2_cw(cert.g2_hist, irf_sigma_ps=s.irf_sigma_ps, rho=rho)
        cert.g2_fit = fit
        res["g2_0_raw"] = fit.g2_0_raw
        res["g2_0_corrected"] = fit.g2_0_corrected
        res["g2_0_deconvolved"] = fit.g2_0_deconvolved
        res["n_emitters"] = fit.n_emitters
        res["antibunching_time_ns"] = fit.tau1_ns
        res["bunching_time_ns"] = fit.tau2_ns
        if isinstance(fit.g2_0_raw, Estimate):
            budget.append(BudgetLine("g2_0_raw", "Poisson statistics (profile likelihood)",
                                     _half(fit.g2_0_raw), ""))  # fmt: skip
            budget.append(BudgetLine("g2_0_corrected", "Poisson statistics / rho^2",
                                     _half(fit.g2_0_corrected), ""))  # fmt: skip
            if s.background_cps > 0.0:
                # A 10 % error of the background rate shifts rho by (1 − rho)·0.1:
                # d g_corr/d rho = 2(1 − g_raw)/rho³ (from Brouri eq. 3).
                g_raw = fit.g2_0_raw.value
                d = 2.0 * (1.0 - g_raw) / rho**3 * (1.0 - rho) * 0.1
                budget.append(BudgetLine("g2_0_corrected",
                                         "background rate (10 % assumed)", abs(d), ""))  # fmt: skip
        notes.append(
            f"g2 fit: deviance {fit.deviance:.1f} for {fit.dof} degrees of freedom"
            if math.isfinite(fit.deviance)
            else "g2 fit not made"
        )

    if pulsed:
        assert sync_ps is not None
        if period_ps is None or period_ps <= 0:
            raise ParameterError("period_ps", period_ps, "must be > 0 with sync_ps")
        sync = as_time_tags("sync_ps", sync_ps)
        period = round(period_ps)
        pr = g2_pulsed_ratio(a, b, period_ps=period, n_side_peaks=s.n_side_peaks,
                             peak_width_ps=period)  # fmt: skip
        res["g2_0_pulsed"] = g2_pulsed_areas(pr)
        merged = np.sort(np.concatenate([a, b]), kind="stable")
        range_ps = period // s.lifetime_bin_ps * s.lifetime_bin_ps
        cert.lifetime_hist = lifetime_histogram_t2(
            sync, merged, bin_ps=s.lifetime_bin_ps, range_ps=range_ps
        )
        if irf_counts is not None and np.asarray(irf_counts).size != cert.lifetime_hist.counts.size:
            raise ParameterError("irf_counts", np.asarray(irf_counts).size,
                                 f"must have {cert.lifetime_hist.counts.size} bins")  # fmt: skip
        lf = fit_lifetime(cert.lifetime_hist, period_ps=float(period_ps), irf=irf_counts)
        if irf_counts is not None:
            notes.append("lifetime: reconvolution with the measured IRF (shift fitted)")
        cert.lifetime_fit = lf
        res["lifetime_ns"] = lf.lifetime_ns
        if isinstance(lf.lifetime_ns, Estimate):
            budget.append(BudgetLine("lifetime_ns", "Poisson statistics (profile likelihood, "
                                     "IRF width and offset profiled)", _half(lf.lifetime_ns),
                                     "ns"))  # fmt: skip
    else:
        if irf_counts is not None:
            notes.append("measured IRF given but no laser sync: not used")
        res["g2_0_pulsed"] = Undetermined("no laser sync: CW excitation", "")
        res["lifetime_ns"] = Undetermined("lifetime not determined: no laser sync (CW)", "ns")

    n_bins = int(duration_ps * 1e-12 // s.trace_bin_s)
    if n_bins >= 8:
        bin_ps = round(s.trace_bin_s * 1e12)
        cert.trace = intensity_trace([a, b], bin_ps=bin_ps, start_ps=0, stop_ps=duration_ps)
        if cert.trace.counts.sum() > 0:
            cert.allan = allan_deviation(cert.trace.counts, s.trace_bin_s)
    else:
        notes.append(
            f"trace and Allan deviation not made: record shorter than 8 × {s.trace_bin_s} s"
        )
    _blinking(cert)
    _spectrum(cert, spectrum)

    unit = ("1/s", "W", "1/s/W")
    keys = ("i_inf_cps", "p_sat_w", "saturation_background_cps_per_w")
    if saturation is None:
        for k, u in zip(keys, unit, strict=True):
            res[k] = Undetermined("no power series given", u)
    else:
        sf = fit_saturation(saturation.power_w, saturation.counts, saturation.duration_s)
        cert.saturation_series, cert.saturation_fit = saturation, sf
        for k, r in zip(keys, (sf.i_inf_per_s, sf.p_sat_w, sf.background_per_s_per_w), strict=True):
            res[k] = r
            if isinstance(r, Estimate):
                budget.append(BudgetLine(k, "Poisson statistics (profile likelihood)",
                                         _half(r), r.unit))  # fmt: skip

    if polarization is None:
        res["polarization_visibility"] = Undetermined("no analyser series given", "")
        res["dipole_angle_rad"] = Undetermined("no analyser series given", "rad")
    else:
        pf = fit_polarization(polarization.analyser_rad, polarization.counts,
                              polarization.duration_s)  # fmt: skip
        cert.polarization_data, cert.polarization_fit = polarization, pf
        res["polarization_visibility"] = pf.visibility
        res["dipole_angle_rad"] = pf.dipole_angle_rad
        for k in ("polarization_visibility", "dipole_angle_rad"):
            r = res[k]
            if isinstance(r, Estimate):
                budget.append(BudgetLine(k, "Poisson statistics (profile likelihood)",
                                         _half(r), r.unit))  # fmt: skip

    prov: dict[str, object] = {
        "software": f"qlight {__version__}",
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "duration_s": duration_ps * 1e-12,
        "tags": [int(a.size), int(b.size)],
        "rho": rho,
    }
    prov.update(provenance or {})
    cert.provenance = prov
    return cert
