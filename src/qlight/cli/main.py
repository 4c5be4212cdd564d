"""Entry point of the ``qlight`` command.

Each capability adds one sub-command group here. Domain errors become exit code 2 with a
one-line message naming what is wrong; nothing prints a traceback for bad input.
"""

from __future__ import annotations

from typing import Annotated

import typer

from qlight import __version__
from qlight.cli import timetags_analysis
from qlight.cli.characterize import characterize
from qlight.cli.demo import demo, demo_app
from qlight.cli.demo_powercycle import demo_powercycle
from qlight.cli.design import design_app
from qlight.cli.kme import kme_app
from qlight.cli.qkd import qkd_app
from qlight.cli.registry import registry_app
from qlight.cli.run import run
from qlight.cli.simulate import simulate_app
from qlight.cli.timetags_io import convert, info

app = typer.Typer(
    name="qlight",
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


app.add_typer(simulate_app, name="simulate")
demo_app.callback()(demo)
demo_app.command("powercycle")(demo_powercycle)
app.add_typer(demo_app, name="demo")
app.add_typer(design_app, name="design")
app.command("info")(info)
app.command("convert")(convert)
app.add_typer(qkd_app, name="qkd")
app.add_typer(registry_app, name="registry")
app.add_typer(kme_app, name="kme")
app.command("g2")(timetags_analysis.g2)
app.command("lifetime")(timetags_analysis.lifetime)
app.command("trace")(timetags_analysis.trace)
app.command("characterize")(characterize)
app.command("run")(run)


def main() -> None:
    """Run the ``qlight`` application (console-script target)."""
    app()
