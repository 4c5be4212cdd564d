"""Return to an emitter after a power cycle: one control flow for the device and the harness.

Instrument-only (the :mod:`qlight.instruments.protocols`, no truth). Steps, each a function
so that the device can run them in its own states (HOMING, LOCATING, ACQUIRING) and the
harness (:mod:`qlight.cli._powercycle_control`) in one go (:func:`auto_return`):

1. **Surface** (:func:`find_surface`): :func:`~qlight.mapping.fiducials.search_surface`
   centred on a *reference* surface z (the first successful boot's: homing errors are fresh
   draws about the mount, so a failed cycle's z must never become the next centre), ring by
   ring over the whole z travel until a significant, bracketed reflection peak is found.
2. **Frame** (:func:`locate_frame`): :func:`~qlight.mapping.fiducials.locate_marks` (window
   around the prior image of the chip centre, then its 8 neighbours) and
   :func:`~qlight.mapping.registration.register` with the prior (marks, mark + constellation
   or constellation fallback where the caller passes an emitter map).
3. **Return or switch** (:func:`acquire`): the caller passes a candidate list, best first
   (the device: the registry's qualified emitters, the requested/served one first; the
   harness: its target then its qualified candidates, freshest first). For each:

   * predict the stage position from the registration;
   * *probe* with a short fine scan (1.2 µm square, 0.1 µm step, 1 ms dwell: 0.15 s of
     photons) and skip the candidate at once when no point-like spot lies within the
     position gate — a stale candidate costs ≈ 0.3 s, not a failed 3 µm refocus (≈ 4 s);
     ``probe_first=False`` gives the first candidate the full refocus without a probe;
   * refocus (:func:`~qlight.mapping.refocus.refocus`: xy fine scan + Poisson MLE, z
     sweep, xy again; after a probe the first xy scan is 1.5 µm instead of 3 µm, the probe
     having centred the spot) and gate: the emitter found must lie within
     ``position_gate_m`` of the prediction (the confocal PSF's σ ≈ 0.15 µm: a different
     emitter closer than that is not resolved anyway);
   * identity: the ZPL of a short spectrum within ``zpl_gate_nm`` of the fingerprint (ZPLs
     spread over ≈ 110 nm, so a different emitter inside the position gate passes with
     probability ≈ 2·gate/110 nm) and, if configured, the brightness within a factor;
   * a candidate qualified at mapping time (g2(0) with a proper interval, ``qualified``)
     needs nothing more; an unqualified one (a spot just found by a refill scan) is
     qualified by :func:`sequential_g2` (HBT in 1 s chunks, stopped as soon as single or
     not single is clear at 3σ, at most ``max_g2_duration_s``, dim spots rejected early).

   The first candidate verified is served: ``returned`` when it is the first of the list,
   ``switched`` otherwise. When every candidate fails and the caller gave a ``refill``
   (the harness: PL scans around the old target), the new spots are tried the same way.

Every attempt is recorded with its outcome and reason (:class:`Attempt`) and the result
carries the timings on the instrument clock (:class:`ReturnResult`), for the callers' logs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from qlight.errors import ParameterError
from qlight.instruments.protocols import Clock, Scanner, Spectrometer, Stage, TimeTagger
from qlight.mapping.fiducials import locate_marks, search_surface
from qlight.mapping.qualify import background_corrected_g2, fit_zpl_nm
from qlight.mapping.refocus import RefocusResult, refocus, refocus_xy
from qlight.mapping.registration import (
    ConstellationConfig,
    Registration,
    RegistrationFailed,
    register,
)
from qlight.mapping.similarity import Similarity2D
from qlight.physics.marks import MarkLayout
from qlight.timetags.g2 import g2_cw

__all__ = [
    "LAYOUT",
    "Attempt",
    "Candidate",
    "G2Decision",
    "ReturnConfig",
    "ReturnInstruments",
    "ReturnResult",
    "acquire",
    "auto_return",
    "background_rate_per_s",
    "find_surface",
    "locate_frame",
    "sequential_g2",
    "short_probe",
]

#: The fabricated fiducial-mark lattice (design knowledge, :mod:`qlight.physics.marks`).
LAYOUT = MarkLayout()

#: Pixel dwell of the refocus' xy scans (its fit's background per pixel over this is the
#: background count rate used to correct g2(0)).
_REFOCUS_DWELL_S = 1e-3

AttemptOutcome = Literal["verified", "gone", "off_prediction", "mismatch", "not_single"]


class ReturnInstruments(Protocol):
    """The instruments the return needs (``qlight.device.factory.Instruments`` fits)."""

    @property
    def stage(self) -> Stage: ...

    @property
    def scanner(self) -> Scanner: ...

    @property
    def tagger(self) -> TimeTagger: ...

    @property
    def spectrometer(self) -> Spectrometer: ...

    @property
    def clock(self) -> Clock: ...


@dataclass(slots=True)
class Candidate:
    """An emitter to return to: chip-frame position, focus depth, fingerprint.

    ``key`` identifies it for the caller (registry ID, harness index); ``depth_m`` is its
    focus in stage z below the surface focus; ``zpl_nm``/``brightness_per_s`` the
    fingerprint (NaN: not known, not compared); ``qualified``: g2(0) was measured single
    with a proper interval at mapping time (no new g2 needed).
    """

    x_chip_m: float
    y_chip_m: float
    depth_m: float = 0.3e-6
    photons: float = 0.0
    zpl_nm: float = math.nan
    brightness_per_s: float = math.nan
    qualified: bool = False
    key: str = ""


@dataclass(frozen=True, slots=True)
class ReturnConfig:
    """Gates and acquisition times of :func:`acquire` (see the module docstring).

    ``require_zpl``: a fingerprint ZPL with no significant line in the spectrum now is a
    mismatch (else the ZPL is not compared). ``refocus_xy_size_m``: the first xy scan of the
    refocus after a successful probe (the probe already centred the spot within its gate);
    ``g2_chunk_s``/``max_g2_duration_s``: the looks of :func:`sequential_g2`.
    """

    position_gate_m: float = 0.3e-6
    zpl_gate_nm: float = 0.5
    brightness_ratio: float | None = None
    require_zpl: bool = True
    probe_first: bool = True
    spectrum_exposure_s: float = 0.5
    probe_size_m: float = 1.2e-6
    probe_step_m: float = 0.1e-6
    probe_dwell_s: float = 1e-3
    refocus_xy_size_m: float = 1.5e-6
    g2_chunk_s: float = 1.0
    max_g2_duration_s: float = 20.0
    max_tries: int = 12

    def __post_init__(self) -> None:
        for name in ("position_gate_m", "zpl_gate_nm", "spectrum_exposure_s", "probe_size_m",
                     "probe_step_m", "probe_dwell_s", "refocus_xy_size_m", "g2_chunk_s",
                     "max_g2_duration_s"):  # fmt: skip
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ParameterError(name, v, "must be finite and > 0")
        if self.brightness_ratio is not None and not self.brightness_ratio > 1.0:
            raise ParameterError("brightness_ratio", self.brightness_ratio, "must be > 1")
        if self.max_tries < 1:
            raise ParameterError("max_tries", self.max_tries, "must be >= 1")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One candidate tried: prediction (stage frame), outcome, reason, what was found.

    ``distance_m`` is the distance of the emitter found from the prediction (NaN when
    nothing was found); ``gone`` means nothing point-like within the gate.
    """

    key: str
    x_pred_m: float
    y_pred_m: float
    outcome: AttemptOutcome
    reason: str
    distance_m: float = math.nan
    measurement: RefocusResult | None = None


@dataclass(frozen=True, slots=True)
class ReturnResult:
    """What the return did: ``returned``/``switched``/``failed``, why, which emitter, where.

    ``emitter`` is the served candidate (``None`` when failed) with ``zpl_nm`` the ZPL
    measured now; ``refocus`` its final focus (stage frame); ``registration`` and
    ``z_surface_m`` the frame used; ``timings_s`` instrument-clock seconds per step
    (``surface``, ``frame``, ``acquire``, ``total``, those that ran).
    """

    outcome: Literal["returned", "switched", "failed"]
    reason: str
    emitter: Candidate | None = None
    refocus: RefocusResult | None = None
    zpl_nm: float = math.nan
    registration: Registration | None = None
    z_surface_m: float = math.nan
    attempts: tuple[Attempt, ...] = ()
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        """One line per failed attempt (``key: reason``)."""
        return [f"{a.key}: {a.reason}" for a in self.attempts if a.outcome != "verified"]


def find_surface(scanner: Scanner, stage: Stage, z_reference_m: float) -> float:
    """Stage z of the surface focus, searched outward from ``z_reference_m`` (step 1).

    Raises
    ------
    qlight.mapping.registration.RegistrationFailed
        No significant reflection peak within the whole z travel.
    """
    z = search_surface(scanner, 0.0, 0.0, z_reference_m, stage.travel_range_m[2])
    if z is None:
        raise RegistrationFailed("no surface reflection within the z travel")
    return z


def locate_frame(
    scanner: Scanner,
    prior: Similarity2D,
    chip_size_m: tuple[float, float],
    z_surface_m: float,
    bounds: ConstellationConfig,
) -> Registration:
    """Marks around the prior (window + ring of 8) and the registration (step 2).

    Raises
    ------
    qlight.mapping.registration.RegistrationFailed
        No mark decoded or the fit lies outside the prior bounds.
    """
    marks = locate_marks(scanner, prior, LAYOUT, *chip_size_m, z_surface_m)
    return register(marks, prior=prior, config=bounds)


@dataclass(frozen=True, slots=True)
class G2Decision:
    """Result of :func:`sequential_g2`: single or not, g2(0) ± σ, rate, time, why."""

    single: bool
    g2_0: float
    g2_0_err: float
    rate_per_s: float
    duration_s: float
    reason: str


def sequential_g2(
    tagger: TimeTagger,
    *,
    chunk_s: float = 1.0,
    max_duration_s: float = 20.0,
    half_width_ps: int = 200,
    bin_ps: int = 200,
    window_ps: int = 20_000,
    min_expected: float = 16.0,
    background_rate_per_s: float = 0.0,
) -> G2Decision:
    """Is the emitter under the focus single? HBT in chunks, stopping once it is clear.

    Coincidences ``C`` and their uncorrelated expectation ``E`` within ``±half_width_ps``
    are pooled over chunks (:func:`qlight.timetags.g2.g2_cw` per chunk; pairs across chunk
    boundaries are lost, a fraction ``window/chunk`` ≈ 2·10⁻⁵), ``g2(0) = C/E`` with
    ``σ = √max(C, 1)/E`` (:func:`qlight.timetags.g2.g2_at_zero`). A group-sequential test
    with Haybittle–Peto boundaries (Haybittle, Br. J. Radiol. 44, 793 (1971); Peto et al.,
    Br. J. Cancer 34, 585 (1976)): after each chunk, stop *single* when
    ``g2(0) + 3σ < 0.5`` and *not single* when ``g2(0) − 3σ > 0.5``; at ``max_duration_s``
    decide with the fixed-sample rule of the qualification, ``g2(0) + 2σ < 0.5``
    (:func:`qlight.mapping.qualify.quality_score`). The 3σ interim looks (one-sided
    1.3·10⁻³ each) leave the final test's error rate essentially unchanged, while a clearly
    single emitter is accepted after a few seconds instead of a fixed 15–30 s. Futility:
    when the expectation projected to ``max_duration_s`` stays below ``min_expected`` (16:
    the least that accepts g2(0) = 0.25 by ``g2(0) + 2σ < 0.5``, σ ≈ √(g2(0)/E)), the
    emitter is rejected at once as too dim to qualify (a dim source is a poor one anyway).
    ``background_rate_per_s`` (the refocus fit's background per pixel over its dwell)
    corrects g2(0) and σ for uncorrelated background before every decision
    (:func:`qlight.mapping.qualify.background_corrected_g2`, Brouri et al., Opt. Lett. 25,
    1294 (2000), Eq. 1), as the mapping-time qualification of discovery does.
    """
    if tagger.n_channels < 2:
        raise ParameterError("tagger", tagger.n_channels, "needs >= 2 channels for g2")
    c = e = 0.0
    n = 0
    t = 0.0
    g = err = math.nan
    while t < max_duration_s - 1e-9:
        dt = min(chunk_s, max_duration_s - t)
        tags = tagger.acquire(dt)
        t += dt
        n += sum(tags.counts)
        if min(tags.counts[:2]) == 0:
            continue
        hist = g2_cw(tags.t_ps[0], tags.t_ps[1], window_ps=window_ps, bin_ps=bin_ps,
                     duration_ps=tags.duration_ps)  # fmt: skip
        sel = abs(hist.center_ps) <= half_width_ps
        c += float(hist.counts[sel].sum())
        e += float(hist.expected[sel].sum())
        if e <= 0.0:
            continue
        g, err = background_corrected_g2(
            c / e, math.sqrt(max(c, 1.0)) / e, n / t, background_rate_per_s
        )
        e_final = e * max_duration_s / t
        if e_final < min_expected:
            why = f"too dim for a g2(0) within {max_duration_s:g} s ({n / t:.3g} counts/s)"
            return G2Decision(False, g, err, n / t, t, why)
        if g + 3.0 * err < 0.5:
            return G2Decision(True, g, err, n / t, t, f"single: g2(0) = {g:.2f} ± {err:.2f}")
        if g - 3.0 * err > 0.5:
            return G2Decision(
                False, g, err, n / t, t, f"multi-emitter: g2(0) = {g:.2f} ± {err:.2f}"
            )
    rate = n / t if t > 0 else 0.0
    if not math.isfinite(g):
        return G2Decision(False, g, err, rate, t, "g2(0) not measurable (no counts)")
    single = g + 2.0 * err < 0.5
    why = f"g2(0) = {g:.2f} ± {err:.2f} after {t:.0f} s"
    return G2Decision(single, g, err, rate, t, ("single: " if single else "not single: ") + why)


def short_probe(
    ins: ReturnInstruments, x_m: float, y_m: float, z_m: float, cfg: ReturnConfig
) -> RefocusResult:
    """The short scan at a predicted stage position: a spot within the position gate?"""
    return refocus_xy(
        ins.stage, ins.scanner, x_m, y_m, z_m, size_m=cfg.probe_size_m,
        step_m=cfg.probe_step_m, dwell_s=cfg.probe_dwell_s, max_shift_m=cfg.position_gate_m,
    )  # fmt: skip


def background_rate_per_s(res: RefocusResult) -> float:
    """Background count rate (counts/s) of a refocus' xy fit (its 1 ms pixels); 0 if no fit."""
    loc = res.localization
    return 0.0 if loc is None else max(loc.background_per_px, 0.0) / _REFOCUS_DWELL_S


def _identity(
    ins: ReturnInstruments, c: Candidate, res: RefocusResult, cfg: ReturnConfig
) -> tuple[bool, float, str]:
    """``(match, zpl_nm measured, reason)``: ZPL within the gate, brightness within a factor."""
    zpl = fit_zpl_nm(ins.spectrometer.acquire_spectrum(cfg.spectrum_exposure_s))
    bad = []
    if math.isfinite(c.zpl_nm) and math.isfinite(zpl) and abs(zpl - c.zpl_nm) > cfg.zpl_gate_nm:
        bad.append(f"ZPL {zpl:.2f} nm, expected {c.zpl_nm:.2f}")
    if cfg.require_zpl and math.isfinite(c.zpl_nm) and not math.isfinite(zpl):
        bad.append(f"no ZPL line, expected {c.zpl_nm:.2f} nm")
    b, r = c.brightness_per_s, res.rate_per_s
    ratio = cfg.brightness_ratio
    if ratio is not None and math.isfinite(b) and math.isfinite(r):  # noqa: SIM102
        if not (b > 0 and r > 0 and max(b / r, r / b) <= ratio):
            bad.append(f"brightness {r:.3g}/s vs {b:.3g}/s")
    return not bad, zpl, "; ".join(bad)


def _try(
    ins: ReturnInstruments,
    reg: Registration,
    z_surface_m: float,
    c: Candidate,
    cfg: ReturnConfig,
    *,
    probe: bool,
) -> tuple[Attempt, float]:
    """Probe, refocus, gate, identity and (unqualified) g2 for one candidate."""
    xs, ys = reg.transform.apply(c.x_chip_m, c.y_chip_m)
    xp, yp, z = float(xs), float(ys), z_surface_m + c.depth_m
    gate = cfg.position_gate_m
    if probe:
        p = short_probe(ins, xp, yp, z, cfg)
        if not p.ok:
            return Attempt(c.key, xp, yp, "gone", f"short scan: {p.reason}"), math.nan
        res = refocus(ins.stage, ins.scanner, ins.tagger, p.x_m, p.y_m, z,
                      xy_size_m=cfg.refocus_xy_size_m, max_xy_shift_m=gate,
                      xy_dwell_s=_REFOCUS_DWELL_S)  # fmt: skip
    else:
        res = refocus(ins.stage, ins.scanner, ins.tagger, xp, yp, z, xy_dwell_s=_REFOCUS_DWELL_S)
    if not res.ok:
        return Attempt(c.key, xp, yp, "gone", f"refocus: {res.reason}", math.nan, res), math.nan
    d = math.hypot(res.x_m - xp, res.y_m - yp)
    if d > gate:
        why = f"nearest spot {d * 1e9:.0f} nm from the prediction > gate {gate * 1e9:.0f} nm"
        return Attempt(c.key, xp, yp, "off_prediction", why, d, res), math.nan
    match, zpl, why = _identity(ins, c, res, cfg)
    if not match:
        return Attempt(c.key, xp, yp, "mismatch", why, d, res), zpl
    if not c.qualified:
        q = sequential_g2(ins.tagger, chunk_s=cfg.g2_chunk_s, max_duration_s=cfg.max_g2_duration_s,
                          background_rate_per_s=background_rate_per_s(res))  # fmt: skip
        if not q.single:
            return Attempt(c.key, xp, yp, "not_single", q.reason, d, res), zpl
    return Attempt(c.key, xp, yp, "verified", "identity verified", d, res), zpl


def acquire(
    ins: ReturnInstruments,
    reg: Registration,
    z_surface_m: float,
    candidates: Sequence[Candidate],
    *,
    config: ReturnConfig | None = None,
    refill: Callable[[], Sequence[Candidate]] | None = None,
) -> ReturnResult:
    """Return to the first candidate or switch to the next verified one (step 3).

    Parameters
    ----------
    ins : ReturnInstruments
        Stage, scanner, tagger, spectrometer, clock.
    reg : Registration
        The chip → stage registration of this boot.
    z_surface_m : float
        Stage z of the surface focus.
    candidates : sequence of Candidate
        Best first; the first is the target (``returned`` if verified).
    config : ReturnConfig, optional
        Gates and times.
    refill : callable, optional
        Called whenever every candidate so far failed; returns new (unqualified)
        candidates, or an empty sequence to give up. At most ``config.max_tries`` of the
        list and of each refill are tried.
    """
    cfg = config or ReturnConfig()
    t0 = ins.clock.now_s()
    attempts: list[Attempt] = []
    pending: Sequence[Candidate] = candidates
    while pending:
        for c in list(pending)[: cfg.max_tries]:
            a, zpl = _try(ins, reg, z_surface_m, c, cfg, probe=cfg.probe_first or bool(attempts))
            attempts.append(a)
            if a.outcome == "verified":
                assert a.measurement is not None
                first = len(attempts) == 1
                reason = "" if first else attempts[0].reason
                return ReturnResult(
                    "returned" if first else "switched", reason, c, a.measurement, zpl, reg,
                    z_surface_m, tuple(attempts), {"acquire": ins.clock.now_s() - t0},
                )  # fmt: skip
        pending = refill() if refill is not None else ()
    why = "no candidate verified" if attempts else "no candidate given"
    return ReturnResult(
        "failed", why, None, None, math.nan, reg, z_surface_m, tuple(attempts),
        {"acquire": ins.clock.now_s() - t0},
    )  # fmt: skip


def auto_return(
    ins: ReturnInstruments,
    *,
    prior: Similarity2D,
    z_reference_m: float,
    chip_size_m: tuple[float, float],
    bounds: ConstellationConfig,
    candidates: Sequence[Candidate],
    config: ReturnConfig | None = None,
    refill: Callable[[Registration, float], Sequence[Candidate]] | None = None,
) -> ReturnResult:
    """Steps 1–3 in one call (the harness's cycle): surface, frame, return or switch.

    A surface or registration failure gives ``failed`` with the reason (no registration);
    ``refill(registration, z_surface_m)`` is the callback of :func:`acquire`.
    """
    t0 = ins.clock.now_s()
    try:
        z = find_surface(ins.scanner, ins.stage, z_reference_m)
        t1 = ins.clock.now_s()
        reg = locate_frame(ins.scanner, prior, chip_size_m, z, bounds)
    except RegistrationFailed as e:
        return ReturnResult(
            "failed", f"registration: {e}", timings_s={"total": ins.clock.now_s() - t0}
        )
    t2 = ins.clock.now_s()
    fill = None if refill is None else (lambda: refill(reg, z))
    out = acquire(ins, reg, z, candidates, config=config, refill=fill)
    out.timings_s.update(surface=t1 - t0, frame=t2 - t1, total=ins.clock.now_s() - t0)
    return out
