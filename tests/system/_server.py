"""Start ``qlight run`` in a subprocess and read where it listens (system tests, benchmarks).

:func:`start_server` runs ``qlight run --json --port 0 --scpi-port 0 …``, waits (bounded)
for the one JSON line it prints once its sockets listen, and returns a
:class:`RunningServer`. The process is always ended by :meth:`RunningServer.stop`
(SIGTERM, then SIGKILL after a timeout); use it as a context manager.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.system._cli import QLIGHT

__all__ = ["RunningServer", "start_server", "wait_for_state"]


@dataclass
class RunningServer:
    """A ``qlight run`` process and its start-up description (``info``)."""

    proc: subprocess.Popen[str]
    info: dict[str, Any]
    started_at: float
    printed_at: float
    stderr_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return str(self.info["api_url"])

    @property
    def token(self) -> str:
        return str(self.info["api_token"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int:
        """Send ``sig`` (SIGTERM by default), wait, SIGKILL if needed; return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return int(self.proc.returncode)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    data_dir: Path,
    *,
    args: Sequence[str] = (),
    timeout_s: float = 120.0,
    env: dict[str, str] | None = None,
) -> RunningServer:
    """Start ``qlight run`` on free ports with ``data_dir``; wait for its JSON line."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir.parent / f"{data_dir.name}.stderr.{time.monotonic_ns()}.log"
    cmd = [
        *QLIGHT,
        "run",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
        "--scpi-port",
        "0",
        "--pace",
        "fast",
        "--json",
        *args,
    ]
    # Hermetic: no QLIGHT_* settings leak in from the caller's environment.
    outer = {k: v for k, v in os.environ.items() if not k.startswith("QLIGHT_")}
    full_env = {**outer, "NO_COLOR": "1", **(env or {})}
    t0 = time.monotonic()
    with stderr_path.open("w") as err:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=full_env, cwd=data_dir.parent
        )
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = ""
    try:
        while not line.endswith("\n"):
            left = timeout_s - (time.monotonic() - t0)
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"qlight run printed nothing in {timeout_s} s")
            chunk = proc.stdout.readline()
            if not chunk:
                raise RuntimeError(
                    f"qlight run exited ({proc.wait(10)}): {stderr_path.read_text()[-2000:]}"
                )
            line += chunk
    except BaseException:
        proc.kill()
        proc.wait(10)
        raise
    finally:
        sel.close()
    info = json.loads(line)
    assert isinstance(info, dict)
    return RunningServer(proc, info, t0, time.monotonic(), stderr_path)


def wait_for_state(
    server: RunningServer, states: set[str], *, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Poll ``GET /device`` until its state is in ``states``; return that status."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        assert server.proc.poll() is None, server.stderr()[-2000:]
        last = httpx.get(f"{server.api}/device", timeout=10.0).json()
        if last["state"] in states:
            return last
        time.sleep(0.2)
    raise TimeoutError(f"device not in {states} after {timeout_s} s (last: {last})")
