"""``qlight run``: start the device service (device + REST/WebSocket/dashboard + SCPI + metrics).

Prints where everything is reachable and the API token as soon as the sockets listen (before
the device reaches EMITTING), then serves until Ctrl+C / SIGTERM, which stops the device
cleanly (exit status 0). Bad configuration (unreadable or invalid TOML, a bad value, a port
in use) exits with status 2 and one line naming the problem.

With ``--json`` the start-up description is ONE JSON object on one line of stdout
(``dashboard_url``, ``api_url``, ``ws_url``, ``metrics_url``, ``docs_url``, ``port``,
``scpi_port``, ``scpi_resource``, ``api_token``, …); scripts and tests read that line.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from qlight.cli._output import cli_errors, fail, print_json

if TYPE_CHECKING:
    from qlight.api.server import ServerInfo

__all__ = ["run"]


class Pace(StrEnum):
    """Clock pacing of the twin."""

    realtime = "realtime"
    fast = "fast"


def _print_info(info: ServerInfo, settings_desc: str) -> None:
    d = info.as_dict()
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"[bold]qlight device service[/bold] ({settings_desc})")
    console.print(f"  dashboard   {d['dashboard_url']}")
    console.print(f"  REST API    {d['api_url']}   (OpenAPI: {d['docs_url']})")
    console.print(f"  WebSocket   {d['ws_url']}")
    console.print(f"  metrics     {d['metrics_url']}")
    console.print(f"  SCPI        {d['scpi_resource']}")
    where = {
        "config": "from the configuration",
        "env": "from QLIGHT_API_TOKEN",
        "file": f"stored in {d['api_token_file']}",
        "generated": f"generated, stored in {d['api_token_file']}",
    }[info.token.source]
    console.print(f"  API token   {d['api_token']}   ({where})", markup=False)
    console.print(f"  data dir    {d['data_dir']}")
    console.print("Ctrl+C stops the device cleanly.")


def run(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML configuration file.", show_default=False),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Data directory [default: ./qlight-data].", show_default=False
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Interface to bind [default: 127.0.0.1].", show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", help="HTTP port; 0 picks a free one [default: 8000].", show_default=False
        ),
    ] = None,
    scpi_port: Annotated[
        int | None,
        typer.Option(
            "--scpi-port",
            help="SCPI TCP port; 0 picks a free one [default: 5025].",
            show_default=False,
        ),
    ] = None,
    twin_seed: Annotated[
        int | None,
        typer.Option("--twin-seed", help="Seed of the digital twin.", show_default=False),
    ] = None,
    pace: Annotated[
        Pace | None,
        typer.Option(
            "--pace", help="Twin clock: realtime or fast [default: fast].", show_default=False
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the start-up description as one JSON object.")
    ] = False,
) -> None:
    """Start the device service: REST API + dashboard, WebSocket, SCPI and /metrics."""
    # Imported here: the web stack is heavy and no other command needs it.
    from qlight.api.server import DeviceServer
    from qlight.device.settings import load_settings

    with cli_errors():
        settings = load_settings(
            config,
            data_dir=data_dir,
            host=host,
            port=port,
            scpi_port=scpi_port,
            twin_seed=twin_seed,
            pace=None if pace is None else pace.value,
        )
        server = DeviceServer(settings)
        info = server.open()
    if json_out:
        print_json(info.as_dict())
    else:
        twin = settings.twin
        _print_info(info, f"backend {settings.backend}, seed {twin.seed}, pace {twin.pace}")
    sys.stdout.flush()
    if server.serve() != 0:
        fail(f"the device could not start: {server.error}")
