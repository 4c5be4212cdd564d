"""Control side of the power-cycle harness: what the device does, seeing only instruments.

Nothing here reads the twin's truth (:mod:`qlight.cli.demo_powercycle` grades it). Steps:

* **Surface**: :func:`~qlight.mapping.fiducials.search_surface` from the first-boot surface
  z (homing errors are fresh draws about the mount, so the first boot is the best centre),
  widening the search ring by ring until a significant, bracketed reflection peak is found.
* **Registration**: :func:`~qlight.mapping.fiducials.locate_marks` (window around the
  prior image of the chip centre, then a ring of 8 neighbouring windows) and
  :func:`~qlight.mapping.registration.register` with the last *successful* transform as
  prior (a failed cycle never becomes the next prior, nor does its surface z).
* **Return and identity**: refocus at the predicted target position; the emitter found is
  the target only if it lies within ``position_gate_m`` of the prediction and its ZPL
  (0.5 s spectrum, fit repeatability ≈ 0.03 nm) agrees with the fingerprint within
  ``zpl_gate_nm`` (when the fingerprint has no ZPL — no significant line at qualification —
  the position gate alone decides). ZPLs spread uniformly over 110 nm, so a different
  emitter inside the position gate passes the ZPL gate with probability ≈ 1 %.
* **Target gone** (refocus fails or identity rejected): the next-best qualified candidate
  (registry of first-boot detections, brightest first) is refocused, gated and qualified
  by g2(0) (:func:`~qlight.mapping.qualify.qualify_here`); the first single one becomes the
  new target and the reason is recorded. When every candidate is gone, a 15 µm and then a
  30 µm PL scan around the old target refill the list (positions already tried are not
  re-added; the spots just seen go before the older entries, which turnover empties).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from qlight.device.factory import Instruments
from qlight.mapping.detect import detect_and_localize
from qlight.mapping.fiducials import locate_marks, search_surface
from qlight.mapping.qualify import fit_zpl_nm, qualify_here
from qlight.mapping.refocus import RefocusResult, refocus
from qlight.mapping.registration import (
    ConstellationConfig,
    Registration,
    RegistrationFailed,
    register,
)
from qlight.mapping.similarity import Similarity2D
from qlight.physics.marks import MarkLayout

__all__ = ["Candidate", "CycleOutcome", "PowerCycleController"]

_LAYOUT = MarkLayout()
_POWER_W = 1e-3
#: First-guess depth of a not yet refocused emitter below the surface (stage z).
_DEPTH_GUESS_M = 0.3e-6


@dataclass(slots=True)
class Candidate:
    """A mapped emitter: chip-frame position, stage depth below the surface, fingerprint."""

    x_chip_m: float
    y_chip_m: float
    depth_m: float = _DEPTH_GUESS_M
    photons: float = 0.0
    zpl_nm: float = math.nan


@dataclass(slots=True)
class CycleOutcome:
    """What the control code did in one cycle.

    ``outcome``: ``"returned"`` (identity verified), ``"switched"`` (target declared gone,
    a new qualified target adopted) or ``"failed"``; ``result`` the final refocus.
    """

    outcome: str
    reason: str
    result: RefocusResult | None = None
    gone_reasons: list[str] = field(default_factory=list)


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
        max_candidates: int = 8,
    ) -> None:
        self.ins = ins
        self.size = size
        self.bounds = bounds
        self.position_gate_m = position_gate_m
        self.zpl_gate_nm = zpl_gate_nm
        self.max_candidates = max_candidates
        self.psf_sigma_m = ins.scanner.psf_fwhm_m / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        self.prior = Similarity2D.identity()
        self.z_ref = 0.0
        self.z_surf = 0.0
        self.target: Candidate | None = None
        self.candidates: list[Candidate] = []
        #: chip positions already tried (gone, not single, or former targets): not re-added
        self.tried: list[tuple[float, float]] = []
        self.crlb_m: list[float] = []

    # ------------------------------------------------------------------ steps
    def _laser_on(self) -> None:
        self.ins.laser.set_power(_POWER_W)
        self.ins.laser.on()

    def _surface(self) -> float:
        z = search_surface(self.ins.scanner, 0.0, 0.0, self.z_ref, self.ins.stage.travel_range_m[2])
        if z is None:
            raise RegistrationFailed("no surface reflection within the z travel")
        return z

    def _register(self, z_m: float) -> Registration:
        marks = locate_marks(self.ins.scanner, self.prior, _LAYOUT, *self.size, z_m)
        return register(marks, prior=self.prior, config=self.bounds)

    def _scan_candidates(self, reg: Registration, x_chip: float, y_chip: float, w: float) -> None:
        """PL scan ``w × w`` around a chip-frame point; add point-like spots, brightest first."""
        xs, ys = reg.transform.apply(x_chip, y_chip)
        pl = self.ins.scanner.raster_scan(
            float(xs), float(ys), w, w, 0.1e-6, 1e-3, z_m=self.z_surf + _DEPTH_GUESS_M
        )
        det = detect_and_localize(pl.pl_counts, pl.x_m, pl.y_m, psf_sigma_m=self.psf_sigma_m)
        found = []
        for d in det.accepted:
            xc, yc = reg.transform.apply_inverse(d.localization.x_m, d.localization.y_m)
            found.append(Candidate(float(xc), float(yc), photons=d.localization.photons))
        known = [(k.x_chip_m, k.y_chip_m) for k in self.candidates] + self.tried
        if self.target is not None:
            known.append((self.target.x_chip_m, self.target.y_chip_m))
        fresh = [
            c
            for c in sorted(found, key=lambda c: -c.photons)
            if all(math.hypot(c.x_chip_m - kx, c.y_chip_m - ky) > 0.5e-6 for kx, ky in known)
        ]
        # just seen beats mapped cycles ago (turnover empties old entries): fresh ones first
        self.candidates = fresh + self.candidates

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
        self.target = Candidate(float(xc), float(yc), res.z_m - self.z_surf, c.photons, zpl_nm=zpl)
        if res.localization is not None:
            self.crlb_m.append(math.hypot(res.localization.crlb_x_m, res.localization.crlb_y_m))

    def _try_candidates(self, reg: Registration, reasons: list[str]) -> RefocusResult | None:
        """Refocus + gate + g2 on candidates, brightest first; adopt the first single one."""
        tried = 0
        while self.candidates and tried < self.max_candidates:
            c = self.candidates.pop(0)
            self.tried.append((c.x_chip_m, c.y_chip_m))
            tried += 1
            res, moved = self._refocus_at(reg, c)
            if not res.ok:
                reasons.append(f"candidate gone (refocus: {res.reason})")
                continue
            if moved > self.position_gate_m:
                reasons.append(f"candidate gone (nearest spot {1e9 * moved:.0f} nm away)")
                continue
            verdict = qualify_here(self.ins.tagger, self.ins.spectrometer)
            if not verdict.single:
                reasons.append(f"candidate not single: {verdict.reason}")
                continue
            self._adopt(reg, c, res, verdict.fingerprint.zpl_nm)
            return res
        return None

    # ------------------------------------------------------------------ public
    def first_boot(self) -> RefocusResult:
        """Surface, marks registration, 30 µm PL map, target = brightest single emitter."""
        self._laser_on()
        self.z_surf = self.z_ref = self._surface()
        reg = self._register(self.z_surf)
        self.prior = reg.transform
        x0, y0 = reg.transform.apply_inverse(0.0, 0.0)
        self._scan_candidates(reg, float(x0), float(y0), 30e-6)
        reasons: list[str] = []
        res = self._try_candidates(reg, reasons)
        if res is None:
            raise RegistrationFailed(
                "first boot found no qualified single emitter among the brightest "
                f"{self.max_candidates} spots ({'; '.join(reasons)})"
            )
        return res

    def cycle(self) -> CycleOutcome:
        """After a power cycle: surface, registration, return (or switch) to the target."""
        self._laser_on()
        try:
            z = self._surface()
            reg = self._register(z)
        except RegistrationFailed as e:
            return CycleOutcome("failed", f"registration: {e}")
        self.z_surf, self.prior = z, reg.transform  # only successful cycles chain
        assert self.target is not None
        res, moved = self._refocus_at(reg, self.target)
        reasons: list[str] = []
        if not res.ok:
            reasons.append(f"target gone (refocus: {res.reason})")
        elif moved > self.position_gate_m:
            reasons.append(f"target gone (nearest spot {1e9 * moved:.0f} nm from prediction)")
        else:
            zpl = self.target.zpl_nm
            if math.isfinite(zpl):  # no ZPL in the fingerprint: position gate only
                zpl = fit_zpl_nm(self.ins.spectrometer.acquire_spectrum(0.5))
            if not math.isfinite(self.target.zpl_nm) or (
                abs(zpl - self.target.zpl_nm) <= self.zpl_gate_nm
            ):
                self._adopt(reg, self.target, res, self.target.zpl_nm)
                return CycleOutcome("returned", "", res)
            reasons.append(f"target gone (ZPL {zpl:.2f} nm, expected {self.target.zpl_nm:.2f})")
        old = self.target
        new = self._try_candidates(reg, reasons)
        for width in (15e-6, 30e-6):  # every mapped candidate gone: map around the old target
            if new is not None:
                break
            self._scan_candidates(reg, old.x_chip_m, old.y_chip_m, width)
            new = self._try_candidates(reg, reasons)
        if new is None:
            return CycleOutcome("failed", "all mapped emitters gone", None, reasons)
        return CycleOutcome("switched", reasons[0], new, reasons)
