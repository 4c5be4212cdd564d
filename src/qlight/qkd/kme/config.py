"""Configuration of one key management entity (KME): a pydantic model read from TOML.

Example (``kme.toml``; every relative path is taken relative to the file's folder)::

    kme_id = "kme-a"
    host = "127.0.0.1"
    port = 8443
    store_path = "kme-a.sqlite"

    [tls]
    ca = "ca.pem"
    cert = "kme-a.pem"
    key = "kme-a.key"

    [keys]
    default_size = 256        # bits (ETSI GS QKD 014 Status "key_size")
    min_size = 64
    max_size = 1024
    max_key_per_request = 128
    max_SAE_ID_count = 2
    max_key_count = 100000    # pool keys of default_size the store holds at most

    [sae]                    # client-certificate subject CN -> SAE ID, for the SAEs served here
    "sae-a" = "sae-a"

    [peer]
    kme_id = "kme-b"
    url = "https://127.0.0.1:8444"
    cn = "kme-b"             # CN of the peer KME's certificate (its client certificate too)
    saes = ["sae-b"]         # SAE IDs the peer KME serves

See ``docs/kme.md`` for the reference of every field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qlight._toml import read_toml
from qlight.errors import ConfigurationError

__all__ = ["KeySizes", "KmeConfig", "PeerConfig", "TlsPaths", "load_config"]


class TlsPaths(BaseModel):
    """Certificate files: the CA that signed every SAE and KME certificate, this KME's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca: Path
    cert: Path
    key: Path


class KeySizes(BaseModel):
    """Key sizes and request limits (the Status fields of ETSI GS QKD 014, Sec. 6.1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    default_size: int = Field(256, ge=8)
    min_size: int = Field(64, ge=8)
    max_size: int = Field(1024, ge=8)
    max_key_per_request: int = Field(128, ge=1)
    max_SAE_ID_count: int = Field(0, ge=0)  # noqa: N815 - the standard's field name
    max_key_count: int = Field(100_000, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> KeySizes:
        for name in ("default_size", "min_size", "max_size"):
            if getattr(self, name) % 8:
                raise ValueError(f"{name} must be a multiple of 8")
        if not self.min_size <= self.default_size <= self.max_size:
            raise ValueError("need min_size <= default_size <= max_size")
        return self


class PeerConfig(BaseModel):
    """The KME at the other end of the link (same key pool, its own SAEs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kme_id: str
    url: str | None = None
    cn: str
    saes: list[str] = Field(default_factory=list)


class KmeConfig(BaseModel):
    """Everything one KME needs (see the module docstring for a TOML example)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kme_id: str
    host: str = "127.0.0.1"
    port: int = Field(8443, ge=0, le=65535)
    store_path: Path
    tls: TlsPaths
    keys: KeySizes = Field(default_factory=KeySizes)
    sae: dict[str, str] = Field(default_factory=dict)
    peer: PeerConfig | None = None
    peer_timeout_s: float = Field(5.0, gt=0)
    store_synchronous: Literal["FULL", "NORMAL"] = "FULL"

    @model_validator(mode="after")
    def _consistent(self) -> KmeConfig:
        served = set(self.sae.values())
        if len(served) != len(self.sae):
            raise ValueError("two certificate CNs map to the same SAE ID")
        if self.peer is not None:
            if set(self.peer.saes) & served:
                raise ValueError("an SAE cannot be served by both KMEs")
            if self.peer.kme_id == self.kme_id:
                raise ValueError("peer.kme_id must differ from kme_id")
            if self.peer.cn in self.sae:
                raise ValueError("peer.cn must not be an SAE certificate CN")
        return self

    @property
    def served_saes(self) -> frozenset[str]:
        """SAE IDs this KME serves (their requests come here)."""
        return frozenset(self.sae.values())

    @property
    def peer_saes(self) -> frozenset[str]:
        """SAE IDs the peer KME serves."""
        return frozenset(self.peer.saes) if self.peer is not None else frozenset()

    def kme_of(self, sae_id: str) -> str | None:
        """The KME ID serving ``sae_id`` (``None``: an SAE nobody here knows)."""
        if sae_id in self.served_saes:
            return self.kme_id
        if self.peer is not None and sae_id in self.peer_saes:
            return self.peer.kme_id
        return None


def _resolve(data: dict[str, Any], base: Path) -> dict[str, Any]:
    out = dict(data)
    if "store_path" in out:
        out["store_path"] = base / Path(str(out["store_path"]))
    tls = out.get("tls")
    if isinstance(tls, dict):
        out["tls"] = {k: base / Path(str(v)) for k, v in tls.items()}
    return out


def load_config(path: str | Path) -> KmeConfig:
    """Read a KME configuration from a TOML file (relative paths: from the file's folder).

    Raises
    ------
    ConfigurationError
        The file is missing, not TOML, or a field is missing or invalid (the message names it).
    """
    p = Path(path)
    data = read_toml(p)
    try:
        return KmeConfig.model_validate(_resolve(data, p.parent))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(top level)"
        raise ConfigurationError(f"{p}: {where}: {first['msg']}") from None
