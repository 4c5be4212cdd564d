"""Where the tests find the real PicoQuant sample files (never copied into the repository).

The steering layout puts ``shared/`` beside the repository (``../shared/data/picoquant``), in
a developer's checkout and in CI alike. Tests that need the files carry ``needs_picoquant``
and are skipped, with the path in the reason, where the folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PICOQUANT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "picoquant"

needs_picoquant = pytest.mark.skipif(
    not PICOQUANT_DIR.is_dir(),
    reason=f"PicoQuant sample files not found at {PICOQUANT_DIR} (../shared/data/picoquant)",
)
