"""Return to a registered emitter: predict, fine scan, localize, refocus, verify identity.

:func:`navigate` walks a ranked list of registry targets (best qualified first). For each
target it predicts the stage position from the registration (and, if that fails, from the
registration's alternative hypotheses), asks a *locator* to fine-scan there, localize and
refocus in xy and z (engineer HI's ``qlight.mapping.refocus.refocus`` behind the
:class:`Locator` interface), checks that the emitter found lies where the transform's
uncertainty allows, and asks a *verifier* to compare its fingerprint with the registry's
(:func:`compare_fingerprints`). Outcomes are recorded per attempt with the reason, so the
caller can write them to the registry (``Registry.record_observation`` / ``set_status``):

* ``"verified"`` — found within the gate and the fingerprint matches: done;
* ``"mismatch"`` — an emitter is there but it is another one: try the next hypothesis;
* ``"off_prediction"`` — the locator converged farther than the gate: next hypothesis;
* ``"not_found"`` — no emitter at a hypothesis' prediction;
* ``"bleached"`` — nothing at the prediction of the best hypothesis and none of the
  alternatives verifies: the target is given up with that reason and the next-best target
  is tried.

The gate is ``k·sqrt(λ_max(Σ_pred) + σ_loc² + σ_reg²)`` with ``Σ_pred`` the predicted-position
covariance of :meth:`~qlight.mapping.similarity.SimilarityFit.predict` (a ``k``-sigma
ellipse bound; Bar-Shalom, Li & Kirubarajan, *Estimation with Applications to Tracking and
Navigation*, §3.7 validation gate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from qlight._validation import check_positive
from qlight.errors import ParameterError
from qlight.mapping.registration import Registration

__all__ = [
    "Attempt",
    "FocusMeasurement",
    "Locator",
    "NavigationResult",
    "Target",
    "Verdict",
    "compare_fingerprints",
    "navigate",
]

Outcome = Literal["verified", "mismatch", "off_prediction", "not_found", "bleached"]


@dataclass(frozen=True, slots=True)
class Target:
    """A registry emitter to return to (chip frame)."""

    emitter_id: str
    x_chip_m: float
    y_chip_m: float
    sigma_chip_m: float
    depth_stage_m: float = 0.0
    fingerprint: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FocusMeasurement:
    """What the locator found at a predicted position (stage frame)."""

    ok: bool
    x_m: float = math.nan
    y_m: float = math.nan
    z_m: float = math.nan
    sigma_m: float = math.nan
    rate_per_s: float = math.nan
    reason: str = ""


class Locator(Protocol):
    """Fine scan + MLE + xy/z refocus around a stage position."""

    def __call__(self, x_m: float, y_m: float, z_m: float) -> FocusMeasurement:
        """Return the refocused emitter position, or ``ok=False`` with a reason."""
        ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """Identity check of the emitter under the focus against a target's fingerprint."""

    match: bool
    reason: str = ""


Verifier = Callable[[Target, FocusMeasurement], Verdict]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: which target, which hypothesis, where, and what came of it."""

    emitter_id: str
    hypothesis: int
    x_pred_m: float
    y_pred_m: float
    gate_m: float
    outcome: Outcome
    reason: str
    measurement: FocusMeasurement | None


@dataclass(frozen=True, slots=True)
class NavigationResult:
    """The verified target (or ``None``), its measurement, and every attempt in order."""

    target: Target | None
    measurement: FocusMeasurement | None
    attempts: tuple[Attempt, ...]

    @property
    def given_up(self) -> dict[str, str]:
        """Targets abandoned as bleached, with the reason."""
        return {a.emitter_id: a.reason for a in self.attempts if a.outcome == "bleached"}


def compare_fingerprints(
    reference: Mapping[str, float],
    measured: Mapping[str, float],
    *,
    zpl_tolerance_nm: float = 1.5,
    brightness_ratio: float = 2.0,
    g2_max: float = 0.5,
) -> Verdict:
    """Same emitter? ZPL within ``zpl_tolerance_nm`` (spectrometer resolution + spectral
    diffusion), brightness within a factor ``brightness_ratio`` (focus and power changes),
    and g2(0) below ``g2_max`` (still a single emitter). Keys missing on either side are not
    compared; the verdict names every failed criterion.
    """
    check_positive("zpl_tolerance_nm", zpl_tolerance_nm)
    if brightness_ratio <= 1.0:
        raise ParameterError("brightness_ratio", brightness_ratio, "must be > 1")
    bad = []
    if "zpl_nm" in reference and "zpl_nm" in measured:
        d = abs(measured["zpl_nm"] - reference["zpl_nm"])
        if not d <= zpl_tolerance_nm:
            bad.append(f"ZPL differs by {d:.2f} nm")
    if "brightness_per_s" in reference and "brightness_per_s" in measured:
        a, b = reference["brightness_per_s"], measured["brightness_per_s"]
        if not (a > 0 and b > 0 and max(a / b, b / a) <= brightness_ratio):
            bad.append(f"brightness {b:.3g}/s vs {a:.3g}/s")
    if "g2_0" in measured and not measured["g2_0"] < g2_max:
        bad.append(f"g2(0) = {measured['g2_0']:.2f} >= {g2_max}")
    return Verdict(not bad, "; ".join(bad) if bad else "fingerprint matches")


def navigate(
    targets: Sequence[Target],
    registration: Registration,
    *,
    surface_z_m: float,
    locate: Locator,
    verify: Verifier,
    k_gate: float = 4.0,
    localization_sigma_m: float = 30e-9,
    max_hypotheses: int = 3,
) -> NavigationResult:
    """Reach the first target whose identity verifies (see module docstring).

    Parameters
    ----------
    targets : sequence of Target
        Candidates, best first (e.g. ``Registry.best_emitters``).
    registration : Registration
        The chip → stage registration; its ``alternatives`` are the next hypotheses.
    surface_z_m : float
        Stage z of the surface focus; a target's ``depth_stage_m`` is added.
    locate : Locator
        Fine scan + localization + refocus at a stage position.
    verify : callable
        ``verify(target, measurement) -> Verdict`` (fingerprint comparison at the focus).
    k_gate : float
        Validation gate in standard deviations.
    localization_sigma_m : float
        1σ of the locator's position.
    max_hypotheses : int
        Hypotheses tried per target (the registration first, then its alternatives).
    """
    check_positive("k_gate", k_gate)
    check_positive("localization_sigma_m", localization_sigma_m)
    if max_hypotheses < 1:
        raise ParameterError("max_hypotheses", max_hypotheses, "must be >= 1")
    hyps = [registration, *registration.alternatives][:max_hypotheses]
    attempts: list[Attempt] = []
    for tgt in targets:
        found_anything = False
        for h, reg in enumerate(hyps):
            xp, yp, cov = reg.fit.predict(tgt.x_chip_m, tgt.y_chip_m)
            lam = float(np.linalg.eigvalsh(cov)[-1])
            gate = k_gate * math.sqrt(lam + localization_sigma_m**2 + tgt.sigma_chip_m**2)
            m = locate(xp, yp, surface_z_m + tgt.depth_stage_m)
            outcome: Outcome
            if not m.ok:
                outcome, reason = "not_found", m.reason or "no emitter at the prediction"
            else:
                found_anything = True
                off = math.hypot(m.x_m - xp, m.y_m - yp)
                if off > gate:
                    outcome = "off_prediction"
                    reason = f"found {off * 1e9:.0f} nm away, gate {gate * 1e9:.0f} nm"
                else:
                    verdict = verify(tgt, m)
                    outcome = "verified" if verdict.match else "mismatch"
                    reason = verdict.reason
            attempts.append(Attempt(tgt.emitter_id, h, xp, yp, gate, outcome, reason, m))
            if outcome == "verified":
                return NavigationResult(tgt, m, tuple(attempts))
        if not found_anything:
            attempts.append(
                Attempt(
                    tgt.emitter_id,
                    0,
                    math.nan,
                    math.nan,
                    math.nan,
                    "bleached",
                    f"no emission at the prediction of any of {len(hyps)} hypotheses",
                    None,
                )
            )
    return NavigationResult(None, None, tuple(attempts))
