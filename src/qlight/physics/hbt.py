"""Hanbury Brown–Twiss acquisition: sources → beam splitter → two detectors → time tagger.

Pipeline of :func:`simulate_hbt` (``docs/twin/photophysics.md``):

1. each source (an emitter with its detection probability η) produces its exact detected-photon
   arrivals (:func:`qlight.physics.photons.generate_arrivals`), updating its
   :class:`EmitterState` (photon budget, blinking, bleaching) in place;
2. every photon independently goes to detector 0 with probability
   ``r ε0 / (r ε0 + (1 − r) ε1)`` (split ratio ``r``, spectrally averaged efficiencies ``ε``,
   since η already includes the detector efficiency) and gets that detector's jitter
   (:func:`split_and_jitter`). Several sources in the focus are independent streams merged
   before the splitter; splitting each one and merging per detector is the same in law;
3. per detector, Poisson background (``background_cps_per_w · P + background_cps``) and dark
   counts are merged in and the dead time and afterpulsing applied (:func:`apply_detector`),
   each detector on its own stream;
4. the tagger adds channel delays and floors to its resolution (:func:`tag_channel`).

:func:`count_rates_expected` gives the closed-form mean registered rates without tags.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qlight._validation import check_fraction, check_nonnegative, check_positive
from qlight.errors import ParameterError
from qlight.physics.detectors import (
    SPADModel,
    TimeTaggerModel,
    apply_detector,
    registered_rate_per_s,
    split_and_jitter,
    tag_channel,
)
from qlight.physics.emitter import EmitterPhotophysics
from qlight.physics.emitter_spectrum import spectral_average
from qlight.physics.photons import MAX_DURATION_PS, generate_arrivals
from qlight.physics.pulsed import PulsedModel, pulsed_rates

__all__ = [
    "ChunkJoiner",
    "EmitterState",
    "Excitation",
    "HBTSetup",
    "HBTTags",
    "PhotonSource",
    "count_rates_expected",
    "detected_photon_rate_per_s",
    "eta_from_collection",
    "expected_count_rate_per_s",
    "simulate_hbt",
]


@dataclass(frozen=True, slots=True)
class Excitation:
    """Laser excitation: CW if ``rep_rate_hz`` is None, else rectangular pulses.

    ``power_w`` is the time-averaged power; pulses of ``pulse_width_ps`` start at
    ``t = k / rep_rate_hz``.
    """

    power_w: float
    rep_rate_hz: float | None = None
    pulse_width_ps: float = 50.0

    def __post_init__(self) -> None:
        check_nonnegative("power_w", self.power_w)
        check_positive("pulse_width_ps", self.pulse_width_ps)
        if self.rep_rate_hz is not None:
            check_positive("rep_rate_hz", self.rep_rate_hz)
            if self.pulse_width_ps * 1e-12 * self.rep_rate_hz > 1.0:
                raise ParameterError("pulse_width_ps", self.pulse_width_ps, "exceeds the period")


@dataclass(slots=True)
class EmitterState:
    """Mutable runtime state of one emitter kept by the twin between acquisitions."""

    remaining_budget: float
    blink_on: bool = True
    bleached: bool = False

    def __post_init__(self) -> None:
        b = float(self.remaining_budget)
        if math.isnan(b) or b < 0.0:
            raise ParameterError("remaining_budget", self.remaining_budget, "must be >= 0")

    @classmethod
    def fresh(cls, photophysics: EmitterPhotophysics, rng: np.random.Generator) -> EmitterState:
        """A new emitter: bright, with a budget ~ Exp(mean ``photon_budget``) (constant
        bleaching probability per photon; inf stays inf)."""
        mean = photophysics.photon_budget
        budget = math.inf if math.isinf(mean) else float(rng.exponential(mean))
        return cls(remaining_budget=budget)


@dataclass(frozen=True, slots=True)
class PhotonSource:
    """One emitter in the focus and the probability η that an emitted photon is detected
    (by one of the two detectors, detector efficiency included)."""

    photophysics: EmitterPhotophysics
    eta: float
    state: EmitterState | None = None

    def __post_init__(self) -> None:
        check_fraction("eta", self.eta)


@dataclass(frozen=True, slots=True)
class HBTSetup:
    """Two detectors behind a beam splitter, a tagger and the background light."""

    detectors: tuple[SPADModel, SPADModel]
    tagger: TimeTaggerModel = TimeTaggerModel()  # noqa: RUF009 - frozen, immutable
    background_cps_per_w: float = 0.0
    background_cps: float = 0.0
    split_ratio: float = 0.5

    def __post_init__(self) -> None:
        if len(self.detectors) != 2:
            raise ParameterError("detectors", self.detectors, "must be two SPADModel")
        check_nonnegative("background_cps_per_w", self.background_cps_per_w)
        check_nonnegative("background_cps", self.background_cps)
        check_fraction("split_ratio", self.split_ratio)

    def background_per_detector_cps(self, power_w: float) -> float:
        """Poisson background registered by each detector (before dead time), 1/s."""
        return self.background_cps_per_w * power_w + self.background_cps

    def detector_share(self, photophysics: EmitterPhotophysics) -> float:
        """Fraction of an emitter's detected photons that detector 0 registers."""
        return _share(photophysics, self.detectors[0], self.detectors[1], self.split_ratio)


def _efficiency(photophysics: EmitterPhotophysics, spad: SPADModel) -> float:
    """Detector efficiency averaged over the emitter's spectrum (cached on the spectrum)."""
    ph = photophysics
    key = (ph.zpl_nm, ph.zpl_fwhm_nm, ph.debye_waller, ph.psb_shift_mev, ph.psb_fwhm_mev)
    return _spectral_efficiency(key, spad.efficiency_curve)


@functools.lru_cache(maxsize=4096)
def _spectral_efficiency(
    spectrum: tuple[float, float, float, float, float], curve: tuple[tuple[float, float], ...]
) -> float:
    zpl, fwhm, dw, shift, width = spectrum
    ph = EmitterPhotophysics(
        1.0,
        1.0,
        0.0,
        1.0,
        zpl_nm=zpl,
        zpl_fwhm_nm=fwhm,
        debye_waller=dw,
        psb_shift_mev=shift,
        psb_fwhm_mev=width,
    )
    return spectral_average(ph, curve)


def _share(ph: EmitterPhotophysics, d0: SPADModel, d1: SPADModel, r: float) -> float:
    e0, e1 = r * _efficiency(ph, d0), (1.0 - r) * _efficiency(ph, d1)
    return r if e0 + e1 == 0.0 else e0 / (e0 + e1)


def eta_from_collection(
    photophysics: EmitterPhotophysics, setup: HBTSetup, collection_efficiency: float
) -> float:
    """η = collection × (r ε0 + (1 − r) ε1), ε the detector efficiency over the spectrum."""
    c = check_fraction("collection_efficiency", collection_efficiency)
    r = setup.split_ratio
    e0, e1 = (_efficiency(photophysics, d) for d in setup.detectors)
    return c * (r * e0 + (1.0 - r) * e1)


@dataclass(frozen=True, slots=True)
class HBTTags:
    """Result of one acquisition.

    Attributes
    ----------
    t_ps : (ndarray, ndarray)
        Sorted int64 tags (ps) of the two detector channels.
    duration_ps : int
        Acquisition length.
    emitted_photons : tuple of int
        Photons emitted by each source during the acquisition.
    sync_period_ps : float or None
        Laser period for pulsed excitation (pulses at ``k · sync_period_ps`` before delays).
    """

    t_ps: tuple[NDArray[np.int64], NDArray[np.int64]]
    duration_ps: int
    emitted_photons: tuple[int, ...]
    sync_period_ps: float | None = None


def detected_photon_rate_per_s(source: PhotonSource, excitation: Excitation) -> float:
    """Mean rate of detected photons of one source (η × mean emission, blinking included)."""
    if source.state is not None and source.state.bleached:
        return 0.0
    ph, p = source.photophysics, excitation.power_w
    if p == 0.0:
        return 0.0
    if excitation.rep_rate_hz is None:
        return source.eta * ph.mean_emission_rate_at(p)
    k_off, k_on = ph.blink_rates_per_ns(p)
    model = PulsedModel(
        pulsed_rates(ph, p, excitation.rep_rate_hz, excitation.pulse_width_ps),
        excitation.rep_rate_hz,
        excitation.pulse_width_ps,
        k_off_per_ns=k_off,
        k_on_per_ns=k_on,
    )
    return source.eta * model.emission_per_pulse() * excitation.rep_rate_hz


def count_rates_expected(
    sources: Sequence[PhotonSource], excitation: Excitation, setup: HBTSetup
) -> tuple[float, float]:
    """Closed-form mean registered count rate (1/s) of each detector.

    Incoming rate of detector k: its share of the detected photons of every source, plus
    background and dark counts; dead time and afterpulsing by
    :func:`qlight.physics.detectors.registered_rate_per_s` (exact for Poisson input).
    """
    incoming = [0.0, 0.0]
    for src in sources:
        rate = detected_photon_rate_per_s(src, excitation)
        share = setup.detector_share(src.photophysics)
        incoming[0] += share * rate
        incoming[1] += (1.0 - share) * rate
    bg = setup.background_per_detector_cps(excitation.power_w)
    d0, d1 = setup.detectors
    return (
        registered_rate_per_s(incoming[0] + bg + d0.dark_cps, d0),
        registered_rate_per_s(incoming[1] + bg + d1.dark_cps, d1),
    )


def expected_count_rate_per_s(
    sources: Sequence[PhotonSource], excitation: Excitation, setup: HBTSetup
) -> float:
    """Total mean registered count rate of both detectors (what a confocal scan records)."""
    r0, r1 = count_rates_expected(sources, excitation, setup)
    return r0 + r1


def simulate_hbt(
    sources: Sequence[PhotonSource],
    excitation: Excitation,
    setup: HBTSetup,
    duration_s: float,
    rng: np.random.Generator,
) -> HBTTags:
    """Simulate one HBT acquisition of ``duration_s`` seconds (see module docstring).

    Sources with a ``state`` start from it and have it updated in place; sources without one
    start fresh (:meth:`EmitterState.fresh`, blink state drawn from its stationary law).

    Examples
    --------
    >>> from qlight.physics.detectors import SI_SPAD
    >>> ph = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, qe=0.8)
    >>> tags = simulate_hbt([PhotonSource(ph, 0.05)], Excitation(2e-4),
    ...                     HBTSetup((SI_SPAD, SI_SPAD)), 1e-3, np.random.default_rng(1))
    >>> [bool(np.all(np.diff(t) >= 0)) for t in tags.t_ps]
    [True, True]
    """
    dur = check_positive("duration_s", duration_s) * 1e12
    if dur > MAX_DURATION_PS:
        raise ParameterError("duration_s", duration_s, f"must be <= {MAX_DURATION_PS * 1e-12:g}")
    dur_ps = max(1, round(dur))
    per_det: list[list[NDArray[np.int64]]] = [[], []]
    emitted: list[int] = []
    sigmas = (setup.detectors[0].jitter_sigma_ps, setup.detectors[1].jitter_sigma_ps)
    for src in sources:
        ph, state = src.photophysics, src.state
        if state is not None and state.bleached:
            emitted.append(0)
            continue
        fresh = EmitterState.fresh(ph, rng) if state is None else state
        arr = generate_arrivals(
            ph,
            excitation.power_w,
            src.eta,
            float(dur_ps),
            rng,
            rep_rate_hz=excitation.rep_rate_hz,
            pulse_width_ps=excitation.pulse_width_ps,
            remaining_budget=fresh.remaining_budget,
            blink_on=None if state is None else state.blink_on,
        )
        emitted.append(arr.emitted_photons)
        if state is not None:
            state.remaining_budget = max(0.0, state.remaining_budget - arr.emitted_photons)
            state.blink_on = arr.blink_on
            state.bleached = arr.bleached
        s0, s1 = split_and_jitter(arr.t_ps, setup.detector_share(ph), sigmas, rng)
        per_det[0].append(s0)
        per_det[1].append(s1)
    bg = setup.background_per_detector_cps(excitation.power_w)
    out: list[NDArray[np.int64]] = []
    for k in (0, 1):
        streams = per_det[k]
        if len(streams) == 1:
            merged = streams[0]
        elif streams:
            merged = np.sort(np.concatenate(streams), kind="stable")
        else:
            merged = np.zeros(0, dtype=np.int64)
        registered = apply_detector(merged, setup.detectors[k], dur_ps, rng, extra_cps=bg)
        out.append(tag_channel(registered, setup.tagger, k, in_place=True))
    sync = None if excitation.rep_rate_hz is None else 1e12 / excitation.rep_rate_hz
    return HBTTags((out[0], out[1]), dur_ps, tuple(emitted), sync)


class ChunkJoiner:
    """Join consecutive acquisition chunks of the two HBT channels into one record.

    Long acquisitions are generated chunk by chunk (progress, cancellation, drift between
    chunks). Each chunk of :func:`simulate_hbt` starts with live detectors, so a tag closer
    than the dead time to the last kept tag of the previous chunk in the same channel is
    dropped: the detector was still dead (non-paralyzable dead time, never violated across a
    boundary). Tags that jitter or delays moved past a chunk edge are re-sorted at the end.

    Parameters
    ----------
    dead_time_ps : tuple of int
        Dead time of each detector channel.
    """

    def __init__(self, dead_time_ps: tuple[int, int]) -> None:
        self._dead = tuple(int(d) for d in dead_time_ps)
        self._parts: tuple[list[NDArray[np.int64]], list[NDArray[np.int64]]] = ([], [])
        self._last = [-(2**62), -(2**62)]

    def add(self, t_ps: tuple[NDArray[np.int64], NDArray[np.int64]], offset_ps: int) -> None:
        """Append one chunk whose tags are relative to ``offset_ps``."""
        for ch in (0, 1):
            t = t_ps[ch] + np.int64(offset_ps)
            if t.size and t[0] - self._last[ch] < self._dead[ch]:
                t = t[np.searchsorted(t, self._last[ch] + self._dead[ch]) :]
            if t.size:
                self._last[ch] = int(t[-1])
                self._parts[ch].append(t)

    def result(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The two channels, each sorted ``int64`` ps."""
        out = []
        for parts in self._parts:
            t = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            t = t.astype(np.int64, copy=False)
            if t.size > 1 and bool(np.any(t[1:] < t[:-1])):
                t = np.sort(t, kind="stable")
            out.append(np.ascontiguousarray(t))
        return out[0], out[1]
