"""``python -m qlight.device``: run the device headless until SIGTERM/SIGINT.

Options: ``--config FILE``, ``--data-dir DIR``, ``--twin-seed N``, ``--pace fast|realtime``.
Every state change is printed as one line ``state <STATE> <emitter or -> <reason>`` (used by
the kill -9 tests); exit code 2 with one line for bad settings.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from qlight.device.service import Device
from qlight.device.settings import load_settings
from qlight.errors import QlightError


def main(argv: list[str] | None = None) -> int:
    """Run the device; return the exit code."""
    p = argparse.ArgumentParser(prog="python -m qlight.device", description=__doc__)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--twin-seed", type=int, default=None)
    p.add_argument("--pace", choices=["fast", "realtime"], default=None)
    a = p.parse_args(argv)
    try:
        settings = load_settings(a.config, data_dir=a.data_dir, twin_seed=a.twin_seed, pace=a.pace)
        dev = Device(settings)
    except QlightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    dev.start()
    seq = 0
    last = None
    while not done.is_set():
        seq = dev.wait_update(seq, 0.2)
        st = dev.status()
        if (st.state, st.emitter_id) != last:
            last = (st.state, st.emitter_id)
            print(f"state {st.state.value} {st.emitter_id or '-'} {st.state_reason}", flush=True)
    dev.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
