"""Evaluation interface to the twin's ground truth (tests and the evaluation harness only).

Control code (mapping, device, characterization, API, CLI except ``qlight simulate``) may not
import this module; import-linter enforces it. :class:`TwinTruth` reads the shared
:class:`~qlight.instruments.sim.world.TwinWorld` without changing it (no clock cost, no
random draws): true emitter positions in the chip frame and where they are in the stage
frame *now* (transform + drift), the true transform and focus offset, which emitters have
bleached, which are members of clusters, the background spots, the marks, and the expected
detected rates an ideal measurement would give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight.instruments.sim.scanner import registered_rates_per_s
from qlight.instruments.sim.tagger import expected_focus_rates
from qlight.instruments.sim.world import TwinWorld
from qlight.physics.chip import BackgroundSpot, Chip, FiducialMark
from qlight.physics.detectors import SPADModel
from qlight.physics.optics import Objective, focal_shift_factor
from qlight.physics.stage import FrameTransform, PowerCycleResult

__all__ = ["EmitterTruth", "SpotTruth", "TwinTruth"]

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EmitterTruth:
    """One emitter as the twin knows it (positions in metres).

    ``x_stage_m``/``y_stage_m`` is the stage reading that puts the focus on it now (true
    transform plus the current drift); ``z_stage_m`` the stage z that focuses at its depth.
    ``cluster`` is −1 for an isolated emitter, else the index of its cluster's first member.
    """

    index: int
    x_chip_m: float
    y_chip_m: float
    depth_m: float
    x_stage_m: float
    y_stage_m: float
    z_stage_m: float
    cluster: int
    at_structure: bool
    bleached: bool
    remaining_budget: float
    blinking: bool
    eta: float
    zpl_nm: float


@dataclass(frozen=True, slots=True)
class SpotTruth:
    """A bright non-single background spot; ``appeared_on_power_cycle`` for new ones."""

    x_chip_m: float
    y_chip_m: float
    x_stage_m: float
    y_stage_m: float
    sigma_m: float
    rate_per_s_per_w: float
    appeared_on_power_cycle: bool


class TwinTruth:
    """Read-only view of a twin's ground truth (see module docstring)."""

    def __init__(self, world: TwinWorld) -> None:
        self._world = world

    # ------------------------------------------------------------------ frames
    @property
    def chip(self) -> Chip:
        """The sample (all emitters, spots, marks, sites, background field)."""
        return self._world.chip

    @property
    def transform(self) -> FrameTransform:
        """True chip → stage transform (changes on every power cycle)."""
        return self._world.stage.transform

    @property
    def focus_offset_m(self) -> float:
        """Stage z at which the chip surface is in focus (before drift)."""
        return self._world.stage.focus_offset_m

    @property
    def objective(self) -> Objective:
        """Objective and detection path of the setup."""
        return self._world.objective

    @property
    def detector(self) -> SPADModel:
        """Detector model of both HBT arms."""
        return self._world.detector

    @property
    def laser_wavelength_m(self) -> float:
        """Excitation wavelength."""
        return self._world.laser_wavelength_m

    @property
    def extra_spots(self) -> tuple[BackgroundSpot, ...]:
        """Background spots that appeared on power cycles (chip frame)."""
        return self._world.extra_spots

    def emitter_scale(self, power_w: float) -> NDArray[np.float64]:
        """Per emitter the brightness factor scans render with (0 bleached, on-fraction)."""
        return self._world.emitter_scale(power_w)

    @property
    def power_cycles(self) -> tuple[PowerCycleResult, ...]:
        """What each power cycle so far changed."""
        return tuple(self._world.power_cycles)

    def now_s(self) -> float:
        """Current simulated time."""
        return self._world.clock.now_s()

    def drift_m(self, t_s: float | None = None) -> tuple[float, float, float]:
        """Sample drift ``(dx, dy, dz)`` at clock time ``t_s`` (default now)."""
        d = self._world.drift_m(self.now_s() if t_s is None else t_s)
        return float(d[0]), float(d[1]), float(d[2])

    def chip_to_stage(
        self, x_m: ArrayLike, y_m: ArrayLike, t_s: float | None = None
    ) -> tuple[F64, F64]:
        """Stage reading that puts the focus on chip-frame ``(x_m, y_m)`` at ``t_s``."""
        dx, dy, _ = self.drift_m(t_s)
        xs, ys = self.transform.chip_to_stage(x_m, y_m)
        return xs + dx, ys + dy

    def stage_to_chip(
        self, x_m: ArrayLike, y_m: ArrayLike, t_s: float | None = None
    ) -> tuple[F64, F64]:
        """Chip-frame point under the focus for a stage reading ``(x_m, y_m)`` at ``t_s``."""
        dx, dy, _ = self.drift_m(t_s)
        x = np.asarray(x_m, dtype=np.float64) - dx
        y = np.asarray(y_m, dtype=np.float64) - dy
        return self.transform.stage_to_chip(x, y)

    def stage_z_for_depth(self, depth_m: float, t_s: float | None = None) -> float:
        """Stage z that puts the focus at actual depth ``depth_m`` below the surface.

        Inverts the focal shift of :func:`qlight.physics.optics.actual_focus_depth_m`.
        """
        w = self._world
        o = w.objective
        f = focal_shift_factor(
            o.na, w.chip.config.refractive_index, o.immersion_index, o.focal_shift
        )
        nominal = depth_m / f if depth_m > 0.0 else depth_m
        return nominal + self.focus_offset_m + self.drift_m(t_s)[2]

    def physical_stage_position_m(self) -> tuple[float, float, float]:
        """Where the stage physically is (encoder target + closed-loop error)."""
        return self._world.stage.position_m

    # ------------------------------------------------------------------ objects
    def emitters(self) -> tuple[EmitterTruth, ...]:
        """Every emitter with its current state and stage-frame position."""
        w = self._world
        a = w.chip.arrays
        xs, ys = self.chip_to_stage(a.x_m, a.y_m)
        out = []
        for i, (e, st) in enumerate(zip(w.chip.emitters, w.emitter_states, strict=True)):
            out.append(
                EmitterTruth(
                    index=i,
                    x_chip_m=e.x_m,
                    y_chip_m=e.y_m,
                    depth_m=e.depth_m,
                    x_stage_m=float(xs[i]),
                    y_stage_m=float(ys[i]),
                    z_stage_m=self.stage_z_for_depth(e.depth_m),
                    cluster=e.cluster,
                    at_structure=e.at_structure,
                    bleached=st.bleached,
                    remaining_budget=st.remaining_budget,
                    blinking=e.photophysics.blinking is not None,
                    eta=float(w.eta[i]),
                    zpl_nm=e.photophysics.zpl_nm,
                )
            )
        return tuple(out)

    def bleached(self) -> NDArray[np.bool_]:
        """Per emitter: whether it has bleached."""
        return np.array([s.bleached for s in self._world.emitter_states], dtype=np.bool_)

    def emitter_uids(self) -> NDArray[np.int64]:
        """Per array slot, the identity of the physical emitter in it (a copy).

        With turnover (:mod:`qlight.physics.turnover`) a power cycle may put a newly
        activated emitter into the slot of a permanently bleached one: the slot keeps its
        index, the uid changes. Without turnover ``uid == index``.
        """
        return self._world.emitter_uid.copy()

    def emitter_alive(self, uid: int) -> bool:
        """Whether the physical emitter ``uid`` still exists and has not bleached."""
        w = self._world
        slots = np.flatnonzero(w.emitter_uid == uid)
        return bool(slots.size) and not w.emitter_states[int(slots[0])].bleached

    def turnovers(
        self,
    ) -> tuple[tuple[int, NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]], ...]:
        """Per power cycle with turnover: ``(cycle number (1-based), slots, gone uids, new
        uids)``."""
        return tuple(self._world.turnover_log)

    def cluster_members(self, index: int) -> tuple[int, ...]:
        """Indices of the emitters in the same cluster as ``index`` (itself if isolated)."""
        c = self._world.chip.emitters[index].cluster
        if c < 0:
            return (index,)
        return tuple(e.index for e in self._world.chip.emitters if e.cluster == c)

    def spots(self) -> tuple[SpotTruth, ...]:
        """Background spots of the chip and those that appeared on power cycles."""
        w = self._world
        all_spots: list[tuple[BackgroundSpot, bool]] = [(s, False) for s in w.chip.spots]
        all_spots += [(s, True) for s in w.extra_spots]
        out = []
        for s, new in all_spots:
            xs, ys = self.chip_to_stage(s.x_m, s.y_m)
            out.append(
                SpotTruth(s.x_m, s.y_m, float(xs), float(ys), s.sigma_m, s.rate_per_s_per_w, new)
            )
        return tuple(out)

    def marks(self) -> tuple[FiducialMark, ...]:
        """The fiducial marks (chip frame)."""
        return self._world.chip.marks

    # ------------------------------------------------------------------ rates
    def emitter_rates_at(self, x_m: float, y_m: float, z_m: float) -> dict[int, float]:
        """Expected detected photon rate (both detectors) of each emitter the focus reaches
        with the stage at ``(x_m, y_m, z_m)`` now (η × detection PSF × mean emission)."""
        w = self._world
        xc, yc, dep = (float(v) for v in w.focus_chip_frame(x_m, y_m, z_m, self.now_s()))
        fe = w.focus_emitters(xc, yc, dep)
        emitted, _, _ = expected_focus_rates(w, fe, xc, yc, dep)
        det = emitted * fe.eta * fe.detection
        return {int(i): float(r) for i, r in zip(fe.index, det, strict=True)}

    def expected_rates_at(self, x_m: float, y_m: float, z_m: float) -> tuple[float, float, float]:
        """Expected rates with the stage at ``(x_m, y_m, z_m)`` now, laser as set.

        Returns ``(signal_per_s, background_per_s, registered_per_s)``: detected photons
        from emitters and from background (both detectors, before dead time), and the
        total registered count rate of both detectors (dark counts, dead time and
        afterpulsing included) — the mean a count-rate reading gives.
        """
        w = self._world
        xc, yc, dep = (float(v) for v in w.focus_chip_frame(x_m, y_m, z_m, self.now_s()))
        fe = w.focus_emitters(xc, yc, dep)
        _, signal, bg = expected_focus_rates(w, fe, xc, yc, dep)
        incoming = np.array([0.5 * (signal + bg) + w.detector.dark_cps])
        registered = 2.0 * float(registered_rates_per_s(incoming, w.detector)[0])
        return signal, bg, registered
