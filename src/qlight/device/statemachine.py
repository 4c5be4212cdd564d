"""The device state machine: an explicit transition table (issue 5).

Boot: POWER_ON → SELF_TEST → HOMING → LOCATING (frame registration) → ACQUIRING (navigate,
refocus, verify) → EMITTING. LOCATING goes to MAPPING instead when the registry has no
emitters yet (first boot) or mapping was interrupted; MAPPING then goes to ACQUIRING.
While EMITTING the supervisor may degrade (DEGRADED → RECOVERING → EMITTING, or back
through LOCATING/ACQUIRING when the emitter must be found again or replaced); anything that
cannot be recovered ends in FAULT with its reason. STANDBY and POWER_ON (power cycle) are
reachable from every running state by command; FAULT from every state.

A transition that is not in :data:`TRANSITIONS` is a bug in the device and raises
:class:`IllegalTransitionError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from qlight.device.service_types import DeviceState as S

__all__ = ["TRANSITIONS", "IllegalTransitionError", "StateMachine"]

_RUNNING: tuple[S, ...] = (
    S.SELF_TEST,
    S.HOMING,
    S.LOCATING,
    S.ACQUIRING,
    S.EMITTING,
    S.MAPPING,
    S.DEGRADED,
    S.RECOVERING,
)

_TABLE: dict[S, set[S]] = {
    S.POWER_ON: {S.SELF_TEST},
    S.SELF_TEST: {S.HOMING},
    S.HOMING: {S.LOCATING},
    S.LOCATING: {S.MAPPING, S.ACQUIRING, S.RECOVERING},
    S.MAPPING: {S.ACQUIRING, S.LOCATING},
    S.ACQUIRING: {S.EMITTING, S.MAPPING, S.LOCATING, S.RECOVERING},
    S.EMITTING: {S.DEGRADED, S.ACQUIRING, S.MAPPING},
    S.DEGRADED: {S.RECOVERING, S.EMITTING},
    S.RECOVERING: {S.EMITTING, S.LOCATING, S.ACQUIRING, S.RECOVERING},
    S.STANDBY: {S.LOCATING, S.ACQUIRING, S.MAPPING},
    S.FAULT: {S.LOCATING},
}
for _s in _RUNNING:
    _TABLE[_s] |= {S.STANDBY, S.POWER_ON}
for _s in S:
    _TABLE.setdefault(_s, set())
    _TABLE[_s] |= {S.FAULT}
_TABLE[S.STANDBY] |= {S.POWER_ON}
_TABLE[S.FAULT] |= {S.POWER_ON}
_TABLE[S.FAULT].discard(S.FAULT)

#: Allowed transitions: ``TRANSITIONS[from]`` is the set of states reachable from ``from``.
TRANSITIONS: Mapping[S, frozenset[S]] = MappingProxyType(
    {k: frozenset(v) for k, v in _TABLE.items()}
)


class IllegalTransitionError(RuntimeError):
    """A transition outside :data:`TRANSITIONS` was attempted (a bug in the device)."""

    def __init__(self, state_from: S, state_to: S, reason: str) -> None:
        super().__init__(f"illegal transition {state_from} -> {state_to} ({reason})")
        self.state_from = state_from
        self.state_to = state_to


Listener = Callable[[S, S, str], None]


class StateMachine:
    """Current state plus the table check; ``listener(from, to, reason)`` sees each change.

    Parameters
    ----------
    listener : callable or None
        Called after every transition (the device logs it and publishes the status).
    initial : DeviceState
        Starting state (POWER_ON).
    """

    def __init__(self, listener: Listener | None = None, initial: S = S.POWER_ON) -> None:
        self._state = initial
        self._reason = "power on"
        self._listener = listener

    @property
    def state(self) -> S:
        """The current state."""
        return self._state

    @property
    def reason(self) -> str:
        """Why the current state was entered."""
        return self._reason

    @staticmethod
    def allowed(state_from: S, state_to: S) -> bool:
        """Whether the table allows ``state_from → state_to``."""
        return state_to in TRANSITIONS[state_from]

    def go(self, state_to: S, reason: str) -> None:
        """Transition to ``state_to`` for ``reason``.

        Raises
        ------
        IllegalTransitionError
            The table does not allow it.
        """
        old = self._state
        if not self.allowed(old, state_to):
            raise IllegalTransitionError(old, state_to, reason)
        self._state = state_to
        self._reason = reason
        if self._listener is not None:
            self._listener(old, state_to, reason)
