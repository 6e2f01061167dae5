"""Both keys (masking, signing) are read one way: file wins over environment, never short."""

from __future__ import annotations

from pathlib import Path

import pytest

from anonymiser.config import read_secret
from anonymiser.errors import ConfigError
from anonymiser.signing import load_signing_key


def test_a_key_file_wins_over_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-the-file-0123456789\n")
    environ = {"SOME_KEY": "from-the-environment-0123"}
    assert read_secret(key_file, "SOME_KEY", "test key", environ=environ) == (
        b"from-the-file-0123456789"
    )
    assert read_secret(None, "SOME_KEY", "test key", environ=environ) == (
        b"from-the-environment-0123"
    )
    assert read_secret(None, "SOME_KEY", "test key", environ={}) is None


def test_a_short_or_unreadable_signing_key_is_one_line_naming_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANONYMISER_SIGNING_KEY", "short")
    with pytest.raises(ConfigError, match="signing key in ANONYMISER_SIGNING_KEY is shorter"):
        load_signing_key()
    with pytest.raises(ConfigError, match=r"cannot read the signing key file .*missing") as bad:
        load_signing_key(tmp_path / "missing")
    assert "\n" not in str(bad.value)
    monkeypatch.delenv("ANONYMISER_SIGNING_KEY")
    assert load_signing_key() is None
