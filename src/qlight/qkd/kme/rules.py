"""Request rules of ETSI GS QKD 014 V1.1.1 (2019), Sec. 5.2-5.4 and 6.2, as pure functions.

Each rule raises :class:`~qlight.qkd.kme.errors.BadRequestError` (400) or
:class:`~qlight.qkd.kme.errors.UnauthorizedError` (401) with a one-line message; nothing here
touches the store or the network.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qlight.qkd.kme.config import KmeConfig
from qlight.qkd.kme.errors import BadRequestError, UnauthorizedError

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "ValidRequest",
    "check_dec_request",
    "check_enc_request",
    "check_key_ids",
    "check_slave",
    "identify",
]

#: Names of ``extension_mandatory`` entries this KME understands (none: any entry -> 400).
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ValidRequest:
    """An accepted ``enc_keys`` request: how many keys, of what size, for which slaves."""

    number: int
    size_bits: int
    slaves: tuple[str, ...]  # the named slave first, then the additional ones


def identify(config: KmeConfig, cn: str | None) -> str:
    """The SAE ID of a client-certificate CN; 401 if no certificate or an unknown CN."""
    if cn is None:
        raise UnauthorizedError("no client certificate")
    try:
        return config.sae[cn]
    except KeyError:
        raise UnauthorizedError(f"certificate CN {cn!r} is not a known SAE of this KME") from None


def check_slave(config: KmeConfig, master: str, slave: str) -> None:
    """``slave`` must be an SAE known to this KME pair and differ from the master."""
    if config.kme_of(slave) is None:
        raise BadRequestError(f"slave_SAE_ID {slave!r} is not known to this KME")
    if slave == master:
        raise BadRequestError("slave_SAE_ID must differ from the master SAE")


def _check_extensions(ext: Sequence[dict[str, Any]] | None) -> None:
    for entry in ext or ():
        for name in entry:
            if name not in SUPPORTED_EXTENSIONS:
                raise BadRequestError(
                    f"not supported extension_mandatory {name!r}", [{"extension": name}]
                )


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_enc_request(
    config: KmeConfig,
    master: str,
    slave: str,
    *,
    number: int | None,
    size: int | None,
    additional_slaves: Sequence[str] | None = None,
    extension_mandatory: Sequence[dict[str, Any]] | None = None,
) -> ValidRequest:
    """Validate an ``enc_keys`` request (Sec. 6.2): sizes, counts, slaves, extensions."""
    k = config.keys
    check_slave(config, master, slave)
    _check_extensions(extension_mandatory)
    n = 1 if number is None else number
    if not _is_int(n) or n < 1:
        raise BadRequestError(f"number {n!r} must be an integer >= 1")
    if n > k.max_key_per_request:
        raise BadRequestError(f"number {n} exceeds max_key_per_request ({k.max_key_per_request})")
    s = k.default_size if size is None else size
    if not _is_int(s) or s % 8:
        raise BadRequestError(f"size {s!r} must be a multiple of 8")
    if not k.min_size <= s <= k.max_size:
        raise BadRequestError(f"size {s} must be within [{k.min_size}, {k.max_size}]")
    extra = list(additional_slaves or ())
    if len(extra) > k.max_SAE_ID_count:
        raise BadRequestError(
            f"{len(extra)} additional_slave_SAE_IDs exceed max_SAE_ID_count ({k.max_SAE_ID_count})"
        )
    seen = {master, slave}
    for sae in extra:
        if config.kme_of(sae) is None:
            raise BadRequestError(f"additional slave SAE {sae!r} is not known to this KME")
        if sae in seen:
            raise BadRequestError(f"additional slave SAE {sae!r} repeats the master or a slave")
        seen.add(sae)
    return ValidRequest(n, s, (slave, *extra))


def check_dec_request(config: KmeConfig, master: str) -> None:
    """``dec_keys`` names the master SAE: it must be a known SAE."""
    if config.kme_of(master) is None:
        raise BadRequestError(f"master_SAE_ID {master!r} is not known to this KME")


def check_key_ids(key_ids: Sequence[str]) -> list[str]:
    """Key IDs of a ``dec_keys`` request: at least one, each a UUID (Sec. 6.4); canonical form."""
    if not key_ids:
        raise BadRequestError("key_IDs must name at least one key")
    out = []
    for kid in key_ids:
        try:
            out.append(str(uuid.UUID(kid)))
        except (ValueError, TypeError, AttributeError):
            raise BadRequestError(f"key_ID {kid!r} is not a UUID") from None
    return out
