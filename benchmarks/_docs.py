"""What every benchmark script shares: the machine description and its docs section.

Each ``bench_*.py`` rewrites only its own section of ``docs/benchmarks.md``, between its
``<!-- NAME: begin … -->`` / ``<!-- NAME: end -->`` markers, and names the machine it ran on.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from types import ModuleType

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def machine(note: str, *libraries: ModuleType) -> str:
    """One line: CPU, how it was used (``note``), OS, Python and the libraries' versions."""
    usage = f" ({note})" if note else ""
    libs = "".join(f", {m.__name__} {m.__version__}" for m in libraries)
    return (
        f"{cpu_model()}, {os.cpu_count()} logical CPUs{usage}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}{libs}"
    )


def replace_section(begin: str, end: str, body: str, doc: Path = DOC) -> None:
    """Replace the text between ``begin`` and ``end`` in ``doc`` (or append ``body``)."""
    old = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + body + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + body + "\n"
    doc.write_text(new)
