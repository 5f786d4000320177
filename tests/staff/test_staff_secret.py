"""SECRET_KEY: the setting, else a key kept under DATA_DIR across restarts; required on Fly."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings
from app.staff.secret import secret_key


def test_an_unset_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", _env_file=None)
    first = secret_key(settings, environ={})
    again = secret_key(settings, environ={})
    kept = tmp_path / "data" / "secret_key"
    assert first == again and len(first) == 64
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_a_set_key_is_used_as_it_is(tmp_path: Path) -> None:
    settings = load_settings(secret_key="k" * 40, data_dir=tmp_path, _env_file=None)
    assert secret_key(settings, environ={"FLY_APP_NAME": "desk"}) == b"k" * 40
    assert not (tmp_path / "secret_key").exists()


def test_on_fly_the_key_must_be_set(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, _env_file=None)
    with pytest.raises(ConfigError, match="SECRET_KEY is required on Fly"):
        secret_key(settings, environ={"FLY_APP_NAME": "desk"})


def test_a_short_key_is_refused(tmp_path: Path) -> None:
    settings = load_settings(secret_key="short", data_dir=tmp_path, _env_file=None)
    with pytest.raises(ConfigError, match="at least 32"):
        secret_key(settings, environ={})


def test_the_key_is_never_shown_in_the_settings_repr() -> None:
    settings = load_settings(secret_key="s3cr3t-" * 6, _env_file=None)
    assert "s3cr3t" not in repr(settings)
