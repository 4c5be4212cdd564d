"""KME configuration, request rules and the ETSI GS QKD 014 object field names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qlight.errors import ConfigurationError
from qlight.qkd.kme.config import KmeConfig, load_config
from qlight.qkd.kme.errors import BadRequestError, UnauthorizedError
from qlight.qkd.kme.models import Error, Key, KeyContainer, KeyID, KeyIDs, KeyRequest, Status
from qlight.qkd.kme.pair import config_toml
from qlight.qkd.kme.rules import (
    check_dec_request,
    check_enc_request,
    check_key_ids,
    check_slave,
    identify,
)


def _config(tmp_path: Path, **keys: int) -> KmeConfig:
    text = config_toml("kme-a", 8443, {"sae-a": "sae-a", "cn-of-c": "sae-c"}, "kme-b", 8444,
                       ["sae-b"])  # fmt: skip
    for k, v in keys.items():
        text = text.replace(f"\n{k} = ", f"\n{k} = {v}\n# was ")
    p = tmp_path / "kme.toml"
    p.write_text(text)
    return load_config(p)


def test_config_reads_toml_and_resolves_paths(tmp_path: Path) -> None:
    c = _config(tmp_path)
    assert c.kme_id == "kme-a"
    assert c.store_path == tmp_path / "kme-a.sqlite"
    assert c.tls.ca == tmp_path / "ca.pem"
    assert c.keys.default_size == 256
    assert c.keys.max_SAE_ID_count == 2
    assert c.served_saes == {"sae-a", "sae-c"}
    assert c.peer_saes == {"sae-b"}
    assert c.kme_of("sae-b") == "kme-b"
    assert c.kme_of("sae-c") == "kme-a"
    assert c.kme_of("nobody") is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("kme_id = ", "invalid TOML"),
        ('kme_id = "a"\n', "store_path"),
        (config_toml("a", 1, {}, "b", 2, []).replace("default_size = 256", "default_size = 100"),
         "multiple of 8"),
        (config_toml("a", 1, {}, "b", 2, []).replace("min_size = 64", "min_size = 512"),
         "min_size <= default_size"),
        (config_toml("a", 1, {"x": "s", "y": "s"}, "b", 2, []), "same SAE ID"),
        (config_toml("a", 1, {"x": "s"}, "b", 2, ["s"]), "both KMEs"),
        (config_toml("a", 1, {}, "a", 2, []), "must differ"),
        (config_toml("a", 1, {}, "b", 2, []) + "\nunknown = 1\n", "unknown"),
    ],
)  # fmt: skip
def test_config_errors_name_the_field(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "kme.toml"
    p.write_text(text)
    with pytest.raises(ConfigurationError, match=match):
        load_config(p)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_identify_maps_certificate_cn(tmp_path: Path) -> None:
    c = _config(tmp_path)
    assert identify(c, "cn-of-c") == "sae-c"
    with pytest.raises(UnauthorizedError):
        identify(c, None)
    with pytest.raises(UnauthorizedError):
        identify(c, "sae-c")  # an SAE ID is not a CN
    with pytest.raises(UnauthorizedError):
        identify(c, "kme-b")  # the peer KME is not an SAE


def test_enc_request_defaults_and_limits(tmp_path: Path) -> None:
    c = _config(tmp_path)
    ok = check_enc_request(c, "sae-a", "sae-b", number=None, size=None)
    assert (ok.number, ok.size_bits, ok.slaves) == (1, 256, ("sae-b",))
    ok = check_enc_request(c, "sae-a", "sae-b", number=128, size=2048,
                           additional_slaves=["sae-c"])  # fmt: skip
    assert ok.slaves == ("sae-b", "sae-c")
    bad: list[dict[str, object]] = [
        {"number": 0, "size": None},
        {"number": 129, "size": None},
        {"number": None, "size": 260},
        {"number": None, "size": 56},
        {"number": None, "size": 2056},
        {"number": None, "size": None, "additional_slaves": ["sae-x"]},
        {"number": None, "size": None, "additional_slaves": ["sae-b"]},
        {"number": None, "size": None, "additional_slaves": ["sae-a"]},
        {"number": None, "size": None, "additional_slaves": ["sae-c", "sae-c"]},
        {"number": None, "size": None, "extension_mandatory": [{"abc_route_type": "direct"}]},
    ]
    for kw in bad:
        with pytest.raises(BadRequestError):
            check_enc_request(c, "sae-a", "sae-b", **kw)  # type: ignore[arg-type]
    # optional extensions are ignored; an empty mandatory list is fine
    check_enc_request(c, "sae-a", "sae-b", number=1, size=64, extension_mandatory=[])


def test_max_sae_id_count(tmp_path: Path) -> None:
    c = _config(tmp_path, max_SAE_ID_count=0)
    with pytest.raises(BadRequestError, match="max_SAE_ID_count"):
        check_enc_request(c, "sae-a", "sae-b", number=1, size=None, additional_slaves=["sae-c"])


@given(size=st.integers(-10_000, 10_000))
def test_size_accepted_iff_multiple_of_8_within_bounds(size: int) -> None:
    c = _CONFIG
    accepted = size % 8 == 0 and c.keys.min_size <= size <= c.keys.max_size
    try:
        got = check_enc_request(c, "sae-a", "sae-b", number=1, size=size)
    except BadRequestError:
        assert not accepted
    else:
        assert accepted
        assert got.size_bits == size


def test_slave_and_master_checks(tmp_path: Path) -> None:
    c = _config(tmp_path)
    check_slave(c, "sae-a", "sae-b")
    with pytest.raises(BadRequestError):
        check_slave(c, "sae-a", "sae-a")
    with pytest.raises(BadRequestError):
        check_slave(c, "sae-a", "nobody")
    check_dec_request(c, "sae-b")
    with pytest.raises(BadRequestError):
        check_dec_request(c, "nobody")


def test_key_ids_must_be_uuids() -> None:
    u = "5DF51B8E-9CD3-403A-8D88-C9DF5ED7676E"
    assert check_key_ids([u]) == [u.lower()]
    with pytest.raises(BadRequestError):
        check_key_ids([])
    with pytest.raises(BadRequestError):
        check_key_ids(["not-a-uuid"])


def test_models_use_the_standards_field_names() -> None:
    assert set(Status.model_fields) == {
        "source_KME_ID", "target_KME_ID", "master_SAE_ID", "slave_SAE_ID", "key_size",
        "stored_key_count", "max_key_count", "max_key_per_request", "max_key_size",
        "min_key_size", "max_SAE_ID_count", "status_extension",
    }  # fmt: skip
    assert set(KeyRequest.model_fields) == {
        "number", "size", "additional_slave_SAE_IDs", "extension_mandatory",
        "extension_optional",
    }  # fmt: skip
    assert set(KeyContainer.model_fields) == {"keys", "key_container_extension"}
    assert set(Key.model_fields) == {"key_ID", "key_ID_extension", "key", "key_extension"}
    assert set(KeyIDs.model_fields) == {"key_IDs", "key_IDs_extension"}
    assert set(KeyID.model_fields) == {"key_ID", "key_ID_extension"}
    assert set(Error.model_fields) == {"message", "details"}
    req = KeyRequest.model_validate({"number": 2, "vendor_field": 1})
    assert req.number == 2
    assert req.size is None


def _make_config() -> KmeConfig:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return _config(Path(d))


_CONFIG = _make_config()
