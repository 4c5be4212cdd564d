"""The repeaterless PLOB bound."""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError

__all__ = ["plob_bound"]


@overload
def plob_bound(transmittance: float) -> float: ...
@overload
def plob_bound(transmittance: NDArray[np.float64]) -> NDArray[np.float64]: ...
def plob_bound(transmittance: float | NDArray[np.float64]) -> float | NDArray[np.float64]:
    """Secret-key capacity of a pure-loss channel, K(η) = −log2(1 − η) bits per use.

    Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017), Eq. (19). No
    repeaterless protocol can exceed it; ``η`` is the total transmittance (channel times
    Bob's efficiency for the strictest comparison).

    Parameters
    ----------
    transmittance : float or numpy.ndarray
        η in [0, 1]; η = 1 gives ``inf``.

    Examples
    --------
    >>> round(plob_bound(0.5), 6)
    1.0
    """
    eta = np.asarray(transmittance, dtype=np.float64)
    if not np.all(np.isfinite(eta)) or np.any((eta < 0.0) | (eta > 1.0)):
        raise ParameterError("transmittance", transmittance, "must be in [0, 1]")
    with np.errstate(divide="ignore"):
        k: NDArray[np.float64] = -np.log1p(-eta) / np.log(2.0)
    if k.ndim == 0:
        return float(k)
    return np.asarray(k, dtype=np.float64)
