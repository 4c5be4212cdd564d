"""Alice's source for the link simulator: intensities, their probabilities, photon numbers.

A source is a set of intensity classes ``k`` (the signal first, then decoys), each chosen
independently per pulse with probability ``π_k``. Every class is either a phase-randomised
weak coherent pulse (Poisson photon number, mean ``μ_k``) or a sub-Poissonian single-photon
source of mean ``μ_k`` and g2(0). Photon-number distributions come from
:func:`qlight.qkd.theory.photon_number_distribution` (the SPS one saturates the GLLP bound
``p(n ≥ 2) = g2(0) μ²/2``, Gottesman, Lo, Lütkenhaus, Preskill, QIC 4, 325 (2004)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from qlight._validation import check_finite, check_nonnegative, check_positive
from qlight.errors import ParameterError
from qlight.qkd.theory.channel import (
    SinglePhotonSource,
    Source,
    WeakCoherentSource,
    photon_number_distribution,
)

__all__ = ["LinkSource", "photon_number_table"]

SourceKind = Literal["sps", "wcp"]

#: Poisson tails beyond ``n_max`` are below this and are folded into ``p[n_max]``.
_TAIL = 1e-16


@dataclass(frozen=True)
class LinkSource:
    """Alice's pulses: intensity classes and how often each is sent.

    Parameters
    ----------
    kind : {"sps", "wcp"}
        Sub-Poissonian single-photon source (μ, g2(0)) or weak coherent pulses (Poisson).
    intensities : tuple of float
        Mean photon number ``μ_k`` of each class; index 0 is the signal (key) intensity,
        the others are decoys (0 is allowed for a vacuum decoy).
    probabilities : tuple of float
        ``π_k``, the probability of sending class ``k`` (sums to 1).
    g2 : float
        g2(0) of the single-photon source (ignored for WCP).
    """

    kind: SourceKind
    intensities: tuple[float, ...]
    probabilities: tuple[float, ...] = (1.0,)
    g2: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("sps", "wcp"):
            raise ParameterError("kind", self.kind, "must be 'sps' or 'wcp'")
        if not 1 <= len(self.intensities) <= 8:
            raise ParameterError("intensities", self.intensities, "must hold 1 to 8 values")
        if len(self.probabilities) != len(self.intensities):
            raise ParameterError(
                "probabilities", self.probabilities, "must have one value per intensity"
            )
        check_positive("mu", self.intensities[0])
        for mu in self.intensities[1:]:
            check_nonnegative("decoy intensity", mu)
        for p in self.probabilities:
            check_nonnegative("probability", p)
        if abs(math.fsum(self.probabilities) - 1.0) > 1e-9 or self.probabilities[0] <= 0.0:
            raise ParameterError(
                "probabilities", self.probabilities, "must sum to 1 with the signal's > 0"
            )
        check_nonnegative("g2", self.g2)
        if self.kind == "sps":
            for mu in self.intensities:
                if mu > 0.0:
                    SinglePhotonSource(mu, self.g2)  # validates mu <= 1 and g2 mu <= 1
        check_finite("g2", self.g2)

    @property
    def signal_mu(self) -> float:
        """Mean photon number of the signal (key) class."""
        return self.intensities[0]

    def theory_source(self, k: int = 0) -> Source:
        """The :mod:`qlight.qkd.theory` source of class ``k`` (which must not be vacuum)."""
        mu = self.intensities[k]
        if self.kind == "wcp":
            return WeakCoherentSource(mu)
        return SinglePhotonSource(mu, self.g2)

    @property
    def p_multi(self) -> float:
        """Multi-photon probability of the signal: GLLP bound g2 μ²/2 or 1 − e^{−μ}(1 + μ)."""
        mu = self.signal_mu
        if self.kind == "sps":
            return self.g2 * mu * mu / 2.0
        return -math.expm1(-mu) - mu * math.exp(-mu)


def _n_max(mu: float) -> int:
    """Largest photon number kept: Poisson tail beyond it < 1e-16 (Chernoff-safe margin)."""
    return max(2, math.ceil(mu + 12.0 * math.sqrt(mu) + 14.0))


def photon_number_table(source: LinkSource) -> NDArray[np.float64]:
    """``P[k, n]``: probability of ``n`` photons in a pulse of class ``k``.

    Rows sum to 1: the (< 1e-16) Poisson tail beyond the last column is added to it.
    """
    n_max = max(_n_max(mu) for mu in source.intensities) if source.kind == "wcp" else 2
    table = np.zeros((len(source.intensities), n_max + 1), dtype=np.float64)
    for k, mu in enumerate(source.intensities):
        if mu == 0.0:
            table[k, 0] = 1.0
            continue
        row = photon_number_distribution(source.theory_source(k), n_max)
        tail = 1.0 - math.fsum(row)
        if tail < -1e-12 or tail > _TAIL * 1e4:
            raise ParameterError("mu", mu, "gives a photon-number tail that cannot be truncated")
        row[-1] += max(tail, 0.0)
        table[k] = row
    return table
