"""Test-suite configuration shared by every test.

Hypothesis runs derandomized: its examples come from a fixed seed, so a run is repeatable
and CI never fails on an example no earlier run saw ("statistical tests use fixed seeds").
Run with ``--hypothesis-profile=explore`` to search with fresh random examples.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("ci")
