"""``qlight kme …``: the ETSI GS QKD 014 key management entity.

* ``certs --out DIR`` — a test CA, KME certificates (server + client, valid for
  ``localhost`` and ``127.0.0.1``) and SAE client certificates;
* ``serve --config kme.toml`` — one KME over mutual TLS until interrupted;
* ``demo --dir DIR [--port-a P] [--port-b Q]`` — CA, certificates and configs in DIR, both
  KMEs of a link on 127.0.0.1 fed continuously by the simulated link and post-processing,
  until interrupted (Ctrl-C: clean shutdown).

See ``docs/kme.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

from qlight.cli._output import cli_errors, fail, print_json

__all__ = ["kme_app"]

kme_app = typer.Typer(
    help="ETSI GS QKD 014 key management entity (key delivery over mutual TLS).",
    no_args_is_help=True,
)

_KMES = ("kme-a", "kme-b")
_SAES = ("sae-a", "sae-b", "sae-c")


def _folder(path: Path, option: str) -> Path:
    if path.exists() and not path.is_dir():
        fail(f"{option}={str(path)!r} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{option}={str(path)!r} cannot be created ({exc.strerror})")
    return path


@kme_app.command("certs")
def certs(
    out: Annotated[Path, typer.Option("--out", help="Folder for the PEM files (created).")],
    kme: Annotated[
        list[str] | None, typer.Option("--kme", help="KME name (repeatable; default kme-a, kme-b).")
    ] = None,
    sae: Annotated[
        list[str] | None,
        typer.Option("--sae", help="SAE name = certificate CN (repeatable; default sae-a..c)."),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a test CA, KME and SAE certificates (NAME.pem / NAME.key) in a folder."""
    from qlight.qkd.kme.certs import write_test_pki

    with cli_errors():
        folder = _folder(out, "--out")
        kmes, saes = tuple(kme or _KMES), tuple(sae or _SAES)
        if len(set(kmes) | set(saes) | {"ca"}) != len(kmes) + len(saes) + 1:
            fail("--kme and --sae names must be distinct and not 'ca'")
        paths = write_test_pki(folder, kmes, saes)
    result = {"out": str(folder), "files": {k: str(v) for k, v in paths.items()}}
    if json:
        print_json(result)
    else:
        Console().print(
            f"CA, {len(kmes)} KME and {len(saes)} SAE certificates written to {folder} "
            f"(ca.pem; {', '.join(kmes + saes)} as NAME.pem/NAME.key)"
        )


@kme_app.command("serve")
def serve(
    config: Annotated[Path, typer.Option("--config", help="KME configuration (TOML).")],
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Serve one KME (ETSI GS QKD 014 over mutual TLS) until interrupted."""
    from qlight.api.kme_server import build_kme, serve_forever
    from qlight.qkd.kme.config import load_config

    with cli_errors():
        if not config.is_file():
            fail(f"--config={str(config)!r} does not exist")
        kme = build_kme(load_config(config))
    info = {"kme_id": kme.config.kme_id, "url": kme.url, "saes": sorted(kme.config.served_saes)}

    def started() -> None:
        if json:
            print_json(info)
        else:
            Console().print(f"KME {info['kme_id']} serving {kme.url} (Ctrl-C to stop)")

    serve_forever([kme], on_started=started)


def _demo_text(info: dict[str, Any], folder: Path) -> str:
    a, b = info["kme_a"]["url"], info["kme_b"]["url"]
    return (
        f"KME A: {a}  (serves sae-a, sae-c)\n"
        f"KME B: {b}  (serves sae-b)\n"
        f"certificates and configs in {folder}; keys are fed by the simulated link.\n"
        "Try (sae-a gets a key for sae-b, then sae-b fetches the same key):\n"
        f"  curl --cacert {folder}/ca.pem --cert {folder}/sae-a.pem --key {folder}/sae-a.key "
        f"{a}/api/v1/keys/sae-b/enc_keys\n"
        f"  curl --cacert {folder}/ca.pem --cert {folder}/sae-b.pem --key {folder}/sae-b.key "
        f"'{b}/api/v1/keys/sae-a/dec_keys?key_ID=KEY_ID'\n"
        "Ctrl-C to stop."
    )


@kme_app.command("demo")
def demo(
    dir: Annotated[Path, typer.Option("--dir", help="Folder for CA, certs, configs, stores.")],
    port_a: Annotated[int, typer.Option("--port-a", help="Port of KME A.")] = 8443,
    port_b: Annotated[int, typer.Option("--port-b", help="Port of KME B.")] = 8444,
    seed: Annotated[int | None, typer.Option(help="Seed of the link simulation.")] = None,
    pulses: Annotated[
        int, typer.Option(help="Pulses per feeder round (simulated link).")
    ] = 2_000_000,
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Two KMEs of one link on 127.0.0.1, fed continuously by the simulated link."""
    from qlight.api.kme_server import build_kme, serve_forever
    from qlight.qkd.kme.feeder import FeederSettings, KeyFeeder
    from qlight.qkd.kme.pair import write_pair_setup

    with cli_errors():
        for name, port in (("--port-a", port_a), ("--port-b", port_b)):
            if not 1 <= port <= 65535:
                fail(f"{name}={port} must be a port number in [1, 65535]")
        if port_a == port_b:
            fail(f"--port-a and --port-b must differ (both {port_a})")
        if pulses < 10_000:
            fail(f"--pulses={pulses} must be >= 10000")
        folder = _folder(dir, "--dir").resolve()
        setup = write_pair_setup(folder, port_a, port_b)
        ka = build_kme(setup.config_a)
        kb = build_kme(setup.config_b)
    feeder = KeyFeeder(
        ka.service.store, kb.service.store, "kme-a", "kme-b", np.random.default_rng(seed),
        FeederSettings(pulses_per_round=pulses),
    )  # fmt: skip
    info = {
        "kme_a": {"url": ka.url, "saes": ["sae-a", "sae-c"], "config": str(folder / "kme-a.toml")},
        "kme_b": {"url": kb.url, "saes": ["sae-b"], "config": str(folder / "kme-b.toml")},
        "dir": str(folder),
        "ca": str(folder / "ca.pem"),
    }

    def started() -> None:
        feeder.start()
        if json:
            print_json(info)
        else:
            Console(soft_wrap=True).print(_demo_text(info, folder), markup=False, highlight=False)

    serve_forever([ka, kb], on_started=started, before_close=lambda: feeder.stop(timeout_s=2.0))
