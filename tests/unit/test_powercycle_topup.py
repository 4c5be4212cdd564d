"""The harness's top-up keeps the qualified candidate list fresh after photons started.

The instrument steps (probe, qualification, PL scan, refocus) are replaced by stubs that
record their calls, so the bookkeeping is tested exactly and fast; the steps themselves
are the ones of the return (tests/unit/test_mapping_autoreturn.py) and the whole harness
runs end to end in tests/system/test_cli_demo_powercycle.py.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from qlight.cli._powercycle_control import Candidate, PowerCycleController
from qlight.mapping.registration import ConstellationConfig


def _controller(
    alive: set[str], single: set[str], scans: list[list[Candidate]], **kw: Any
) -> tuple[PowerCycleController, list[tuple[str, str]]]:
    """A controller whose steps are stubs: ``alive`` keys probe ok, ``single`` qualify."""
    ins: Any = SimpleNamespace(scanner=SimpleNamespace(psf_fwhm_m=0.35e-6))
    ctl = PowerCycleController(ins, (1e-4, 1e-4), ConstellationConfig(), **kw)
    calls: list[tuple[str, str]] = []

    def probe(reg: Any, c: Candidate) -> bool:
        calls.append(("probe", c.key))
        return c.key in alive

    def qualify(reg: Any, c: Candidate) -> Candidate | None:
        calls.append(("qualify", c.key))
        if c.key not in single:
            return None
        return Candidate(c.x_chip_m, c.y_chip_m, c.depth_m, c.photons, 600.0, 1e5, True, c.key)

    def scan(reg: Any, x: float, y: float, w: float, dwell_s: float = 1e-3) -> list[Candidate]:
        calls.append(("scan", f"{w * 1e6:.0f}"))
        return scans.pop(0) if scans else []

    def refocus_at(reg: Any, c: Candidate) -> tuple[Any, float]:
        calls.append(("refocus", c.key))
        return None, 0.0

    ctl._probe = probe  # type: ignore[method-assign]
    ctl._qualify = qualify  # type: ignore[method-assign]
    ctl._scan_spots = scan  # type: ignore[method-assign,assignment]
    ctl._refocus_at = refocus_at  # type: ignore[method-assign]
    ctl.reg = SimpleNamespace()  # type: ignore[assignment]
    ctl.target = Candidate(0.0, 0.0, qualified=True, key="T")
    ctl.n_cycle = 5
    return ctl, calls


def _c(key: str, qualified: bool, x: float = 0.0) -> Candidate:
    return Candidate(x, 0.0, qualified=qualified, key=key)


def test_gone_candidates_are_dropped_and_replacements_qualified_up_to_n_keep() -> None:
    alive = {"Q1", "Q3", "U1", "U2", "U3", "U4"}
    ctl, calls = _controller(alive, single={"U1", "U3", "U4"}, scans=[], n_keep=4)
    ctl.candidates = [_c("Q1", True), _c("Q2", True), _c("Q3", True)]
    ctl.candidates += [_c(f"U{i}", False, x=i * 1e-6) for i in range(1, 5)]
    ctl.seen = {"Q3": 5}  # Q3 was seen this cycle: not probed again

    n = ctl.top_up()

    assert n == 4
    keys = [c.key for c in ctl.candidates if c.qualified]
    assert sorted(keys) == ["Q1", "Q3", "U1", "U3"]  # Q2 gone, U2 not single, U4 not needed
    assert [c.key for c in ctl.candidates if not c.qualified] == ["U4"]
    assert ("probe", "Q3") not in calls
    assert ("probe", "Q2") in calls
    assert calls[-1] == ("refocus", "T")  # emission resumes on the target
    assert ctl.target is not None
    assert ctl.target.key == "T"
    assert all(ctl.seen[k] == 5 for k in ("Q1", "U1", "U3"))
    assert (2e-6, 0.0) in ctl.tried  # U2 (not single) is never re-added by a scan


def test_an_empty_pool_triggers_scans_around_the_target_and_tries_are_bounded() -> None:
    new = [_c(f"N{i}", False) for i in range(10)]
    ctl, calls = _controller(
        {c.key for c in new}, single=set(), scans=[[], new], n_keep=6, max_topup_tries=3
    )
    ctl.candidates = []

    assert ctl.top_up() == 0
    assert [k for op, k in calls if op == "scan"] == ["8", "16"]
    assert sum(op == "qualify" for op, _ in calls) == 3  # max_topup_tries
    assert len(ctl.candidates) == 7  # untried spots stay as unqualified candidates


def test_scans_stop_when_widths_run_out() -> None:
    ctl, calls = _controller(set(), single=set(), scans=[], n_keep=6)
    ctl.candidates = [_c("Q1", True)]
    ctl.seen = {"Q1": 5}
    assert ctl.top_up() == 1
    assert [op for op, _ in calls] == ["scan", "scan", "refocus"]


@pytest.mark.parametrize("missing", ["reg", "target"])
def test_nothing_happens_without_a_frame_or_target(missing: str) -> None:
    ctl, calls = _controller(set(), single=set(), scans=[])
    setattr(ctl, missing, None)
    assert ctl.top_up() == 0
    assert calls == []


def test_unprobed_spots_are_not_qualified() -> None:
    ctl, calls = _controller({"U2"}, single={"U1", "U2"}, scans=[], n_keep=1)
    ctl.candidates = [_c("U1", False), _c("U2", False, x=1e-6)]
    assert ctl.top_up() == 1
    assert ("qualify", "U1") not in calls  # gone at the probe: no 4 s refocus
    assert [c.key for c in ctl.candidates] == ["U2"]
    assert not math.isnan(ctl.candidates[0].zpl_nm)
