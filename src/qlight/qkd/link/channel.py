"""The quantum channel of the link: loss, background light and misalignment per basis.

Loss is the transmittance ``t`` of a :mod:`qlight.qkd.theory` channel (fibre or free
space); each photon survives independently with probability ``t`` (a beam splitter,
so the photon number at Bob is binomially thinned). Misalignment is applied at Bob per
photon: in the matching basis a photon reaches the wrong detector with probability ``e``.

Encodings
---------
* ``polarization`` — both bases have the detector's misalignment ``e_d`` (Ma, Qi, Zhao, Lo,
  PRA 72, 012326 (2005), Sec. II).
* ``time-bin`` — the Z basis (arrival time) has ``e_d``; the X basis is read out by an
  unbalanced Mach–Zehnder interferometer of visibility ``V``, which adds an independent
  flip with probability ``(1 − V)/2`` (e.g. Gisin et al., RMP 74, 145 (2002), Sec. IV.B),
  so ``e_X = e_d (1 − v) + v (1 − e_d)`` with ``v = (1 − V)/2``. Simplification: the
  interferometer's side peaks (a further 50 % loss of X-basis detections in a passive
  set-up) are not modelled; put them into the channel loss if wanted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qlight._validation import check_fraction
from qlight.errors import ParameterError
from qlight.qkd.theory.channel import FibreChannel, FreeSpaceChannel

__all__ = ["Encoding", "LinkChannel"]

Encoding = Literal["polarization", "time-bin"]


@dataclass(frozen=True)
class LinkChannel:
    """Channel seen by the link simulator.

    Parameters
    ----------
    transmittance : float
        Channel transmittance in [0, 1] (Bob's efficiency not included).
    background_yield : float
        Extra click probability per pulse from background light (error 1/2), in [0, 1).
    encoding : {"polarization", "time-bin"}
        How the qubit is encoded (see the module docstring).
    visibility : float
        Interferometer visibility of the time-bin X basis, in [0, 1] (1 for polarization).
    """

    transmittance: float
    background_yield: float = 0.0
    encoding: Encoding = "polarization"
    visibility: float = 1.0

    def __post_init__(self) -> None:
        check_fraction("transmittance", self.transmittance)
        if check_fraction("background_yield", self.background_yield) >= 1.0:
            raise ParameterError("background_yield", self.background_yield, "must be < 1")
        if self.encoding not in ("polarization", "time-bin"):
            raise ParameterError("encoding", self.encoding, "must be polarization or time-bin")
        check_fraction("visibility", self.visibility)
        if self.encoding == "polarization" and self.visibility != 1.0:
            raise ParameterError("visibility", self.visibility, "applies to time-bin only")

    @classmethod
    def from_theory(
        cls,
        channel: FibreChannel | FreeSpaceChannel,
        *,
        encoding: Encoding = "polarization",
        visibility: float = 1.0,
    ) -> LinkChannel:
        """The link channel of a theory channel (its transmittance and background)."""
        return cls(channel.transmittance(), channel.background_yield, encoding, visibility)

    def basis_errors(self, misalignment: float) -> tuple[float, float]:
        """Per-photon error probabilities ``(e_Z, e_X)`` for detector misalignment ``e_d``."""
        e_d = misalignment
        if self.encoding == "polarization":
            return e_d, e_d
        v = (1.0 - self.visibility) / 2.0
        return e_d, e_d * (1.0 - v) + v * (1.0 - e_d)
