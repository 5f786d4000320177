"""SECRET_KEY: from the setting, else generated once and kept under DATA_DIR (not on Fly)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from app.config import ConfigError, Settings

_FILE = "secret_key"


def secret_key(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes:
    """The key that signs staff cookies. Raises ConfigError when it must be set and is not.

    On Fly (FLY_APP_NAME is set) each Machine has its own disk, so a generated key would differ
    between Machines and sign everyone out on every deploy: there it must be a secret.
    """
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < 32:
            raise ConfigError("invalid SECRET_KEY: use at least 32 characters")
        return value.encode()
    environ = os.environ if environ is None else environ
    if environ.get("FLY_APP_NAME"):
        raise ConfigError(
            "SECRET_KEY is required on Fly: fly secrets set SECRET_KEY=$(openssl rand -hex 32)"
        )
    return _kept_key(settings.data_dir / _FILE)


def _kept_key(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two processes starting at once agree on whichever key was written first.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key.encode()
