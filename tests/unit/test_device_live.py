"""``LiveState.rate_history``: the latest samples, oldest first, copied from the tail only."""

from __future__ import annotations

from qlight.device.live import LiveState


def _live(history: int) -> LiveState:
    return LiveState(
        pace="fast", version="0", serial="S", clock=lambda: 0.0, marks=[], chip_size_um=200.0,
        history=history,
    )  # fmt: skip


def test_rate_history_returns_the_latest_samples_oldest_first() -> None:
    live = _live(history=10)
    assert live.rate_history(5) == []
    for i in range(25):  # more than the history holds: the oldest are dropped
        live.add_rate(float(i), 1.0, sim_time_s=float(i))
    assert [r.sim_time_s for r in live.rate_history(3)] == [22.0, 23.0, 24.0]
    assert [r.sim_time_s for r in live.rate_history(10)] == [float(i) for i in range(15, 25)]
    assert [r.sim_time_s for r in live.rate_history(600)] == [float(i) for i in range(15, 25)]
    assert live.rate_history(0) == []
    assert live.rate_history(-1) == []
