"""Every setting is documented where operators look: .env.example and the README table."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]
NAMES = sorted(name.upper() for name in Settings.model_fields)


@pytest.mark.parametrize("name", NAMES)
def test_setting_is_in_env_example(name: str) -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    assert any(line.startswith(f"{name}=") for line in lines)


@pytest.mark.parametrize("name", NAMES)
def test_setting_is_in_the_readme_table(name: str) -> None:
    assert f"| `{name}` |" in (ROOT / "README.md").read_text()


def test_env_example_loads_as_valid_settings(tmp_path: Path) -> None:
    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.port == 5050 and settings.database_url is None
