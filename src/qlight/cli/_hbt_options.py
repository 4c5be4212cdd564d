"""Options of ``qlight simulate hbt`` and their validation (no physics imports: fast errors).

Bad input is refused here, before the twin is loaded, with a
:class:`~qlight.errors.ParameterError` that names the flag as the user typed it (``--eta``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qlight._validation import check_fraction, check_nonnegative, check_positive
from qlight.errors import ParameterError

__all__ = ["MAX_DURATION_S", "HBTOptions", "check_output_path", "validate_options"]

#: Longest acquisition accepted (the photon generator's limit, 1e15 ps).
MAX_DURATION_S = 1000.0


@dataclass(frozen=True)
class HBTOptions:
    """The command-line options of ``qlight simulate hbt`` (None: not given)."""

    out: Path
    duration_s: float
    seed: int
    k12: float | None = None
    k21: float | None = None
    k23: float | None = None
    k31: float | None = None
    eta: float | None = None
    background_cps: float | None = None
    dark_cps: float | None = None
    dead_time_ns: float | None = None
    jitter_ps: float | None = None
    afterpulse_prob: float | None = None
    qe: float | None = None
    no_blinking: bool = False
    preset: str = "visible"
    power_mw: float | None = None
    rep_rate_mhz: float | None = None


def validate_options(o: HBTOptions) -> None:
    """Check every option, naming it as the user typed it (``--eta``)."""
    check_positive("--duration", o.duration_s)
    if o.duration_s > MAX_DURATION_S:
        raise ParameterError("--duration", o.duration_s, f"must be <= {MAX_DURATION_S:g} s")
    if isinstance(o.seed, bool) or not isinstance(o.seed, int) or o.seed < 0:
        raise ParameterError("--seed", o.seed, "must be an integer >= 0")
    for flag, value in (("--k12", o.k12), ("--k21", o.k21), ("--k31", o.k31)):
        if value is not None:
            check_positive(flag, value)
    for flag, value in (
        ("--k23", o.k23),
        ("--background-cps", o.background_cps),
        ("--dark-cps", o.dark_cps),
        ("--dead-time-ns", o.dead_time_ns),
        ("--jitter-ps", o.jitter_ps),
    ):
        if value is not None:
            check_nonnegative(flag, value)
    for flag, value in (("--eta", o.eta), ("--qe", o.qe)):
        if value is not None:
            check_fraction(flag, value)
    if (
        o.afterpulse_prob is not None
        and check_fraction("--afterpulse-prob", o.afterpulse_prob) >= 1
    ):
        raise ParameterError("--afterpulse-prob", o.afterpulse_prob, "must be < 1")
    for flag, value in (("--power-mw", o.power_mw), ("--rep-rate-mhz", o.rep_rate_mhz)):
        if value is not None:
            check_positive(flag, value)


def check_output_path(path: Path) -> Path:
    """Raise ParameterError("--out", …) unless ``path`` can be created or replaced."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ParameterError("--out", str(path), "is a directory, not a file")
    if not folder.is_dir():
        raise ParameterError(
            "--out", str(path), f"cannot be written: folder {folder} does not exist"
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ParameterError("--out", str(path), "cannot be written: permission denied")
    return path
