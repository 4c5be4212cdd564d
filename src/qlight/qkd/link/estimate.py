"""What Alice and Bob measure on a simulated link, and the key rates they would claim.

Statistics (per intensity class, from a :class:`~qlight.qkd.link.records.LinkRecord`):
gain ``Q_k = D_k / N_k`` with binomial standard error ``√(Q(1 − Q)/N)``; QBER per basis on
the sifted rows, ``E = errors / sifted`` with ``√(E(1 − E)/n)``. Key rates per sent pulse,
asymptotic, computed from the *observed* values as a real system would:

* ``naive`` — the single-photon BB84 rate ``q Q [1 − h(E) − f h(E)]`` (Shor & Preskill,
  PRL 85, 441 (2000)) applied as if every detection came from a single photon: what a WCP
  system that ignores multi-photon pulses would claim;
* ``gllp`` — Gottesman, Lo, Lütkenhaus, Preskill, QIC 4, 325 (2004): the multi-photon
  pulses are tagged, ``Δ = p_multi / Q``, ``R = q Q [(1 − Δ)(1 − h(E/(1 − Δ))) − f h(E)]``
  with ``p_multi = g2 μ²/2`` (SPS) or ``1 − e^{−μ}(1 + μ)`` (WCP);
* ``decoy`` (vacuum + weak) — Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Sec. IV.B:
  ``Y1^L = μ/(μν − ν²) [Q_ν e^ν − Q_μ e^μ ν²/μ² − (μ² − ν²)/μ² Y0]``,
  ``e1^U = (E_ν Q_ν e^ν − Y0/2)/(Y1^L ν)``, ``Q1 = Y1^L μ e^{−μ}``,
  ``R = q [Q1 (1 − h(e1)) − f Q_μ h(E_μ)]``, with ``Y0`` the measured vacuum gain.

Rates are per sent *signal* pulse (the GYS/Ma et al. convention, decoy pulses not
charged); ``q`` is the sifting probability ``q_Z² + q_X²`` (1/2 for symmetric BB84). Each estimate
also records the fraction of sifted key it assumes Eve may know (``assumed_tagged``:
0, Δ, 1 − Q1/Q); the simulation knows the fraction Eve really knows, and an estimate whose
positive rate assumes less than that (by more than 3 standard errors) is *compromised*.
Statistical fluctuations of the finite run are not included (asymptotic formulas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qlight.qkd.link.records import FLAG_AFTERPULSE, FLAG_DOUBLE, LinkRecord
from qlight.qkd.theory.result import binary_entropy

__all__ = [
    "IntensityStats",
    "KeyRateEstimate",
    "LinkStatistics",
    "binary_entropy",
    "estimate_key_rates",
    "link_statistics",
]

#: QBER above which BB84 with one-way post-processing gives no key (Shor–Preskill 11 %).
QBER_LIMIT = 0.11


def _ratio(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    return p, math.sqrt(p * (1.0 - p) / n)


@dataclass(frozen=True)
class IntensityStats:
    """Observed values of one intensity class (errors are one binomial standard error)."""

    mu: float
    sent: int
    detections: int
    gain: float
    gain_err: float
    sifted_z: int
    qber_z: float
    qber_z_err: float
    sifted_x: int
    qber_x: float
    qber_x_err: float
    sifted: int
    qber: float
    qber_err: float


@dataclass(frozen=True)
class LinkStatistics:
    """Per-class statistics, the signal's sifted key and what Eve knows of it."""

    per_intensity: tuple[IntensityStats, ...]
    sifted_key_length: int
    double_click_fraction: float
    afterpulse_fraction: float
    eve_known_fraction: float
    eve_known_err: float
    sifting_prob: float

    @property
    def signal(self) -> IntensityStats:
        """The signal (key) class."""
        return self.per_intensity[0]


def link_statistics(record: LinkRecord, *, basis_prob_z: float | None = None) -> LinkStatistics:
    """Gains and QBERs per class and basis, sifted key length, Eve's known fraction."""
    qz = float(record.metadata.get("basis_prob_z", 0.5)) if basis_prob_z is None else basis_prob_z
    sifted = record.sifted
    wrong = record.errors
    per: list[IntensityStats] = []
    for k, mu in enumerate(record.intensities):
        rows = record.intensity == k
        n_sent = int(record.sent_per_intensity[k])
        d = int(np.count_nonzero(rows))
        gain, gain_err = _ratio(d, n_sent)
        vals: list[tuple[int, float, float]] = []
        for basis in (0, 1, None):
            sel = rows & sifted if basis is None else rows & sifted & (record.alice_basis == basis)
            n = int(np.count_nonzero(sel))
            vals.append((n, *_ratio(int(np.count_nonzero(wrong & sel)), n)))
        per.append(IntensityStats(mu, n_sent, d, gain, gain_err, *vals[0], *vals[1], *vals[2]))
    key = sifted & (record.intensity == 0)
    n_key = int(np.count_nonzero(key))
    known, known_err = _ratio(int(np.count_nonzero(record.eve_knows & key)), n_key)
    n = max(len(record), 1)
    return LinkStatistics(
        per_intensity=tuple(per),
        sifted_key_length=n_key,
        double_click_fraction=float(np.count_nonzero(record.flags & FLAG_DOUBLE)) / n,
        afterpulse_fraction=float(np.count_nonzero(record.flags & FLAG_AFTERPULSE)) / n,
        eve_known_fraction=known,
        eve_known_err=known_err,
        sifting_prob=qz * qz + (1.0 - qz) ** 2,
    )


@dataclass(frozen=True)
class KeyRateEstimate:
    """A key rate claimed from observed data, and whether Eve's real knowledge breaks it."""

    method: str
    rate_per_pulse: float
    reason: str | None
    assumed_tagged: float
    compromised: bool
    details: dict[str, float]


def _finish(
    method: str, rate: float, why: str | None, tagged: float, stats: LinkStatistics,
    details: dict[str, float],
) -> KeyRateEstimate:  # fmt: skip
    if rate <= 0.0 or not math.isfinite(rate):
        rate = 0.0
        why = why or "the estimated secret fraction is not positive"
    else:
        why = None
    known = stats.eve_known_fraction
    margin = 3.0 * stats.eve_known_err
    compromised = rate > 0.0 and math.isfinite(known) and known - margin > min(tagged, 1.0)
    return KeyRateEstimate(method, rate, why, tagged, compromised, details)


def _naive(stats: LinkStatistics, f_ec: float) -> KeyRateEstimate:
    s = stats.signal
    if not s.qber < QBER_LIMIT:
        return _finish("naive", 0.0, f"QBER {s.qber:.4f} >= {QBER_LIMIT}", 0.0, stats, {})
    h = binary_entropy(s.qber)
    rate = stats.sifting_prob * s.gain * (1.0 - h - f_ec * h)
    return _finish("naive", rate, None, 0.0, stats, {})


def _gllp(stats: LinkStatistics, p_multi: float, f_ec: float) -> KeyRateEstimate:
    s = stats.signal
    delta = p_multi / s.gain if s.gain > 0 else math.inf
    details = {"p_multi": p_multi, "delta": delta}
    if not delta < 1.0:
        return _finish("gllp", 0.0, f"multi-photon fraction {delta:.3g} >= 1", 1.0, stats, details)
    e1 = s.qber / (1.0 - delta)
    details["e1"] = e1
    if not s.qber < QBER_LIMIT:
        return _finish("gllp", 0.0, f"QBER {s.qber:.4f} >= {QBER_LIMIT}", delta, stats, details)
    rate = (
        stats.sifting_prob
        * s.gain
        * ((1.0 - delta) * (1.0 - binary_entropy(e1)) - f_ec * binary_entropy(s.qber))
    )
    return _finish("gllp", rate, None, delta, stats, details)


def _decoy(stats: LinkStatistics, f_ec: float) -> KeyRateEstimate | None:
    classes = stats.per_intensity
    vac = [c for c in classes[1:] if c.mu == 0.0]
    weak = [c for c in classes[1:] if c.mu > 0.0]
    if not vac or not weak:
        return None
    s, w, y0 = classes[0], weak[0], vac[0].gain
    mu, nu = s.mu, w.mu
    y1 = (
        mu
        / (mu * nu - nu * nu)
        * (
            w.gain * math.exp(nu)
            - s.gain * math.exp(mu) * nu**2 / mu**2
            - (mu**2 - nu**2) / mu**2 * y0
        )
    )
    details = {"y0": y0, "y1_lower": y1}
    if not y1 > 0.0:
        return _finish(
            "decoy", 0.0, f"estimated single-photon yield Y1 = {y1:.3g} <= 0", 1.0, stats, details
        )
    e1 = min((w.qber * w.gain * math.exp(nu) - 0.5 * y0) / (y1 * nu), 0.5)
    q1 = y1 * mu * math.exp(-mu)
    details.update(e1_upper=e1, q1=q1)
    tagged = max(0.0, 1.0 - q1 / s.gain)
    if not s.qber < QBER_LIMIT:
        return _finish("decoy", 0.0, f"QBER {s.qber:.4f} >= {QBER_LIMIT}", tagged, stats, details)
    rate = stats.sifting_prob * (
        q1 * (1.0 - binary_entropy(e1)) - f_ec * s.gain * binary_entropy(s.qber)
    )
    return _finish("decoy", rate, None, tagged, stats, details)


def estimate_key_rates(
    stats: LinkStatistics, *, kind: str, p_multi: float, f_ec: float = 1.16
) -> dict[str, KeyRateEstimate]:
    """Key-rate estimates from observed statistics (module docstring).

    Parameters
    ----------
    stats : LinkStatistics
        From :func:`link_statistics`.
    kind : {"sps", "wcp"}
        The source type.
    p_multi : float
        Multi-photon probability of the signal assumed by GLLP.
    f_ec : float
        Error-correction inefficiency.

    Returns
    -------
    dict
        ``naive`` and ``gllp`` always; ``decoy`` for WCP with a vacuum and a weak decoy.
    """
    out = {"naive": _naive(stats, f_ec), "gllp": _gllp(stats, p_multi, f_ec)}
    if kind == "wcp":
        d = _decoy(stats, f_ec)
        if d is not None:
            out["decoy"] = d
    return out
