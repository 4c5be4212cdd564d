"""Device settings: TOML + environment + overrides, validated with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from qlight.device.settings import DeviceSettings, load_settings
from qlight.errors import ConfigurationError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for k in list(os.environ):
        if k.startswith("QLIGHT_"):
            monkeypatch.delenv(k)


def _toml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "qlight.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults() -> None:
    s = load_settings()
    assert s.host == "127.0.0.1"
    assert s.port == 8000
    assert s.scpi_port == 5025
    assert s.data_dir == Path("./qlight-data")
    assert s.api_token is None
    assert s.backend == "twin"
    assert s.twin.pace == "fast"
    assert s.supervisor.max_g2_0 == 0.5
    assert s.device_db.name == "device.db"
    assert s.chip_size_m == pytest.approx(200e-6)


def test_precedence_overrides_env_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _toml(
        tmp_path,
        'port = 9000\nscpi_port = 6000\nhost = "0.0.0.0"\n'
        "[twin]\nseed = 4\n[supervisor]\nmax_g2_0 = 0.4\nmin_rate_fraction = 0.6\n",
    )
    monkeypatch.setenv("QLIGHT_SCPI_PORT", "6001")
    monkeypatch.setenv("QLIGHT_SUPERVISOR__MAX_G2_0", "0.3")
    monkeypatch.setenv("QLIGHT_API_TOKEN", "s3cret")
    s = load_settings(cfg, port=9100, host=None)
    assert s.port == 9100  # override beats TOML
    assert s.scpi_port == 6001  # env beats TOML
    assert s.host == "0.0.0.0"  # TOML beats default; a None override is ignored
    assert s.supervisor.max_g2_0 == 0.3  # nested env beats TOML
    assert s.supervisor.min_rate_fraction == 0.6  # TOML keeps the rest of the table
    assert s.twin.seed == 4
    assert s.api_token is not None
    assert s.api_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)


def test_shortcuts_map_onto_twin(tmp_path: Path) -> None:
    cfg = _toml(tmp_path, '[twin]\nseed = 4\npace = "fast"\n')
    s = load_settings(cfg, twin_seed=11, pace="realtime")
    assert (s.twin.seed, s.twin.pace) == (11, "realtime")
    assert load_settings(cfg).twin.seed == 4


@pytest.mark.parametrize(
    ("text", "overrides", "needle"),
    [
        ("port = 70000\n", {}, "port"),
        ("[supervisor]\nmax_g2_0 = 1.5\n", {}, "supervisor.max_g2_0"),
        ("[supervisor]\nport = 1\n", {}, "supervisor.port"),
        ("colour = 1\n", {}, "colour"),
        ('backend = "hardware"\n', {}, "backend"),
        ("[twin]\nseed = -1\n", {}, "twin.seed"),
        ("", {"pace": "slow"}, "pace"),
        ("[mapping]\nregion_um = nan\n", {}, "mapping.region_um"),
    ],
)
def test_bad_values_name_the_field(
    tmp_path: Path, text: str, overrides: dict[str, object], needle: str
) -> None:
    cfg = _toml(tmp_path, text)
    with pytest.raises(ConfigurationError) as exc:
        load_settings(cfg, **overrides)
    msg = str(exc.value)
    assert needle in msg
    assert "\n" not in msg


def test_bad_env_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLIGHT_PORT", "eighty")
    with pytest.raises(ConfigurationError, match="port"):
        load_settings()


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigurationError, match="invalid TOML"):
        load_settings(_toml(tmp_path, "port = = 1\n"))


def test_toml_does_not_leak_into_later_loads(tmp_path: Path) -> None:
    load_settings(_toml(tmp_path, "port = 9000\n"))
    assert load_settings().port == 8000
    assert DeviceSettings().port == 8000
