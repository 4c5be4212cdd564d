"""The device state machine's transition table (issue 5)."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from qlight.device.service_types import DeviceState as S
from qlight.device.statemachine import TRANSITIONS, IllegalTransitionError, StateMachine

BOOT = [S.SELF_TEST, S.HOMING, S.LOCATING, S.ACQUIRING, S.EMITTING]


def _reachable(start: S) -> set[S]:
    seen = {start}
    todo = deque([start])
    while todo:
        for nxt in TRANSITIONS[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_boot_path_and_listener() -> None:
    seen: list[tuple[S, S, str]] = []
    sm = StateMachine(lambda a, b, r: seen.append((a, b, r)))
    for st in BOOT:
        sm.go(st, f"to {st}")
    assert sm.state is S.EMITTING
    assert sm.reason == "to EMITTING"
    assert [b for _, b, _ in seen] == BOOT
    assert seen[0][0] is S.POWER_ON


def test_first_boot_goes_through_mapping() -> None:
    sm = StateMachine()
    for st in [S.SELF_TEST, S.HOMING, S.LOCATING, S.MAPPING, S.ACQUIRING, S.EMITTING]:
        sm.go(st, "first boot")
    assert sm.state is S.EMITTING


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], S.EMITTING),  # POWER_ON cannot skip the boot
        ([S.SELF_TEST], S.LOCATING),  # homing cannot be skipped
        ([*BOOT], S.HOMING),
        ([*BOOT], S.EMITTING),  # no self-loop
        ([S.SELF_TEST, S.FAULT], S.EMITTING),  # FAULT only leaves by resume or power cycle
        ([S.SELF_TEST, S.STANDBY], S.EMITTING),  # STANDBY resumes via LOCATING/ACQUIRING
    ],
)
def test_illegal_transition_raises_and_keeps_state(path: list[S], bad: S) -> None:
    seen: list[S] = []
    sm = StateMachine(lambda a, b, r: seen.append(b))
    for st in path:
        sm.go(st, "setup")
    before = sm.state
    with pytest.raises(IllegalTransitionError, match=f"{before} -> {bad}"):
        sm.go(bad, "bug")
    assert sm.state is before
    assert seen == path  # the listener never saw the illegal transition


def test_fault_standby_and_power_cycle_reachability() -> None:
    for st in S:
        if st is not S.FAULT:
            assert S.FAULT in TRANSITIONS[st], st
        if st not in (S.POWER_ON, S.STANDBY, S.FAULT):
            assert S.STANDBY in TRANSITIONS[st], st
        if st is not S.POWER_ON:
            assert S.POWER_ON in TRANSITIONS[st], st


def test_every_state_reachable_and_can_return_to_emitting() -> None:
    assert _reachable(S.POWER_ON) == set(S)
    for st in S:
        assert S.EMITTING in _reachable(st), st


def test_recovery_paths() -> None:
    sm = StateMachine()
    for st in [*BOOT, S.DEGRADED, S.RECOVERING, S.EMITTING]:
        sm.go(st, "transient fault")
    for st in [S.DEGRADED, S.RECOVERING, S.LOCATING, S.ACQUIRING, S.EMITTING]:
        sm.go(st, "emitter lost")
    assert sm.state is S.EMITTING


@given(hs.lists(hs.sampled_from(list(S)), max_size=60))
def test_random_walks_follow_the_table(targets: list[S]) -> None:
    sm = StateMachine()
    for to in targets:
        before = sm.state
        if to in TRANSITIONS[before]:
            sm.go(to, "walk")
            assert sm.state is to
        else:
            with pytest.raises(IllegalTransitionError):
                sm.go(to, "walk")
            assert sm.state is before
