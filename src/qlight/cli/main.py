"""Entry point of the ``qlight`` command.

Each capability adds one sub-command (a Typer group or a function) to :data:`_COMMANDS`.
Sub-commands are imported only when they are run (or when ``--help`` lists them): importing
every capability costs seconds (numba, scipy, h5py, matplotlib, FastAPI), and ``qlight run``
must answer within 1 s of start (issue 5). Domain errors become exit code 2 with a one-line
message naming what is wrong; nothing prints a traceback for bad input.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from qlight import __version__

__all__ = ["app", "main"]


def _attr(module: str, name: str) -> Callable[[], Any]:
    def load() -> Any:
        return getattr(importlib.import_module(module), name)

    return load


def _demo_app() -> typer.Typer:
    from qlight.cli.demo import demo, demo_app
    from qlight.cli.demo_powercycle import demo_powercycle

    demo_app.callback()(demo)
    demo_app.command("powercycle")(demo_powercycle)
    return demo_app


#: name → loader of the Typer group or command function. Order is the order of ``--help``.
_COMMANDS: dict[str, Callable[[], Any]] = {
    "run": _attr("qlight.cli.run", "run"),
    "simulate": _attr("qlight.cli.simulate", "simulate_app"),
    "demo": _demo_app,
    "design": _attr("qlight.cli.design", "design_app"),
    "info": _attr("qlight.cli.timetags_io", "info"),
    "convert": _attr("qlight.cli.timetags_io", "convert"),
    "g2": _attr("qlight.cli.timetags_analysis", "g2"),
    "lifetime": _attr("qlight.cli.timetags_analysis", "lifetime"),
    "trace": _attr("qlight.cli.timetags_analysis", "trace"),
    "characterize": _attr("qlight.cli.characterize", "characterize"),
    "registry": _attr("qlight.cli.registry", "registry_app"),
    "qkd": _attr("qlight.cli.qkd", "qkd_app"),
    "kme": _attr("qlight.cli.kme", "kme_app"),
}

#: Loaded click commands (Typer ships its own click: typed loosely on purpose).
_loaded: dict[str, Any] = {}


def _load(name: str) -> Any:
    """Import sub-command ``name`` and convert it to its click command (cached)."""
    if name not in _loaded:
        obj = _COMMANDS[name]()
        holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        holder.callback()(lambda: None)  # a callback makes `holder` a group, never collapsed
        if isinstance(obj, typer.Typer):
            holder.add_typer(obj, name=name)
        else:
            holder.command(name)(obj)
        group: Any = typer.main.get_command(holder)
        _loaded[name] = group.commands[name]
    return _loaded[name]


class _LazyGroup(TyperGroup):
    """The root group: sub-commands are imported on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in _COMMANDS if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found: Any = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in _COMMANDS:
            return _load(cmd_name)
        return found


app = typer.Typer(
    name="qlight",
    cls=_LazyGroup,
    help="qlight: software of a plug-and-play room-temperature GaN single-photon source.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"qlight {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """qlight: software of a plug-and-play room-temperature GaN single-photon source."""


def main() -> None:
    """Run the ``qlight`` application (console-script target)."""
    app()
