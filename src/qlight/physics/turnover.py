"""Emitter turnover between power cycles: permanent bleaching plus newly activated defects.

Over long operation (and over the thermal cycle of a power-down) some defect emitters
photobleach for good while other defects become optically active (a change of charge state,
e.g. the photo-activation and permanent bleaching reported for GaN and hBN quantum
emitters: Berhane et al., Adv. Mater. 29, 1605092 (2017); Kianinia et al., ACS Photonics 5,
1239 (2018)). The twin models it per power cycle with one parameter, the *turnover
fraction* ``F`` of :class:`qlight.physics.stage.StageConfig`: every live emitter bleaches
permanently with probability ``F`` (independently), and as many new emitters appear at
uniformly random positions of the chip (not under a mark's metal), so the density stays
constant. The per-cycle probability is an *estimate*; the published rates are per hour
of illumination, not per power cycle.

Simplification: a new emitter is isolated (no unresolved companion) and not at a
fabricated structure site; its properties are drawn with the chip's own laws
(:func:`qlight.physics.chip.generate_chip` of a *reservoir* chip of the same config and a
fresh seed, from which isolated, off-structure emitters are taken). A new emitter takes over
the array slot of a permanently bleached one (a bleached emitter is dark and contributes
nothing, so the optics do not change), which keeps the emitter arrays bounded; the caller
keeps a unique identity per physical emitter (see
:attr:`qlight.instruments.sim.world.TwinWorld.emitter_uid`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qlight.errors import ParameterError
from qlight.physics.chip import Chip, ChipEmitter, generate_chip

__all__ = ["Turnover", "draw_turnover"]


@dataclass(frozen=True, slots=True)
class Turnover:
    """The outcome of one turnover draw.

    Attributes
    ----------
    chip : Chip
        The chip after the turnover (a new object: its caches start empty).
    slots : ndarray of int64
        Array slots whose emitter bleached permanently; slot ``slots[k]`` now holds the
        new emitter ``chip.emitters[slots[k]]``.
    """

    chip: Chip
    slots: NDArray[np.int64]


#: Chips drawn at most to fill the reservoir (a chip config without isolated emitters fails).
_MAX_RESERVOIR_CHIPS = 1000


def _reservoir(chip: Chip, rng: np.random.Generator, n: int) -> list[ChipEmitter]:
    """``n`` isolated, off-structure emitters drawn with the chip's laws."""
    out: list[ChipEmitter] = []
    for _ in range(_MAX_RESERVOIR_CHIPS):
        if len(out) >= n:
            break
        extra = generate_chip(chip.config, int(rng.integers(0, 2**62)))
        pool = [e for e in extra.emitters if e.cluster < 0 and not e.at_structure]
        take = rng.permutation(len(pool))[: n - len(out)]
        out.extend(pool[int(k)] for k in take)
    if len(out) < n:
        raise ParameterError("chip.config", chip.config, "must give isolated emitters")
    return out


def draw_turnover(
    chip: Chip, alive: ArrayLike, fraction: float, rng: np.random.Generator
) -> Turnover:
    """Bleach each live emitter with probability ``fraction`` and activate as many new ones.

    Parameters
    ----------
    chip : Chip
        The chip now.
    alive : array_like of bool, shape (n_emitters,)
        Which emitters are live (not bleached) now.
    fraction : float
        Per-cycle probability of permanent bleaching, ``0 <= fraction < 1``.
    rng : numpy.random.Generator
        Random stream (same state, same outcome).

    Returns
    -------
    Turnover
        The new chip and the slots that changed emitter. A companion of an unresolved
        cluster whose slot is replaced leaves the cluster (the new emitter is isolated).
    """
    live = np.asarray(alive, dtype=np.bool_)
    if live.shape != (len(chip.emitters),):
        raise ParameterError("alive", live.shape, f"must have shape ({len(chip.emitters)},)")
    f = float(fraction)
    if not 0.0 <= f < 1.0:
        raise ParameterError("fraction", fraction, "must be in [0, 1)")
    gone = np.flatnonzero(live & (rng.random(live.size) < f)).astype(np.int64)
    if gone.size == 0:
        return Turnover(chip, gone)
    new = _reservoir(chip, rng, int(gone.size))
    emitters = list(chip.emitters)
    for slot, e in zip(gone.tolist(), new, strict=True):
        emitters[slot] = dataclasses.replace(e, index=slot, cluster=-1)
    return Turnover(dataclasses.replace(chip, emitters=tuple(emitters)), gone)
