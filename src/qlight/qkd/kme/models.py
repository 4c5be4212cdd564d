"""The JSON objects of ETSI GS QKD 014 V1.1.1 (2019), Sec. 6, with the standard's field names.

Status (6.1), Key request (6.2), Key container (6.3), Key IDs (6.4), Error (6.5). Field
names are the standard's exactly (``key_ID``, ``master_SAE_ID``, ...), hence the ``noqa``
markers for mixed case. Requests ignore unknown fields (the standard lets a KME extend
objects); ``extension_mandatory`` entries a KME does not support must be refused
(Sec. 6.2: "If a KME does not support an extension in this list, it shall return an
error"), which :mod:`qlight.qkd.kme.rules` does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Error", "Key", "KeyContainer", "KeyID", "KeyIDs", "KeyRequest", "Status"]

# ruff: noqa: N815  (the standard's mixed-case field names)


class Status(BaseModel):
    """Status of the key pool between this KME and the slave SAE's KME (Sec. 6.1)."""

    source_KME_ID: str
    target_KME_ID: str
    master_SAE_ID: str
    slave_SAE_ID: str
    key_size: int = Field(description="Default key size in bits.")
    stored_key_count: int = Field(description="Keys of key_size available to the master.")
    max_key_count: int
    max_key_per_request: int
    max_key_size: int
    min_key_size: int
    max_SAE_ID_count: int
    status_extension: dict[str, Any] | None = None


class KeyRequest(BaseModel):
    """Body of ``POST enc_keys`` (Sec. 6.2); every field optional."""

    model_config = ConfigDict(extra="ignore")

    number: int | None = Field(None, description="Number of keys (default 1).")
    size: int | None = Field(None, description="Key size in bits (default: Status key_size).")
    additional_slave_SAE_IDs: list[str] | None = None
    extension_mandatory: list[dict[str, Any]] | None = None
    extension_optional: list[dict[str, Any]] | None = None


class Key(BaseModel):
    """One key of a Key container: its UUID and its bytes in base64 (Sec. 6.3)."""

    key_ID: str
    key_ID_extension: dict[str, Any] | None = None
    key: str
    key_extension: dict[str, Any] | None = None


class KeyContainer(BaseModel):
    """Response of ``enc_keys`` and ``dec_keys`` (Sec. 6.3)."""

    keys: list[Key]
    key_container_extension: dict[str, Any] | None = None


class KeyID(BaseModel):
    """One entry of a Key IDs object (Sec. 6.4)."""

    model_config = ConfigDict(extra="ignore")

    key_ID: str
    key_ID_extension: dict[str, Any] | None = None


class KeyIDs(BaseModel):
    """Body of ``POST dec_keys`` (Sec. 6.4)."""

    model_config = ConfigDict(extra="ignore")

    key_IDs: list[KeyID]
    key_IDs_extension: dict[str, Any] | None = None


class Error(BaseModel):
    """Body of every 400, 401 and 503 response (Sec. 6.5)."""

    message: str
    details: list[dict[str, Any]] | None = None
