"""A ready-to-run pair of KMEs for one link: test PKI and both TOML configurations.

:func:`write_pair_setup` writes into a folder ``ca.pem``, ``kme-a``/``kme-b`` certificates,
``sae-a``, ``sae-b``, ``sae-c`` client certificates (``NAME.pem``/``NAME.key``), and
``kme-a.toml``/``kme-b.toml``: ``sae-a`` and ``sae-c`` are served by KME A, ``sae-b`` by
KME B; each KME's store is ``kme-X.sqlite`` in the folder. This is what ``qlight kme demo``
runs and what the integration tests use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qlight.qkd.kme.certs import write_test_pki
from qlight.qkd.kme.config import KmeConfig, load_config

__all__ = ["PairSetup", "config_toml", "write_pair_setup"]


@dataclass(frozen=True)
class PairSetup:
    """Paths and configurations of a written pair."""

    folder: Path
    config_a: KmeConfig
    config_b: KmeConfig
    paths: dict[str, Path]


def _q(v: str) -> str:
    return json.dumps(v)  # a JSON string is a valid TOML basic string


def config_toml(
    kme_id: str, port: int, saes: dict[str, str], peer_id: str, peer_port: int,
    peer_saes: list[str], *, max_sae_id_count: int = 2, synchronous: str = "FULL",
) -> str:  # fmt: skip
    """TOML text of one KME's configuration (paths relative to the file's folder)."""
    sae_lines = "\n".join(f"{_q(cn)} = {_q(sid)}" for cn, sid in saes.items())
    return f"""# qlight KME configuration (ETSI GS QKD 014); see docs/kme.md
kme_id = {_q(kme_id)}
host = "127.0.0.1"
port = {port}
store_path = {_q(kme_id + ".sqlite")}
store_synchronous = {_q(synchronous)}

[tls]
ca = "ca.pem"
cert = {_q(kme_id + ".pem")}
key = {_q(kme_id + ".key")}

[keys]
default_size = 256
min_size = 64
max_size = 2048
max_key_per_request = 128
max_SAE_ID_count = {max_sae_id_count}
max_key_count = 200000

[sae]
{sae_lines}

[peer]
kme_id = {_q(peer_id)}
url = {_q(f"https://127.0.0.1:{peer_port}")}
cn = {_q(peer_id)}
saes = [{", ".join(_q(s) for s in peer_saes)}]
"""


def write_pair_setup(
    folder: Path, port_a: int, port_b: int, *, synchronous: str = "FULL"
) -> PairSetup:
    """Write the PKI and both configurations into ``folder`` (see the module docstring)."""
    paths = write_test_pki(folder)
    a = config_toml("kme-a", port_a, {"sae-a": "sae-a", "sae-c": "sae-c"}, "kme-b", port_b,
                    ["sae-b"], synchronous=synchronous)  # fmt: skip
    b = config_toml("kme-b", port_b, {"sae-b": "sae-b"}, "kme-a", port_a, ["sae-a", "sae-c"],
                    synchronous=synchronous)  # fmt: skip
    (folder / "kme-a.toml").write_text(a, encoding="utf-8")
    (folder / "kme-b.toml").write_text(b, encoding="utf-8")
    return PairSetup(
        folder, load_config(folder / "kme-a.toml"), load_config(folder / "kme-b.toml"), paths
    )
