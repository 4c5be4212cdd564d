"""The one place where numba compilation flags are set (see docs/architecture.md).

Kernels use ``@njit(**JIT)``; nothing else configures numba.
"""

from __future__ import annotations

from typing import Any

__all__ = ["JIT"]

#: Flags for every ``numba.njit`` kernel: cached on disk, release the GIL, IEEE-exact maths.
JIT: dict[str, Any] = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
