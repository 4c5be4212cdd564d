"""Event-level Monte Carlo of a BB84 link: Alice's pulses, the channel, Eve and Bob.

Per pulse slot Alice picks an intensity class ``k`` (probability ``π_k``), a basis (Z with
probability ``q_Z``) and a bit; the photon number, Eve's action and the channel give the
number ``m`` of photons that reach Bob's detectors and would be registered
(:func:`qlight.qkd.link.eve.bob_photon_table`); each detector also fires from dark counts
with probability ``p_d``. Bob picks his basis (Z with probability ``q_Z``); in the matching
basis each photon goes to the detector of the sent bit except with the misalignment
probability, in the other basis to either with probability 1/2. Dead time, afterpulsing and
double clicks follow :mod:`qlight.qkd.link.detectors`.

Exact skipping of empty slots
-----------------------------
A slot is an *event* if ``m ≥ 1`` or a detector fires from a dark count; whether it is does
not depend on the detectors' state, so events form a Bernoulli process of probability
``p = Σ_k π_k [1 − W_k(m = 0)(1 − p_d)²]`` over the slots. The kernel jumps from one event
to the next with a geometric gap ``1 + ⌊X / −ln(1 − p)⌋``, ``X ~ Exp(1)`` (exactly geometric,
Devroye, *Non-Uniform Random Variate Generation*, 1986, Sec. X.2), and draws the event's
class, photon number, Eve tag and dark pattern jointly from their conditional distribution.
Afterpulses can fall on non-event slots: those get Alice's class and Eve's tag from the
non-event conditional ``π_k W_k(m = 0, tag)(1 − p_d)² / (1 − p)``. The number of slots of
each class that were never visited is drawn from the multinomial with the same conditional,
so ``sent_per_intensity`` is exact too. Only slots Bob registers are visited and stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from numba import njit
from numpy.typing import NDArray

from qlight._numba import JIT
from qlight._validation import check_fraction
from qlight.errors import ParameterError
from qlight.qkd.link.channel import LinkChannel
from qlight.qkd.link.detectors import BobDetectors
from qlight.qkd.link.eve import TAG_PNS, TAG_RESENT, Eve, bob_photon_table
from qlight.qkd.link.records import FLAG_AFTERPULSE, FLAG_DOUBLE, FLAG_EVE_KNOWS, LinkRecord
from qlight.qkd.link.source import LinkSource, photon_number_table

__all__ = ["LinkConfig", "event_tables", "simulate_link"]

_FAR = np.int64(1) << np.int64(62)


@dataclass(frozen=True)
class LinkConfig:
    """Everything that defines a simulated link.

    Parameters
    ----------
    source : LinkSource
        Alice's intensity classes and photon statistics.
    channel : LinkChannel
        Transmittance, background, encoding.
    detectors : BobDetectors
        Bob's detection system.
    eve : Eve
        The eavesdropper (default: none).
    basis_prob_z : float
        Probability that Alice (and, independently, Bob) chooses the Z basis, in (0, 1).
    period_ps : int
        Pulse period (time stamps are slot × period + jitter).
    """

    source: LinkSource
    channel: LinkChannel
    detectors: BobDetectors
    eve: Eve = field(default_factory=Eve)
    basis_prob_z: float = 0.5
    period_ps: int = 10_000

    def __post_init__(self) -> None:
        q = check_fraction("basis_prob_z", self.basis_prob_z)
        if q in (0.0, 1.0):
            raise ParameterError("basis_prob_z", q, "must be in (0, 1)")
        if isinstance(self.period_ps, bool) or not isinstance(self.period_ps, int | np.integer):
            raise ParameterError("period_ps", self.period_ps, "must be an integer")
        if self.period_ps < 1:
            raise ParameterError("period_ps", self.period_ps, "must be >= 1")

    def describe(self) -> dict[str, object]:
        """Plain-data description (stored in the record's metadata)."""
        d = self.detectors
        return {
            "source": asdict(self.source),
            "channel": asdict(self.channel),
            "detectors": {
                **asdict(d.model),
                **{k: v for k, v in asdict(d).items() if k != "model"},
            },
            "eve": self.eve.label(),
            "basis_prob_z": self.basis_prob_z,
            "period_ps": int(self.period_ps),
        }


@dataclass(frozen=True)
class EventTables:
    """Conditional distributions the kernel samples from (see the module docstring)."""

    p_event: float
    cdf: NDArray[np.float64]
    k: NDArray[np.int64]
    m: NDArray[np.int64]
    tag: NDArray[np.int64]
    dark: NDArray[np.int64]
    nonevent_cdf: NDArray[np.float64]
    nonevent_k: NDArray[np.int64]
    nonevent_tag: NDArray[np.int64]
    nonevent_prob: NDArray[np.float64]


def _cdf(p: NDArray[np.float64]) -> NDArray[np.float64]:
    c = np.cumsum(p)
    c /= c[-1]
    c[-1] = 1.0
    return c


def event_tables(config: LinkConfig) -> EventTables:
    """Probability of an event per slot and the joint law of (class, m, tag, darks) given one."""
    src, det = config.source, config.detectors
    photons = photon_number_table(src)
    w = bob_photon_table(photons, config.channel.transmittance, det.efficiency, config.eve)
    pd = det.dark_prob(config.channel.background_yield)
    dark = np.array([(1 - pd) ** 2, pd * (1 - pd), (1 - pd) * pd, pd * pd])
    pi = np.asarray(src.probabilities, dtype=np.float64)
    rows: list[tuple[int, int, int, int, float]] = []
    for k in range(w.shape[0]):
        for m in range(w.shape[1]):
            for tag in range(w.shape[2]):
                dks = range(4) if m > 0 else range(1, 4)
                rows.extend((k, m, tag, dk, pi[k] * w[k, m, tag] * dark[dk]) for dk in dks)
    rows = [r for r in rows if r[4] > 0.0]
    quiet = pi[:, None] * w[:, 0, :] * dark[0]  # class k, Eve tag, and no event
    empty = quiet.sum(axis=1)
    p_event = math.fsum(r[4] for r in rows)
    if not rows:  # nothing can ever click: a placeholder the kernel never reaches
        rows = [(0, 0, 0, 1, 1.0)]
    arr = np.array([r[4] for r in rows], dtype=np.float64)
    ne = empty / empty.sum() if empty.sum() > 0.0 else pi
    flat = quiet.ravel() if quiet.sum() > 0.0 else np.repeat(pi / w.shape[2], w.shape[2])
    return EventTables(
        p_event=min(max(p_event, 0.0), 1.0),
        cdf=_cdf(arr),
        k=np.array([r[0] for r in rows], dtype=np.int64),
        m=np.array([r[1] for r in rows], dtype=np.int64),
        tag=np.array([r[2] for r in rows], dtype=np.int64),
        dark=np.array([r[3] for r in rows], dtype=np.int64),
        nonevent_cdf=_cdf(flat.astype(np.float64)),
        nonevent_k=np.repeat(np.arange(w.shape[0], dtype=np.int64), w.shape[2]),
        nonevent_tag=np.tile(np.arange(w.shape[2], dtype=np.int64), w.shape[0]),
        nonevent_prob=ne.astype(np.float64),
    )


@njit(**JIT)  # type: ignore[untyped-decorator]
def _pick(cdf: NDArray[np.float64], u: float) -> int:
    j = int(np.searchsorted(cdf, u, side="right"))
    return j if j < cdf.size else cdf.size - 1


@njit(**JIT)  # type: ignore[untyped-decorator]
def _geometric_gap(rng: np.random.Generator, lam: float) -> int:
    """``⌊X / λ⌋`` with ``X ~ Exp(1)``: geometric on {0, 1, …} with P(0) = 1 − e^{−λ}."""
    if lam == np.inf:
        return 0
    g = rng.standard_exponential() / lam
    return int(g) if g < 1e18 else 1 << 60


@njit(**JIT)  # type: ignore[untyped-decorator]
def _link_kernel(
    rng: np.random.Generator,
    state: NDArray[np.int64],
    counts_nat: NDArray[np.int64],
    counts_ap: NDArray[np.int64],
    end: int,
    lam_event: float,
    cdf: NDArray[np.float64],
    o_k: NDArray[np.int64],
    o_m: NDArray[np.int64],
    o_tag: NDArray[np.int64],
    o_dark: NDArray[np.int64],
    nonevent_cdf: NDArray[np.float64],
    nonevent_k: NDArray[np.int64],
    nonevent_tag: NDArray[np.int64],
    pz: float,
    err_z: float,
    err_x: float,
    dead: int,
    shared_dead: bool,
    p_ap: float,
    lam_ap: float,
    out_idx: NDArray[np.int64],
    out_ab: NDArray[np.uint8],
    out_ax: NDArray[np.uint8],
    out_k: NDArray[np.uint8],
    out_bb: NDArray[np.uint8],
    out_bx: NDArray[np.uint8],
    out_fl: NDArray[np.uint8],
) -> int:
    """Visit events with slot < ``end``; ``state`` = [next event, dead0, dead1, ap0, ap1]."""
    n = 0
    cap = out_idx.size
    while n < cap:
        nxt = state[0]
        a0 = state[3]
        a1 = state[4]
        i = nxt
        if 0 <= a0 < i:
            i = a0
        if 0 <= a1 < i:
            i = a1
        if i >= end:
            break
        ab = 0 if rng.random() < pz else 1
        ax = 1 if rng.random() < 0.5 else 0
        bb = 0 if rng.random() < pz else 1
        c0 = False
        c1 = False
        flag = 0
        natural = i == nxt
        if natural:
            j = _pick(cdf, rng.random())
            k = o_k[j]
            m = o_m[j]
            tag = o_tag[j]
            dk = o_dark[j]
            counts_nat[k] += 1
        else:  # an afterpulse in a slot without photons or dark counts
            j = _pick(nonevent_cdf, rng.random())
            k = nonevent_k[j]
            tag = nonevent_tag[j]
            m = 0
            dk = 0
            counts_ap[k] += 1
        sb = ab
        sx = ax
        if tag == TAG_RESENT:
            eb = 0 if rng.random() < 0.5 else 1
            if eb == ab:
                flag |= FLAG_EVE_KNOWS
            else:
                sx = 1 if rng.random() < 0.5 else 0
            sb = eb
        elif tag == TAG_PNS:
            flag |= FLAG_EVE_KNOWS
        if natural:
            n0 = 0
            if sb == bb:
                e = err_z if bb == 0 else err_x
                for _ in range(m):
                    if (rng.random() < e) == (sx == 1):
                        n0 += 1
            else:
                for _ in range(m):
                    if rng.random() < 0.5:
                        n0 += 1
            c0 = n0 > 0 or (dk & 1) != 0
            c1 = m - n0 > 0 or (dk & 2) != 0
            state[0] = i + 1 + _geometric_gap(rng, lam_event)
        if a0 == i:
            state[3] = -1
            if i > state[1]:
                c0 = True
                flag |= FLAG_AFTERPULSE
        if a1 == i:
            state[4] = -1
            if i > state[2]:
                c1 = True
                flag |= FLAG_AFTERPULSE
        if i <= state[1]:
            c0 = False
        if i <= state[2]:
            c1 = False
        if not (c0 or c1):
            continue
        if c0 and c1:
            bx = 1 if rng.random() < 0.5 else 0
            flag |= FLAG_DOUBLE
        else:
            bx = 0 if c0 else 1
        out_idx[n] = i
        out_ab[n] = ab
        out_ax[n] = ax
        out_k[n] = k
        out_bb[n] = bb
        out_bx[n] = bx
        out_fl[n] = flag
        n += 1
        for d in range(2):
            clicked = c0 if d == 0 else c1
            if not clicked:
                continue
            if shared_dead:
                state[1] = i + dead
                state[2] = i + dead
            else:
                state[1 + d] = i + dead
            if p_ap > 0.0 and rng.random() < p_ap:
                state[3 + d] = i + dead + 1 + _geometric_gap(rng, lam_ap)
            else:
                state[3 + d] = -1
    return n


def simulate_link(
    config: LinkConfig,
    n_pulses: int,
    rng: np.random.Generator,
    *,
    block_pulses: int = 1 << 26,
    progress: Callable[[float], None] | None = None,
) -> LinkRecord:
    """Simulate ``n_pulses`` BB84 pulses of ``config`` and return both parties' raw data.

    Parameters
    ----------
    config : LinkConfig
        Source, channel, detectors, Eve, basis probability, pulse period.
    n_pulses : int
        Number of pulses Alice sends (> 0, < 2^62).
    rng : numpy.random.Generator
        Randomness; the same seed gives the same record.
    block_pulses : int
        Pulses processed per kernel call (progress granularity).
    progress : callable, optional
        Called with the number of pulses done after each block.

    Returns
    -------
    LinkRecord
        One row per slot Bob registered; ``sent_per_intensity`` per class.
    """
    if isinstance(n_pulses, bool) or not isinstance(n_pulses, int | np.integer):
        raise ParameterError("n_pulses", n_pulses, "must be an integer")
    if not 0 < n_pulses < (1 << 62):
        raise ParameterError("n_pulses", n_pulses, "must be in [1, 2^62)")
    if not isinstance(rng, np.random.Generator):
        raise ParameterError("rng", rng, "must be a numpy.random.Generator")
    if isinstance(block_pulses, bool) or not isinstance(block_pulses, int) or block_pulses < 1:
        raise ParameterError("block_pulses", block_pulses, "must be an integer >= 1")
    n_pulses = int(n_pulses)
    tables = event_tables(config)
    det = config.detectors
    err_z, err_x = config.channel.basis_errors(det.model.misalignment)
    lam_event = -math.log1p(-tables.p_event) if tables.p_event < 1.0 else math.inf
    mean_ap = det.afterpulse_delay_pulses
    lam_ap = math.log1p(1.0 / mean_ap) if mean_ap > 0.0 else math.inf
    n_classes = len(config.source.intensities)
    state = np.array([-1, -1, -1, -1, -1], dtype=np.int64)
    state[0] = _geometric_gap(rng, lam_event) if tables.p_event > 0.0 else _FAR  # first event slot
    counts_nat = np.zeros(n_classes, dtype=np.int64)
    counts_ap = np.zeros(n_classes, dtype=np.int64)
    chunks: list[list[NDArray[np.generic]]] = []
    expected = tables.p_event * min(block_pulses, n_pulses)
    cap = int(min(expected * 1.1 + 10.0 * math.sqrt(expected) + 1024, 1 << 24))
    start = 0
    while start < n_pulses:
        end = min(start + block_pulses, n_pulses)
        while True:
            out: list[NDArray[np.generic]] = [np.empty(cap, np.int64)]
            out.extend(np.empty(cap, np.uint8) for _ in range(6))
            n = _link_kernel(
                rng, state, counts_nat, counts_ap, end, lam_event, tables.cdf,
                tables.k, tables.m, tables.tag, tables.dark, tables.nonevent_cdf,
                tables.nonevent_k, tables.nonevent_tag,
                config.basis_prob_z, err_z, err_x, det.dead_time_pulses,
                det.shared_dead_time, det.model.afterpulse_prob, lam_ap, *out,
            )  # fmt: skip
            chunks.append([a[:n] for a in out])
            if n < cap:
                break
        if progress is not None:
            progress(float(end - start))
        start = end
    cols = [np.concatenate([c[j] for c in chunks]) for j in range(7)]
    visited = counts_nat + counts_ap
    rest = rng.multinomial(n_pulses - int(visited.sum()), tables.nonevent_prob)
    sent = (visited + rest).astype(np.int64)
    idx = np.ascontiguousarray(cols[0], dtype=np.int64)
    t_ps = idx * np.int64(config.period_ps)
    sigma = det.jitter_sigma_ps
    if sigma > 0.0 and idx.size:
        t_ps = t_ps + np.rint(rng.normal(0.0, sigma, idx.size)).astype(np.int64)
    return LinkRecord(
        pulse_index=idx,
        t_ps=t_ps,
        alice_basis=cols[1].astype(np.uint8),
        alice_bit=cols[2].astype(np.uint8),
        intensity=cols[3].astype(np.uint8),
        bob_basis=cols[4].astype(np.uint8),
        bob_bit=cols[5].astype(np.uint8),
        flags=cols[6].astype(np.uint8),
        n_pulses=n_pulses,
        sent_per_intensity=sent,
        intensities=tuple(float(x) for x in config.source.intensities),
        metadata=config.describe(),
    )
