"""The shared TOML reader (``qlight._toml``) used by the device settings and the KME config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qlight._toml import read_toml
from qlight.device.settings import load_settings
from qlight.errors import ConfigurationError
from qlight.qkd.kme.config import load_config


def _error(path: Path) -> str:
    with pytest.raises(ConfigurationError) as info:
        read_toml(path)
    msg = str(info.value)
    assert msg.startswith(f"config file {path}: ")  # names the file
    assert "\n" not in msg  # one line
    return msg


def test_reads_the_top_level_table(tmp_path: Path) -> None:
    p = tmp_path / "ok.toml"
    p.write_text('port = 8001\n[twin]\nseed = 3\nname = "é"\n', encoding="utf-8")
    assert read_toml(p) == {"port": 8001, "twin": {"seed": 3, "name": "é"}}
    assert read_toml(str(p)) == read_toml(p)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert read_toml(empty) == {}


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert "cannot read (No such file or directory)" in _error(tmp_path / "missing.toml")
    assert "cannot read (Is a directory)" in _error(tmp_path)


def test_malformed_toml_says_where(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("port = 1\nport = = 2\n")
    msg = _error(p)
    assert "invalid TOML" in msg
    assert "line 2" in msg  # the parser's position survives


@pytest.mark.parametrize("text", ["[1, 2, 3]\n", '"just a string"\n', "42\n", "{a = 1}\n"])
def test_a_document_that_is_not_a_table_is_refused(tmp_path: Path, text: str) -> None:
    # A TOML document is a table of key/value pairs; a bare value or array is not one.
    p = tmp_path / "value.toml"
    p.write_text(text)
    assert "invalid TOML" in _error(p)


def test_binary_content_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "binary.toml"
    p.write_bytes(b"port = 1\n\xff\xfe\x00")
    assert _error(p).endswith("not UTF-8 text")


def test_both_callers_report_the_same_way(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("a = = 1\n")
    for load in (load_settings, load_config):
        with pytest.raises(ConfigurationError, match=re.escape(f"config file {p}: invalid TOML")):
            load(p)
        missing = tmp_path / "nope.toml"
        with pytest.raises(ConfigurationError, match=re.escape(f"config file {missing}: cannot")):
            load(missing)
