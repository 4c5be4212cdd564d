"""Self-contained HTML report of a :class:`~qlight.characterization.certificate.Certificate`.

One HTML file with no external resources: figures are inline base64 PNG (matplotlib, Agg),
styles inline. Sections: results table (value, 95 % interval, unit, method or the reason a
result was not determined), uncertainty budget, figures (g2 with fit, lifetime with fit,
intensity trace with the on/off segmentation, blinking dwell-time distributions, Allan
deviation, saturation, polarization, spectrum with fit), notes, provenance (file hashes,
software version, settings, date). Results that were not determined (no spectrum, no
blinking, too few counts) are stated with the reason.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qlight.characterization.certificate import RESULT_KEYS, Certificate
from qlight.characterization.uncertainty import Estimate, Result
from qlight.physics.emitter import saturation_curve

__all__ = ["LABELS", "render_html"]

LABELS: dict[str, str] = {
    "g2_0_raw": "g2(0), raw (IRF-limited, background included)",
    "g2_0_corrected": "g2(0), background-corrected (Brouri)",
    "g2_0_deconvolved": "g2(0), IRF-deconvolved",
    "n_emitters": "Number of emitters",
    "antibunching_time_ns": "Antibunching time τ1",
    "bunching_time_ns": "Bunching time τ2",
    "g2_0_pulsed": "g2(0), pulsed (peak areas)",
    "lifetime_ns": "Excited-state lifetime",
    "count_rate_cps": "Count rate (both detectors)",
    "i_inf_cps": "Saturation count rate I∞",
    "p_sat_w": "Saturation power P_sat",
    "saturation_background_cps_per_w": "Linear background c",
    "polarization_visibility": "Polarization visibility",
    "dipole_angle_rad": "Dipole angle (in-plane, mod π)",
    "zpl_nm": "Zero-phonon line centre",
    "zpl_fwhm_nm": "Zero-phonon line FWHM (instrument function removed)",
    "debye_waller": "Debye–Waller factor (ZPL / total emission)",
    "blinking_on_time_s": "Blinking: mean on time",
    "blinking_off_time_s": "Blinking: mean off time",
    "blinking_on_fraction": "Blinking: on fraction",
    "blinking_on_intensity_cps": "Blinking: count rate in the on state",
    "blinking_off_intensity_cps": "Blinking: count rate in the off state",
}

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em}
th{background:#eee;text-align:left}.nd{color:#a33}figure{display:inline-block;margin:.5em}
figcaption{text-align:center;font-size:.9em}code{font-size:.85em;word-break:break-all}
"""


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    return f"{v:.4g}"


def _png(draw: Callable[[Any], None]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    try:
        draw(ax)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _data_and_fit(
    x: NDArray[np.float64],
    data: NDArray[np.float64],
    curve: NDArray[np.float64] | None,
    fit_label: str,
    xlabel: str,
    ylabel: str,
) -> Callable[[Any], None]:
    """A drawing of a histogram (steps) with its fitted curve, when there is one."""

    def draw(ax: Any) -> None:
        ax.plot(x, data, drawstyle="steps-mid", lw=0.6, label="data")
        if curve is not None and curve.size:
            ax.plot(x, curve, lw=1.2, label=fit_label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend()

    return draw


def _figures(cert: Certificate) -> list[tuple[str, str]]:
    figs: list[tuple[str, str]] = []
    h, fit = cert.g2_hist, cert.g2_fit
    if h is not None:
        g2 = _data_and_fit(
            h.center_ps * 1e-3, h.g2, None if fit is None else fit.curve, "fit",
            "delay τ (ns)", "g2(τ)",
        )  # fmt: skip
        figs.append(("g2 with three-level fit (IRF and background included)", _png(g2)))
    lh, lf = cert.lifetime_hist, cert.lifetime_fit
    if lh is not None:

        def life(ax: Any) -> None:
            t = (lh.t_ps + 0.5 * lh.bin_ps) * 1e-3
            ax.semilogy(t, np.maximum(lh.counts, 0.5), drawstyle="steps-mid", lw=0.6, label="data")
            if lf is not None and lf.curve.size:
                ax.semilogy(t, lf.curve, lw=1.2, label="fit")
            ax.set_xlabel("delay after the laser pulse (ns)")
            ax.set_ylabel("counts per bin")
            ax.legend()

        figs.append(("Lifetime: TCSPC histogram and reconvolution fit", _png(life)))
    tr = cert.trace
    if tr is not None:

        def trace(ax: Any) -> None:
            ax.plot(tr.t_ps * 1e-12, tr.rate_per_s * 1e-3, lw=0.5)
            ax.set_xlabel("time (s)")
            ax.set_ylabel("count rate (kcps)")

        figs.append(("Intensity trace", _png(trace)))
    ba = cert.blinking
    if tr is not None and ba is not None and ba.blinking and ba.hmm is not None:
        hmm = ba.hmm

        def seg(ax: Any) -> None:
            n = min(tr.counts.size, 2000)
            t = tr.t_ps[:n] * 1e-12
            ax.plot(t, tr.counts[:n], lw=0.5, label="counts per bin")
            ax.plot(t, hmm.rates[ba.path[:n].astype(np.int64)], lw=1.0, label="HMM state")
            ax.set_xlabel("time (s)")
            ax.set_ylabel("photons per bin")
            ax.legend()

        figs.append(("Blinking: on/off segmentation (two-state HMM, Viterbi)", _png(seg)))

        def dwell(ax: Any) -> None:
            for name, d in (("on", ba.on_dwell_bins), ("off", ba.off_dwell_bins)):
                x = np.sort(d) * ba.bin_s
                ax.loglog(x, 1.0 - np.arange(x.size) / x.size, ".", label=f"{name} periods")
            ax.set_xlabel("dwell time (s)")
            ax.set_ylabel("fraction of periods ≥ t")
            ax.legend()

        figs.append(("Blinking: dwell-time distributions (complementary CDF)", _png(dwell)))
    sd, spf = cert.spectrum_data, cert.spectrum_fit
    if sd is not None:
        spec = _data_and_fit(
            sd.wavelength_nm, sd.counts, None if spf is None else spf.curve,
            "fit (ZPL + sideband)", "wavelength (nm)", "counts per pixel",
        )  # fmt: skip
        figs.append(("Spectrum: zero-phonon line and phonon sideband fit", _png(spec)))
    al = cert.allan
    if al is not None:

        def allan(ax: Any) -> None:
            ax.loglog(al.tau_s, al.adev, "o-", label="measured")
            ax.loglog(al.tau_s, al.shot_noise, "--", label="shot noise")
            ax.set_xlabel("averaging time τ (s)")
            ax.set_ylabel("relative Allan deviation")
            ax.legend()

        figs.append(("Stability: Allan deviation of the count rate", _png(allan)))
    ss, sf = cert.saturation_series, cert.saturation_fit
    if ss is not None:

        def sat(ax: Any) -> None:
            ax.plot(ss.power_w * 1e3, ss.rate_per_s * 1e-3, "o", label="data")
            i_inf = None if sf is None else sf.i_inf_per_s
            p_sat = None if sf is None else sf.p_sat_w
            c = None if sf is None else sf.background_per_s_per_w
            if (
                isinstance(i_inf, Estimate)
                and isinstance(p_sat, Estimate)
                and isinstance(c, Estimate)
            ):
                p = np.linspace(0.0, float(ss.power_w.max()) * 1.05, 200)
                rate = saturation_curve(p, i_inf.value, p_sat.value, c.value)
                ax.plot(p * 1e3, rate * 1e-3, label="fit")
            ax.set_xlabel("laser power (mW)")
            ax.set_ylabel("count rate (kcps)")
            ax.legend()

        figs.append(("Saturation", _png(sat)))
    pd, pf = cert.polarization_data, cert.polarization_fit
    if pd is not None:

        def pol(ax: Any) -> None:
            ax.plot(
                np.degrees(pd.analyser_rad), pd.counts / pd.duration_s * 1e-3, "o", label="data"
            )
            vis = None if pf is None else pf.visibility
            ang = None if pf is None else pf.dipole_angle_rad
            if pf is not None and isinstance(vis, Estimate) and isinstance(ang, Estimate):
                th = np.linspace(0.0, np.pi, 181)
                i = pf.mean_rate_per_s * (1.0 + vis.value * np.cos(2.0 * (th - ang.value)))
                ax.plot(np.degrees(th), i * 1e-3, label="fit")
            ax.set_xlabel("analyser angle (deg)")
            ax.set_ylabel("count rate (kcps)")
            ax.legend()

        figs.append(("Polarization", _png(pol)))
    return figs


def _row(key: str, r: Result) -> str:
    label = html.escape(LABELS.get(key, key))
    if isinstance(r, Estimate):
        lo, hi = r.ci95
        return (
            f"<tr><td>{label}</td><td><code>{key}</code></td><td>{_fmt(r.value)}</td>"
            f"<td>[{_fmt(lo)}, {_fmt(hi)}]</td><td>{html.escape(r.unit)}</td>"
            f"<td>{html.escape(r.method)}</td></tr>"
        )
    return (
        f"<tr><td>{label}</td><td><code>{key}</code></td>"
        f'<td colspan="2" class="nd">not determined</td><td>{html.escape(r.unit)}</td>'
        f'<td class="nd">{html.escape(r.reason)}</td></tr>'
    )


def render_html(cert: Certificate, *, title: str = "qlight emitter certificate") -> str:
    """The complete, self-contained HTML document of a certificate."""
    rows = "".join(_row(k, cert.results[k]) for k in RESULT_KEYS)
    budget = "".join(
        f"<tr><td><code>{html.escape(b.result)}</code></td><td>{html.escape(b.source)}</td>"
        f"<td>{_fmt(b.half_width)}</td><td>{html.escape(b.unit)}</td></tr>"
        for b in cert.budget
    )
    figs = "".join(
        f'<figure><img alt="{html.escape(cap)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(cap)}</figcaption></figure>"
        for cap, data in _figures(cert)
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in cert.notes)
    if cert.spectrum_data is None:
        notes += "<li>Spectrum (ZPL, Debye–Waller factor): not measured (no spectrum given).</li>"
    prov = html.escape(json.dumps(cert.provenance, indent=2, default=str))
    settings = html.escape(json.dumps(cert.as_json()["settings"], indent=2))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        "<h2>Results</h2><p>Intervals are 95 % confidence intervals.</p>"
        "<table><tr><th>quantity</th><th>key</th><th>value</th><th>95 % interval</th>"
        f"<th>unit</th><th>method / note</th></tr>{rows}</table>"
        "<h2>Uncertainty budget</h2><p>Contributions to the 95 % half-width.</p>"
        "<table><tr><th>result</th><th>source</th><th>half-width</th><th>unit</th></tr>"
        f"{budget}</table>"
        f"<h2>Figures</h2>{figs}"
        f"<h2>Notes</h2><ul>{notes}</ul>"
        f"<h2>Provenance</h2><pre>{prov}</pre><h3>Settings</h3><pre>{settings}</pre>"
        "</body></html>\n"
    )
