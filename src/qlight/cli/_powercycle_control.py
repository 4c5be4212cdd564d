"""Control side of the power-cycle harness: what the device does, seeing only instruments.

Nothing here reads the twin's truth (:mod:`qlight.cli.demo_powercycle` grades it). The
return itself is :mod:`qlight.mapping.autoreturn`, the same control flow the device runs;
this module keeps the harness's candidate list (the device keeps its registry):

* **First boot**: surface search, marks registration, a 30 µm PL map at the chip centre,
  detection + Poisson MLE; the brightest spots are refocused and qualified by g2(0) with a
  proper interval (:func:`~qlight.mapping.autoreturn.sequential_g2`, up to 30 s: a
  single emitter must show g2(0) + 3σ < 0.5 early or g2(0) + 2σ < 0.5 at the end, where
  the old 15-coincidence quick check of a cycle had σ ≈ 0.15 and rejected real single
  emitters) until ``n_qualified`` (8) are single. The brightest single one is the target;
  the others are the qualified candidates (ZPL, focus depth, refined position); the spots
  not qualified stay as unqualified candidates.
* **Each cycle**: :func:`~qlight.mapping.autoreturn.auto_return` with the first-boot
  surface as the search centre (homing errors are fresh draws about the mount), the last
  *successful* transform as prior (a failed cycle chains nothing), and the candidate list
  target first, then the qualified candidates, freshest first (last seen or qualified most
  recently; turnover empties old entries), then the unqualified ones. A qualified candidate
  needs only the short probe, a refocus and the identity check. When all fail, ``refill``
  scans 8, then 16, then 30 µm of PL around the old target (0.1 µm pixels, 0.25 ms dwell)
  until one finds new spots (positions already tried are not re-added); those are tried
  with a sequential g2(0) qualification.
* **Top-up after photons** (:meth:`PowerCycleController.top_up`, called by the harness
  *after* it has recorded the time to photons, so it is not part of it): at 30 %
  turnover the qualified list halves about every two cycles, and once all of it has
  bleached a switch needs a refill scan and a g2(0) of a new spot (up to 70 s). So after
  each successful cycle every qualified candidate not seen this cycle is probed (the
  1.2 µm short scan, ≈ 0.15 s of photons; gone ones are dropped), and while fewer than
  ``n_keep`` (6) remain, unqualified candidates — then new spots of an 8/16 µm PL scan
  around the target — are qualified (refocus + sequential g2(0) + ZPL, as at first
  boot, at most ``max_topup_tries`` per cycle); finally the stage returns to the target
  (refocus). With six live qualified candidates a switch finds none alive only when all
  six bleach in one cycle (0.3⁶ ≈ 7·10⁻⁴). **Simplification:** the top-up moves the
  focus off the target, so emission pauses for its duration (reported per cycle as
  ``sim_topup_s``); a device would do it in an idle window or on a second
  excitation/collection path, not modelled here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from qlight.device.factory import Instruments
from qlight.mapping.autoreturn import (
    Candidate,
    ReturnConfig,
    ReturnResult,
    auto_return,
    background_rate_per_s,
    find_surface,
    locate_frame,
    sequential_g2,
    short_probe,
)
from qlight.mapping.detect import detect_and_localize
from qlight.mapping.localize import psf_sigma_from_fwhm
from qlight.mapping.qualify import fit_zpl_nm
from qlight.mapping.refocus import RefocusResult, refocus
from qlight.mapping.registration import ConstellationConfig, Registration, RegistrationFailed
from qlight.mapping.similarity import Similarity2D

__all__ = ["Candidate", "CycleOutcome", "PowerCycleController"]

_POWER_W = 1e-3
#: First-guess depth of a not yet refocused emitter below the surface (stage z).
_DEPTH_GUESS_M = 0.3e-6
#: Refill scan widths around the old target when every candidate is gone, and their dwell
#: (0.1 µm pixels; an emitter gives 1–4·10⁵ counts/s at its peak, so ≥ 25 counts per pixel).
_REFILL_WIDTHS_M = (8e-6, 16e-6, 30e-6)
_REFILL_DWELL_S = 0.25e-3
#: Pixel of the candidate-search PL scans (m), finer than the PSF sigma (localization).
_SCAN_PIXEL_M = 0.1e-6
#: A spot closer than this to a known candidate (chip frame, m) is that candidate.
_SAME_SPOT_M = 0.5e-6
#: Longest g2(0) acquisition of the first-boot qualification (sequential, stops when clear).
_QUALIFY_MAX_S = 30.0
#: PL scan widths around the target when the top-up runs out of unqualified candidates.
_TOPUP_WIDTHS_M = (8e-6, 16e-6)


@dataclass(slots=True)
class CycleOutcome:
    """What the control code did in one cycle.

    ``outcome``: ``"returned"`` (identity verified), ``"switched"`` (target declared gone,
    a new qualified target adopted) or ``"failed"``; ``result`` the final refocus;
    ``detail`` the full :class:`~qlight.mapping.autoreturn.ReturnResult`.
    """

    outcome: str
    reason: str
    result: RefocusResult | None = None
    gone_reasons: list[str] = field(default_factory=list)
    detail: ReturnResult | None = None


class PowerCycleController:
    """First boot and per-cycle return (see module docstring)."""

    def __init__(
        self,
        ins: Instruments,
        size: tuple[float, float],
        bounds: ConstellationConfig,
        *,
        position_gate_m: float = 0.3e-6,
        zpl_gate_nm: float = 0.5,
        max_candidates: int = 12,
        n_qualified: int = 8,
        max_qualify_tries: int = 16,
        n_keep: int = 6,
        max_topup_tries: int = 6,
    ) -> None:
        self.ins = ins
        self.size = size
        self.bounds = bounds
        self.config = ReturnConfig(
            position_gate_m=position_gate_m, zpl_gate_nm=zpl_gate_nm, max_tries=max_candidates
        )
        self.n_qualified = n_qualified
        self.max_qualify_tries = max_qualify_tries
        self.n_keep = n_keep
        self.max_topup_tries = max_topup_tries
        #: registration of the last successful cycle (the top-up's frame)
        self.reg: Registration | None = None
        self.psf_sigma_m = psf_sigma_from_fwhm(ins.scanner.psf_fwhm_m)
        self.prior = Similarity2D.identity()
        self.z_ref = 0.0
        self.z_surf = 0.0
        self.target: Candidate | None = None
        self.candidates: list[Candidate] = []
        #: cycle in which each candidate was last seen or qualified (freshness)
        self.seen: dict[str, int] = {}
        #: chip positions already tried (gone, not single, or former targets): not re-added
        self.tried: list[tuple[float, float]] = []
        self.crlb_m: list[float] = []
        self.n_cycle = 0
        self._n_keys = 0

    # ------------------------------------------------------------------ steps
    def _laser_on(self) -> None:
        self.ins.laser.set_power(_POWER_W)
        self.ins.laser.on()

    def _surface(self) -> float:
        return find_surface(self.ins.scanner, self.ins.stage, self.z_ref)

    def _register(self, z_m: float) -> Registration:
        return locate_frame(self.ins.scanner, self.prior, self.size, z_m, self.bounds)

    def _key(self) -> str:
        self._n_keys += 1
        return f"C{self._n_keys}"

    def _scan_spots(
        self, reg: Registration, x_chip: float, y_chip: float, w: float, dwell_s: float = 1e-3
    ) -> list[Candidate]:
        """PL scan ``w × w`` around a chip-frame point: new point-like spots, brightest first."""
        xs, ys = reg.transform.apply(x_chip, y_chip)
        pl = self.ins.scanner.raster_scan(
            float(xs), float(ys), w, w, _SCAN_PIXEL_M, dwell_s, z_m=self.z_surf + _DEPTH_GUESS_M
        )
        det = detect_and_localize(pl.pl_counts, pl.x_m, pl.y_m, psf_sigma_m=self.psf_sigma_m)
        known = [(k.x_chip_m, k.y_chip_m) for k in self.candidates] + self.tried
        if self.target is not None:
            known.append((self.target.x_chip_m, self.target.y_chip_m))
        found = []
        for d in sorted(det.accepted, key=lambda d: -d.localization.photons):
            xc, yc = (
                float(v)
                for v in reg.transform.apply_inverse(d.localization.x_m, d.localization.y_m)
            )
            if all(math.hypot(xc - kx, yc - ky) > _SAME_SPOT_M for kx, ky in known):
                found.append(
                    Candidate(xc, yc, _DEPTH_GUESS_M, d.localization.photons, key=self._key())
                )
                known.append((xc, yc))
        for c in found:
            self.seen[c.key] = self.n_cycle
        return found

    def _refocus_at(self, reg: Registration, c: Candidate) -> tuple[RefocusResult, float]:
        """Refocus at the predicted position; also return the distance moved from it."""
        xp, yp = reg.transform.apply(c.x_chip_m, c.y_chip_m)
        res = refocus(
            self.ins.stage, self.ins.scanner, self.ins.tagger, float(xp), float(yp),
            self.z_surf + c.depth_m,
        )  # fmt: skip
        return res, math.hypot(res.x_m - float(xp), res.y_m - float(yp))

    def _adopt(self, reg: Registration, c: Candidate, res: RefocusResult, zpl: float) -> None:
        xc, yc = reg.transform.apply_inverse(res.x_m, res.y_m)
        zpl = zpl if math.isfinite(zpl) else c.zpl_nm
        self.target = Candidate(
            float(xc), float(yc), res.z_m - self.z_surf, c.photons, zpl,
            res.rate_per_s, True, c.key or self._key(),
        )  # fmt: skip
        self.seen[self.target.key] = self.n_cycle
        if res.localization is not None:
            self.crlb_m.append(math.hypot(res.localization.crlb_x_m, res.localization.crlb_y_m))

    def _qualify(self, reg: Registration, c: Candidate) -> Candidate | None:
        """Refocus + g2(0) with a proper interval (mapping time): the qualified candidate."""
        res, moved = self._refocus_at(reg, c)
        if not res.ok or moved > self.config.position_gate_m:
            return None
        bg = background_rate_per_s(res)
        q = sequential_g2(self.ins.tagger, max_duration_s=_QUALIFY_MAX_S, background_rate_per_s=bg)
        if not q.single:
            return None
        zpl = fit_zpl_nm(self.ins.spectrometer.acquire_spectrum(self.config.spectrum_exposure_s))
        xc, yc = reg.transform.apply_inverse(res.x_m, res.y_m)
        return Candidate(
            float(xc), float(yc), res.z_m - self.z_surf, c.photons, zpl, res.rate_per_s, True,
            c.key,
        )  # fmt: skip

    def _ordered(self) -> list[Candidate]:
        """Qualified candidates freshest first, then the unqualified ones (stable)."""
        return sorted(self.candidates, key=lambda c: (not c.qualified, -self.seen.get(c.key, 0)))

    # ------------------------------------------------------------------ public
    def first_boot(self) -> RefocusResult:
        """Surface, marks, 30 µm PL map, qualified candidates; target = brightest single."""
        self._laser_on()
        self.z_surf = self.z_ref = self._surface()
        reg = self._register(self.z_surf)
        self.prior = reg.transform
        x0, y0 = reg.transform.apply_inverse(0.0, 0.0)
        spots = self._scan_spots(reg, float(x0), float(y0), 30e-6)
        qualified: list[Candidate] = []
        k = 0
        while spots and k < self.max_qualify_tries and len(qualified) < self.n_qualified:
            c = spots.pop(0)
            k += 1
            q = self._qualify(reg, c)
            if q is None:
                self.tried.append((c.x_chip_m, c.y_chip_m))
            else:
                qualified.append(q)
        if not qualified:
            raise RegistrationFailed(
                f"first boot found no qualified single emitter among the brightest {k} spots"
            )
        first = qualified.pop(0)
        res, _ = self._refocus_at(reg, first)
        self._adopt(reg, first, res, first.zpl_nm)
        self.candidates = qualified + spots
        self.reg = reg
        return res

    def _refill(
        self, reg: Registration, z_m: float, old: Candidate, widths: list[float]
    ) -> list[Candidate]:
        """Next refill scan around the old target that finds new spots (empty: give up)."""
        self.z_surf = z_m
        while widths:
            fresh = self._scan_spots(
                reg, old.x_chip_m, old.y_chip_m, widths.pop(0), _REFILL_DWELL_S
            )
            if fresh:
                self.candidates = fresh + self.candidates
                return fresh
        return []

    def cycle(self) -> CycleOutcome:
        """After a power cycle: surface, registration, return (or switch) to the target."""
        self.n_cycle += 1
        self._laser_on()
        assert self.target is not None
        old = self.target
        widths = list(_REFILL_WIDTHS_M)
        out = auto_return(
            self.ins, prior=self.prior, z_reference_m=self.z_ref, chip_size_m=self.size,
            bounds=self.bounds, candidates=[old, *self._ordered()], config=self.config,
            refill=lambda reg, z: self._refill(reg, z, old, widths),
        )  # fmt: skip
        if out.registration is None:
            return CycleOutcome("failed", out.reason, detail=out)
        reg = out.registration
        self.z_surf, self.prior = out.z_surface_m, reg.transform  # only successful cycles chain
        self.reg = reg
        done = {a.key for a in out.attempts}
        for a in out.attempts:
            if a.outcome != "verified":
                c = next((c for c in [old, *self.candidates] if c.key == a.key), None)
                if c is not None:
                    self.tried.append((c.x_chip_m, c.y_chip_m))
        self.candidates = [c for c in self.candidates if c.key not in done]
        gone = out.reasons
        if out.emitter is None or out.refocus is None:
            return CycleOutcome("failed", "all mapped emitters gone", None, gone, out)
        self._adopt(reg, out.emitter, out.refocus, out.zpl_nm)
        if out.outcome == "returned":
            return CycleOutcome("returned", "", out.refocus, [], out)
        return CycleOutcome("switched", gone[0], out.refocus, gone, out)

    def _probe(self, reg: Registration, c: Candidate) -> bool:
        """Short scan at a candidate's prediction (:func:`short_probe`): still there?"""
        xp, yp = reg.transform.apply(c.x_chip_m, c.y_chip_m)
        return short_probe(self.ins, float(xp), float(yp), self.z_surf + c.depth_m, self.config).ok

    def top_up(self) -> int:
        """After photons started: probe, re-qualify, return to the target (module docstring).

        Returns the number of live qualified candidates afterwards. Does nothing after a
        failed cycle (no frame) and never changes the target.
        """
        reg, target = self.reg, self.target
        if reg is None or target is None:
            return 0
        drop: set[str] = set()
        for c in self.candidates:
            if c.qualified and self.seen.get(c.key, -1) < self.n_cycle:
                if self._probe(reg, c):
                    self.seen[c.key] = self.n_cycle
                else:
                    drop.add(c.key)
                    self.tried.append((c.x_chip_m, c.y_chip_m))
        self.candidates = [c for c in self.candidates if c.key not in drop]
        n_live = sum(c.qualified for c in self.candidates)
        widths = list(_TOPUP_WIDTHS_M)
        tries = 0
        while n_live < self.n_keep and tries < self.max_topup_tries:
            pool = [c for c in self.candidates if not c.qualified]
            if not pool:
                if not widths:
                    break
                pool = self._scan_spots(
                    reg, target.x_chip_m, target.y_chip_m, widths.pop(0), _REFILL_DWELL_S
                )
                self.candidates += pool
                if not pool:
                    continue
            c = pool[0]
            tries += 1
            self.candidates.remove(c)
            q = self._qualify(reg, c) if self._probe(reg, c) else None
            if q is None:
                self.tried.append((c.x_chip_m, c.y_chip_m))
                continue
            self.seen[q.key] = self.n_cycle
            self.candidates.insert(0, q)
            n_live += 1
        self._refocus_at(reg, target)  # back on the target: emission resumes
        return n_live
