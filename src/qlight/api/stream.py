"""WebSocket ``/api/v1/stream``: live state, count rate, g2 and events.

Every message is one JSON object ``{"type": …, "seq": …, "data": …}``:

* ``status`` — a :class:`~qlight.device.service_types.DeviceStatus`; sent on connect, on
  every published change (at most every ``min_interval_s``) and at least every
  ``heartbeat_s`` (0.25 s by default, so ≥ 4 messages/s whatever the device does — the
  dashboard goal of ≥ 2 Hz holds even when nothing changes);
* ``rate`` — new :class:`~qlight.device.service_types.RateSample` points (a list, oldest
  first): on connect the last ``rate_backlog`` samples, then only samples newer than the
  last one sent (read from the device as a short window of the latest samples, not the
  whole backlog again);
* ``g2`` — a new :class:`~qlight.device.service_types.G2Snapshot` (only when it changed);
* ``event`` — new event-log entries (a list).

The device is polled with :meth:`DeviceService.wait_update` in a worker thread
(:func:`anyio.to_thread.run_sync`) with a short timeout, so the event loop never blocks. A
slow client whose send does not finish within ``send_timeout_s`` is disconnected (close code
1008, "too slow") rather than letting its backlog grow; a client that goes away ends its
loop at the next send or at once through the receive task. Messages from the client are
read and ignored.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from qlight.device.service_types import DeviceService, RateSample

__all__ = ["StreamSettings", "make_stream_router"]


class StreamSettings(BaseModel):
    """Pacing of the stream (seconds)."""

    heartbeat_s: float = 0.25
    min_interval_s: float = 0.1
    poll_s: float = 0.1
    send_timeout_s: float = 2.0
    rate_backlog: int = 600


#: Smallest window of rate samples read per message after the first (see ``_new_rates``).
_MIN_RATE_WINDOW = 16


def _encode(kind: str, seq: int, data: Any) -> str:
    def fix(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return json.dumps({"type": kind, "seq": seq, "data": fix(data)}, allow_nan=False)


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json")


class _Streamer:
    """One client's stream state."""

    def __init__(self, service: DeviceService, cfg: StreamSettings) -> None:
        self.service = service
        self.cfg = cfg
        self.seq = -1
        self.last_sim_rate = -math.inf
        self.last_g2_time: float | None = None
        self.last_event_id = 0
        self.rate_window = _MIN_RATE_WINDOW

    def _new_rates(self) -> list[RateSample]:
        """Rate samples newer than the last one sent, oldest first.

        The first call (a new connection) reads the whole backlog. Later calls read only a
        window of the latest samples, sized from what the previous call found (twice the
        number of new samples, at least :data:`_MIN_RATE_WINDOW`): one message usually
        carries a handful. Only when every sample of the window is new (more may lie
        beyond it) is the backlog read again, so no sample is ever skipped.
        """
        backlog = self.cfg.rate_backlog
        if self.last_sim_rate == -math.inf:
            new = self.service.rate_history(backlog)
            self.rate_window = _MIN_RATE_WINDOW
            return new
        window = min(self.rate_window, backlog)
        fetched = self.service.rate_history(window)
        if len(fetched) >= window and fetched[0].sim_time_s > self.last_sim_rate:
            fetched = self.service.rate_history(backlog)
        new = [r for r in fetched if r.sim_time_s > self.last_sim_rate]
        self.rate_window = max(_MIN_RATE_WINDOW, 2 * len(new))
        return new

    def messages(self, *, first: bool) -> list[str]:
        """Messages for everything new since the last call (runs in a worker thread)."""
        svc = self.service
        st = svc.status()
        self.seq = st.update_seq
        out = [_encode("status", st.update_seq, _dump(st))]
        rates = self._new_rates()
        if rates:
            self.last_sim_rate = rates[-1].sim_time_s
            out.append(_encode("rate", st.update_seq, [_dump(r) for r in rates]))
        g2 = svc.latest_g2()
        if g2 is not None and (first or g2.sim_time_s != self.last_g2_time):
            self.last_g2_time = g2.sim_time_s
            out.append(_encode("g2", st.update_seq, _dump(g2)))
        if first:  # only events from now on; history is GET /api/v1/events
            while page := svc.events(after_id=self.last_event_id, limit=1000):
                self.last_event_id = page[-1].id
        else:
            events = svc.events(after_id=self.last_event_id, limit=200)
            if events:
                self.last_event_id = events[-1].id
                out.append(_encode("event", st.update_seq, [_dump(e) for e in events]))
        return out

    def wait(self, timeout_s: float) -> bool:
        """Block (worker thread) until a change or the timeout; True if something changed."""
        return self.service.wait_update(self.seq, timeout_s) > self.seq


async def _pump(ws: WebSocket, streamer: _Streamer, cfg: StreamSettings) -> None:
    first = True
    last_sent = -math.inf
    while True:
        messages = await anyio.to_thread.run_sync(partial(streamer.messages, first=first))
        first = False
        with anyio.fail_after(cfg.send_timeout_s):
            for text in messages:
                await ws.send_text(text)
        last_sent = time.monotonic()
        # Wait for a change (polled in short slices) or the heartbeat, then respect the
        # minimum interval so a fast-paced device cannot flood the client.
        while True:
            left = cfg.heartbeat_s - (time.monotonic() - last_sent)
            if left <= 0:
                break
            changed = await anyio.to_thread.run_sync(streamer.wait, min(cfg.poll_s, left))
            if changed:
                break
        pause = cfg.min_interval_s - (time.monotonic() - last_sent)
        if pause > 0:
            await anyio.sleep(pause)


async def _drain(ws: WebSocket) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return


def make_stream_router(
    service: DeviceService,
    *,
    prefix: str = "",
    settings: StreamSettings | None = None,
    on_open: Callable[[], None] | None = None,
    on_close: Callable[[], None] | None = None,
) -> APIRouter:
    """Router with the ``{prefix}/stream`` WebSocket."""
    cfg = settings or StreamSettings()
    router = APIRouter(prefix=prefix)

    @router.websocket("/stream")
    async def stream(ws: WebSocket) -> None:
        """Push live device updates (see the module docstring for the message format)."""
        await ws.accept()
        if on_open is not None:
            on_open()
        try:
            async with anyio.create_task_group() as tg:

                async def pump() -> None:
                    try:
                        await _pump(ws, _Streamer(service, cfg), cfg)
                    finally:
                        tg.cancel_scope.cancel()

                async def drain() -> None:
                    try:
                        await _drain(ws)
                    finally:
                        tg.cancel_scope.cancel()

                tg.start_soon(pump)
                tg.start_soon(drain)
        except TimeoutError:
            await _close(ws, 1008, "client too slow")
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the client went away mid-send
        except BaseExceptionGroup as group:  # anyio wraps errors of the tasks
            if group.subgroup(TimeoutError) is not None:
                await _close(ws, 1008, "client too slow")
            rest = group.subgroup(
                lambda e: (
                    not isinstance(e, TimeoutError | WebSocketDisconnect | OSError | RuntimeError)
                )
            )
            if rest is not None:
                raise rest from None
        finally:
            if on_close is not None:
                on_close()

    return router


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    try:
        with anyio.move_on_after(1.0):
            await ws.close(code=code, reason=reason)
    except (WebSocketDisconnect, OSError, RuntimeError):
        pass
