"""Settings: every documented variable is read; bad values stop start-up with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, LogFormat, RecordingDisclosure, Settings, load_settings

ALL = {
    "PORT": "6000",
    "PUBLIC_BASE_URL": "https://rx.example.com/",
    "DATABASE_URL": "postgres://u:p@db.internal:5432/rx",
    "DATA_DIR": "/var/lib/rx",
    "OPENAI_API_KEY": "sk-test-123",
    "OPENAI_REALTIME_URL": "ws://127.0.0.1:9999/v1/realtime",
    "OPENAI_REALTIME_MODEL": "gpt-realtime-mini",
    "OPENAI_VOICE": "cedar",
    "TWILIO_ACCOUNT_SID": "AC123",
    "TWILIO_AUTH_TOKEN": "tok",
    "TWILIO_PHONE_NUMBER": "+15550001111",
    "TWILIO_API_BASE": "http://127.0.0.1:9998",
    "BUSINESS_API_BASE": "http://127.0.0.1:9997/api/",
    "BUSINESS_API_TOKEN": "biz",
    "HUMAN_TRANSFER_NUMBER": "+15550002222",
    "MAX_CALL_SECONDS": "300",
    "LOG_LEVEL": "debug",
    "LOG_FORMAT": "json",
    "TOOL_TIMEOUT_SECONDS": "2.5",
    "IDLE_PROMPT_SECONDS": "8",
    "IDLE_HANGUP_SECONDS": "6",
    "RECORDING_DISCLOSURE": "always",
    "MAX_CONCURRENT_CALLS": "20",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No inherited variable and no stray .env file influence the test."""
    for name in [*Settings.model_fields, "openai_base_url"]:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults_without_environment(clean_env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.port == 5050
    assert s.database_url is None and s.embedded_database
    assert s.data_dir == Path(".data")
    assert s.openai_api_key is None
    assert s.openai_realtime_url == "wss://api.openai.com/v1/realtime"
    assert s.twilio_api_base == "https://api.twilio.com"
    assert s.max_call_seconds == 600
    assert s.business_api_base is None
    assert s.openai_realtime_model == "gpt-realtime-2.1"
    assert s.openai_reasoning_effort == "low"
    assert s.openai_truncation_retention_ratio == 0.8
    assert s.openai_api_base == "https://api.openai.com/v1"


def test_openai_base_url_is_accepted_beside_openai_api_base(
    clean_env: pytest.MonkeyPatch,
) -> None:
    """OPENAI_BASE_URL is what OpenAI's own SDKs read; either name sets the same base."""
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9996/v1/")
    assert load_settings().openai_api_base == "http://127.0.0.1:9996/v1"
    clean_env.delenv("OPENAI_BASE_URL")
    clean_env.setenv("OPENAI_API_BASE", "http://127.0.0.1:9995/v1")
    assert load_settings().openai_api_base == "http://127.0.0.1:9995/v1"
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9994/v1")  # both: OPENAI_API_BASE wins
    assert load_settings().openai_api_base == "http://127.0.0.1:9995/v1"
    clean_env.delenv("OPENAI_API_BASE")
    clean_env.setenv("OPENAI_BASE_URL", "not a url")
    with pytest.raises(ConfigError, match="OPENAI_"):
        load_settings()


def test_the_ladder_needs_two_different_known_models(clean_env: pytest.MonkeyPatch) -> None:
    assert load_settings().openai_escalation_model is None  # off by default
    clean_env.setenv("OPENAI_REALTIME_MODEL", "gpt-realtime-2.1-mini")
    clean_env.setenv("OPENAI_ESCALATION_MODEL", "gpt-realtime-2.1")
    assert load_settings().openai_escalation_model == "gpt-realtime-2.1"
    clean_env.setenv("OPENAI_ESCALATION_MODEL", "gpt-realtime-2.1-mini")
    with pytest.raises(ConfigError, match=r"OPENAI_ESCALATION_MODEL.*must differ"):
        load_settings()


def test_reasoning_effort_is_read_case_insensitively(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_REASONING_EFFORT", "High")
    assert load_settings().openai_reasoning_effort == "high"


def test_every_documented_variable_is_parsed(clean_env: pytest.MonkeyPatch) -> None:
    for k, v in ALL.items():
        clean_env.setenv(k, v)
    s = load_settings()
    assert s.port == 6000
    assert s.public_base_url == "https://rx.example.com"
    assert s.database_url == "postgresql+asyncpg://u:p@db.internal:5432/rx"
    assert s.data_dir == Path("/var/lib/rx")
    assert s.openai_api_key is not None and s.openai_api_key.get_secret_value() == "sk-test-123"
    assert s.openai_realtime_url == "ws://127.0.0.1:9999/v1/realtime"
    assert s.openai_realtime_model == "gpt-realtime-mini"
    assert s.openai_voice == "cedar"
    assert s.twilio_account_sid == "AC123"
    assert s.twilio_auth_token is not None and s.twilio_auth_token.get_secret_value() == "tok"
    assert s.twilio_phone_number == "+15550001111"
    assert s.twilio_api_base == "http://127.0.0.1:9998"
    assert s.business_api_base == "http://127.0.0.1:9997/api"
    assert s.business_api_token is not None
    assert s.human_transfer_number == "+15550002222"
    assert s.max_call_seconds == 300
    assert s.log_level == "DEBUG"
    assert s.log_format is LogFormat.JSON
    assert s.tool_timeout_seconds == 2.5
    assert s.idle_prompt_seconds == 8 and s.idle_hangup_seconds == 6
    assert s.recording_disclosure is RecordingDisclosure.ALWAYS
    assert s.max_concurrent_calls == 20


def test_env_file_is_read(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MAX_CALL_SECONDS=120\nOPENAI_VOICE=alloy\n")
    s = load_settings()
    assert (s.max_call_seconds, s.openai_voice) == (120, "alloy")


def test_secrets_never_appear_in_repr(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-very-secret")
    clean_env.setenv("TWILIO_AUTH_TOKEN", "twilio-secret")
    text = repr(load_settings())
    assert "sk-very-secret" not in text and "twilio-secret" not in text


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("MAX_CALL_SECONDS", "ten", "MAX_CALL_SECONDS"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL"),
        ("DATABASE_URL", "postgres://host:notaport/db", "DATABASE_URL"),
        ("PORT", "70000", "PORT"),
        ("PUBLIC_BASE_URL", "rx.example.com", "PUBLIC_BASE_URL"),
        ("OPENAI_REALTIME_URL", "https://api.openai.com", "OPENAI_REALTIME_URL"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("RECORDING_DISCLOSURE", "sometimes", "RECORDING_DISCLOSURE"),
        ("TOOL_TIMEOUT_SECONDS", "-1", "TOOL_TIMEOUT_SECONDS"),
        ("OPENAI_REALTIME_MODEL", "gpt-realtime-3", "OPENAI_REALTIME_MODEL"),
        ("OPENAI_REALTIME_MODEL", "gpt-4o-realtime-preview", "gpt-realtime-2.1-mini"),
        ("OPENAI_REASONING_EFFORT", "maximal", "OPENAI_REASONING_EFFORT"),
        ("OPENAI_TRUNCATION_RETENTION_RATIO", "0", "OPENAI_TRUNCATION_RETENTION_RATIO"),
        ("OPENAI_TRUNCATION_RETENTION_RATIO", "1.5", "OPENAI_TRUNCATION_RETENTION_RATIO"),
        ("OPENAI_ESCALATION_MODEL", "gpt-5", "OPENAI_ESCALATION_MODEL"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    clean_env: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert needle in message and "\n" not in message


@pytest.mark.parametrize("form", ["postgres://u@h/db", "postgresql://u@h/db"])
def test_both_postgres_url_forms_are_normalised_for_asyncpg(
    clean_env: pytest.MonkeyPatch, form: str
) -> None:
    clean_env.setenv("DATABASE_URL", form)
    assert load_settings().database_url == "postgresql+asyncpg://u@h/db"


def test_libpq_sslmode_is_spelled_for_asyncpg(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", "postgres://u:p@db.flycast:5432/rx?sslmode=disable")
    assert load_settings().database_url == "postgresql+asyncpg://u:p@db.flycast:5432/rx?ssl=disable"


def _serve_stderr_lines(tmp_path: Path, **env: str) -> list[str]:
    """Run `receptionist serve` expecting a start-up refusal; its stderr lines."""
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip().splitlines()


def test_cli_bad_value_exits_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    lines = _serve_stderr_lines(tmp_path, MAX_CALL_SECONDS="abc")
    assert len(lines) == 1, lines
    assert "MAX_CALL_SECONDS" in lines[0]


def test_cli_unknown_model_exits_with_one_line_naming_the_choices(tmp_path: Path) -> None:
    lines = _serve_stderr_lines(tmp_path, OPENAI_REALTIME_MODEL="gpt-realtime-21")
    assert len(lines) == 1, lines
    assert "OPENAI_REALTIME_MODEL" in lines[0] and "gpt-realtime-2.1" in lines[0]


def test_cli_bad_business_profile_exits_with_one_line(tmp_path: Path) -> None:
    profile = tmp_path / "business.toml"
    profile.write_text('name = "X"\ntimezone = "Mars/Olympus"\n')
    lines = _serve_stderr_lines(tmp_path, BUSINESS_PROFILE=str(profile))
    assert len(lines) == 1, lines
    assert "BUSINESS_PROFILE" in lines[0]
