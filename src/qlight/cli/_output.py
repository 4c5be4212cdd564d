"""Output helpers shared by every ``qlight`` command.

* :func:`print_json` — exactly one JSON object on stdout (``--json`` mode); NaN and
  infinities become ``null``, NumPy scalars and arrays become plain JSON.
* :func:`cli_errors` — turns :class:`~qlight.errors.QlightError` (and so
  ``ParameterError``) into exit code 2 with one red line on stderr, never a traceback.
* :func:`fail` — the same for errors the command detects itself.
* :func:`progress` — a rich progress bar on stderr, silent in ``--json`` mode or when stderr
  is not a terminal.

Only :mod:`qlight.cli` turns domain errors into exit codes (STYLE.md, "Habits" 5).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from qlight.errors import ParameterError, QlightError

__all__ = ["EXIT_BAD_INPUT", "cli_errors", "fail", "jsonable", "print_json", "progress"]

#: Exit code of every command for bad input or a domain error (as click does for usage errors).
EXIT_BAD_INPUT = 2


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def jsonable(value: Any) -> Any:
    """Convert ``value`` recursively into plain JSON types.

    NumPy scalars and arrays become Python numbers and lists, tuples become lists, paths and
    other objects become strings, and non-finite floats become ``None`` (JSON has no NaN).
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def print_json(obj: Mapping[str, Any]) -> None:
    """Print ``obj`` as one JSON object on one line of stdout."""
    typer.echo(json.dumps(jsonable(obj), allow_nan=False, sort_keys=False))


def fail(message: str) -> NoReturn:
    """Print ``error: message`` in red on stderr (one line) and exit with code 2."""
    text = " ".join(message.split())  # one line, whatever the message held
    _stderr().print(f"error: {text}", style="bold red", markup=False)
    raise typer.Exit(EXIT_BAD_INPUT)


def _message(exc: QlightError) -> str:
    if isinstance(exc, ParameterError):
        return f"{exc.name}={exc.value!r} {exc.requirement}"
    return str(exc) or type(exc).__name__


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn a :class:`~qlight.errors.QlightError` raised inside into :func:`fail`."""
    try:
        yield
    except QlightError as exc:
        fail(_message(exc))


@contextmanager
def progress(
    description: str, total: float, *, enabled: bool = True
) -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr; yields ``advance(amount)``.

    The bar is shown only when ``enabled`` (commands pass ``not json``) and stderr is a
    terminal, so ``--json`` output and captured runs stay clean.
    """
    console = _stderr()
    if not enabled or not console.is_terminal:
        yield lambda amount: None
        return
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f} %"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda amount: bar.advance(task, amount)
