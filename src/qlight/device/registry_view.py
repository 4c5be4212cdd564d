"""The device's use of the emitter registry (:mod:`qlight.mapping.registry`).

One chip per device (ID from the twin configuration); one registry session per boot; the
chip → stage transform of every registration is recorded (the next boot's prior); discovered
emitters are written tile by tile (one transaction each, so a crash loses nothing already
written; a repeated tile is de-duplicated by position); return outcomes
(:mod:`qlight.mapping.autoreturn`) become observations, status changes (``bleached``) and
events with their reasons. Only the state-machine thread uses this object.

Positions are stored in the chip frame; ``z_chip_m`` holds the emitter's focus depth in
stage z relative to the surface focus (the return's ``Candidate.depth_m``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from qlight.device.service_types import EmitterInfo
from qlight.mapping.autoreturn import ReturnResult
from qlight.mapping.discovery import DiscoveredEmitter
from qlight.mapping.registration import Registration
from qlight.mapping.registry import EmitterRecord, Registry
from qlight.mapping.similarity import Similarity2D

__all__ = ["RegistryView"]

#: A discovered emitter this close (chip frame) to a stored one is the same emitter.
DUPLICATE_M = 0.3e-6
#: Floor of a discovered emitter's stored 1σ: the frame is registered once before the
#: first-boot mapping, and the sample drifts during the minutes it takes (warm-up drift up
#: to ≈ 1 nm/s, docs/twin/chip-optics-stage.md), far more than the CRLB of the fits.
DISCOVERY_SIGMA_M = 50e-9
#: Floor of the 1σ after a verified return (registration + localization, ≈ 20-30 nm).
RETURN_SIGMA_M = 30e-9
#: An emitter found farther than this from a target's prediction is another emitter
#: (> 4 σ of the confocal PSF): nothing emits at the target, it counts as bleached.
ELSEWHERE_M = 0.5e-6
SQRT2 = math.sqrt(2.0)


def _floor(sigma_m: float, floor_m: float) -> float:
    return max(sigma_m, floor_m) if math.isfinite(sigma_m) else floor_m


def _finite(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


class RegistryView:
    """Registry operations of the device for one chip."""

    def __init__(self, registry: Registry, chip_id: str) -> None:
        self.registry = registry
        self.chip_id = chip_id
        registry.add_chip(chip_id, description="digital twin chip of the device service")
        self.session_id: int | None = None

    def close(self) -> None:
        """Close the registry."""
        self.registry.close()

    def start_session(self, boot: int) -> None:
        """Start the registry session of one boot."""
        s = self.registry.start_session(self.chip_id, kind="boot", notes=f"boot {boot}")
        self.session_id = s.id

    # ------------------------------------------------------------------ transforms
    def latest_transform(self) -> Similarity2D | None:
        """The last stored chip → stage transform (the registration prior)."""
        t = self.registry.latest_transform(self.chip_id)
        if t is None:
            return None
        return Similarity2D(t.tx_m, t.ty_m, t.rotation_rad, t.scale)

    def record_transform(self, reg: Registration) -> None:
        """Store a registration of this session."""
        if self.session_id is None:
            return
        t = reg.transform
        cov = reg.fit.param_covariance
        self.registry.record_transform(
            self.session_id,
            tx_m=t.tx_m,
            ty_m=t.ty_m,
            rotation_rad=t.rotation_rad,
            scale=t.scale,
            method=reg.method,
            covariance=cov.tolist() if np.all(np.isfinite(cov)) else None,
            residual_m=reg.fit.rms_m if math.isfinite(reg.fit.rms_m) else None,
            n_matches=reg.n_inliers,
        )

    # ------------------------------------------------------------------ emitters
    def count(self) -> int:
        """Number of emitters of the chip."""
        return len(self.registry.emitters(self.chip_id))

    def qualified(self) -> list[EmitterRecord]:
        """Active emitters with a positive quality score, best first."""
        return [e for e in self.registry.best_emitters(self.chip_id) if (e.quality_score or 0) > 0]

    def add_discovered(
        self, found: Sequence[DiscoveredEmitter], reg: Registration, z_surface_m: float
    ) -> int:
        """Store newly discovered emitters (chip frame); return how many were new."""
        have = self.registry.emitters(self.chip_id)
        xs = [e.x_chip_m for e in have]
        ys = [e.y_chip_m for e in have]
        added = 0
        for d in found:
            xc, yc = (float(v) for v in reg.transform.apply_inverse(d.x_stage_m, d.y_stage_m))
            if xs and float(np.min(np.hypot(np.array(xs) - xc, np.array(ys) - yc))) < DUPLICATE_M:
                continue
            fp: dict[str, object] = {}
            if d.fingerprint is not None:
                f = d.fingerprint
                for k, v in (
                    ("zpl_nm", f.zpl_nm),
                    ("brightness_per_s", f.brightness_per_s),
                    ("g2_0", f.g2_0),
                    ("g2_0_err", f.g2_0_err),
                ):
                    if _finite(v) is not None:
                        fp[k] = float(v)
            rec = self.registry.add_emitter(
                self.chip_id,
                x_chip_m=xc,
                y_chip_m=yc,
                z_chip_m=d.z_stage_m - z_surface_m,
                sigma_x_m=_floor(d.sigma_x_m, DISCOVERY_SIGMA_M),
                sigma_y_m=_floor(d.sigma_y_m, DISCOVERY_SIGMA_M),
                fingerprint=fp,
                quality_score=d.score,
                session_id=self.session_id,
                status="active" if d.single else "retired",
            )
            if not d.single:
                self.registry.record_event(
                    "rejected", d.reason or "not single", emitter_id=rec.id,
                    session_id=self.session_id,
                )  # fmt: skip
            self.registry.record_observation(
                rec.id, session_id=self.session_id, outcome="discovered",
                x_stage_m=d.x_stage_m, y_stage_m=d.y_stage_m, z_stage_m=d.z_stage_m,
                x_chip_m=xc, y_chip_m=yc, g2_0=_finite(fp.get("g2_0")),
                count_rate_per_s=_finite(fp.get("brightness_per_s")),
            )  # fmt: skip
            xs.append(xc)
            ys.append(yc)
            added += 1
        return added

    def targets(self, first: Sequence[str], limit: int) -> list[EmitterRecord]:
        """Active qualified emitters: ``first`` (if still active) then by score."""
        best = self.qualified()
        by_id = {e.id: e for e in best}
        out = [by_id[i] for i in dict.fromkeys(first) if i in by_id]
        out += [e for e in best if e.id not in {o.id for o in out}]
        return out[:limit]

    def record_return(self, out: ReturnResult, reg: Registration, z_surface_m: float) -> list[str]:
        """Write the outcomes of a return (:func:`qlight.mapping.autoreturn.acquire`); return
        one note per given-up emitter.

        An emitter with nothing point-like within the position gate of its prediction
        (``gone``), or found farther than :data:`ELSEWHERE_M` from it, is marked
        ``bleached`` (the frame is registered by the marks, so the prediction holds); one
        with an emitter near but outside the gate, another fingerprint or a failed g2 is
        only skipped (an event with the reason). The served emitter's stored position is
        refined with this return's measurement (chip frame via this registration).
        """
        notes: list[str] = []
        ok = None if out.emitter is None else out.emitter.key
        for a in out.attempts:
            if a.key == ok:
                continue
            why = f"{a.outcome}: {a.reason}"
            far = a.outcome == "off_prediction" and not a.distance_m < ELSEWHERE_M
            if a.outcome == "gone" or far:
                self.registry.set_status(a.key, "bleached", reason=why, session_id=self.session_id)
                notes.append(f"{a.key} bleached ({why}): next-best qualified emitter")
            else:
                self.registry.record_event(
                    "skipped", why, emitter_id=a.key, session_id=self.session_id
                )
                notes.append(f"{a.key} skipped ({why})")
        if ok is not None and out.refocus is not None:
            m = out.refocus
            xc, yc = (float(v) for v in reg.transform.apply_inverse(m.x_m, m.y_m))
            loc = m.localization
            s_loc = math.nan if loc is None else math.hypot(loc.crlb_x_m, loc.crlb_y_m) / SQRT2
            sigma = _floor(s_loc, RETURN_SIGMA_M)
            self.registry.update_emitter(
                ok, x_chip_m=xc, y_chip_m=yc, z_chip_m=m.z_m - z_surface_m,
                sigma_x_m=sigma, sigma_y_m=sigma,
            )  # fmt: skip
            self.registry.record_observation(
                ok, session_id=self.session_id, outcome="acquired",
                x_stage_m=m.x_m, y_stage_m=m.y_m, z_stage_m=m.z_m, x_chip_m=xc, y_chip_m=yc,
                count_rate_per_s=max(m.rate_per_s, 0.0) if math.isfinite(m.rate_per_s) else None,
            )  # fmt: skip
        return notes

    def retire(self, emitter_id: str, reason: str) -> None:
        """Take an emitter out of service (e.g. g2(0) too high) with the reason."""
        self.registry.set_status(emitter_id, "retired", reason=reason, session_id=self.session_id)

    def infos(self, current: str | None) -> list[EmitterInfo]:
        """All emitters of the chip as the interfaces show them."""
        snap = self.registry.snapshot()
        n_obs: dict[str, int] = {}
        last: dict[str, str] = {}
        for o in snap.observations:
            n_obs[o.emitter_id] = n_obs.get(o.emitter_id, 0) + 1
            last[o.emitter_id] = max(last.get(o.emitter_id, ""), o.observed_at.isoformat())
        out = []
        for e in snap.emitters:
            if e.chip_id != self.chip_id:
                continue
            status = e.status
            if status == "active":
                status = "qualified" if (e.quality_score or 0) > 0 else "active"
            fp = e.fingerprint
            out.append(
                EmitterInfo(
                    id=e.id,
                    x_um=e.x_chip_m * 1e6,
                    y_um=e.y_chip_m * 1e6,
                    sigma_xy_nm=math.hypot(e.sigma_x_m, e.sigma_y_m) / SQRT2 * 1e9,
                    status=status,
                    quality=e.quality_score,
                    g2_0=_finite(fp.get("g2_0")),
                    brightness_cps=_finite(fp.get("brightness_per_s")),
                    zpl_nm=_finite(fp.get("zpl_nm")),
                    polarization_deg=_finite(fp.get("polarization_deg")),
                    n_observations=n_obs.get(e.id, 0),
                    last_seen_utc=last.get(e.id),
                    is_current=e.id == current,
                )
            )
        return out
