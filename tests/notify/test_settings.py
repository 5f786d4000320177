"""Notification settings: comma lists from the environment; a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, Settings, load_settings
from app.notify.addresses import parse_smtp_url

BASE = {"TWILIO_PHONE_NUMBER": "+15559870000"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_comma_separated_recipients_and_events_are_read_from_the_environment(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("NOTIFY_SMS_TO", "+15557770001, +447911123456")
    env.setenv("SMTP_URL", "smtps://me%40example.com:p%40ss@smtp.example.com")
    env.setenv("NOTIFY_FROM_EMAIL", "rx@example.com")
    env.setenv("NOTIFY_EMAIL_TO", "a@example.org,b@example.org")
    env.setenv("NOTIFY_ON", "message,booking")
    env.setenv("BOOKING_SMS", "on")
    s = load_settings()
    assert s.notify_sms_to == ("+15557770001", "+447911123456")
    assert s.notify_email_to == ("a@example.org", "b@example.org")
    assert s.notify_on == ("message", "booking")
    assert s.booking_sms is True
    assert s.smtp_url is not None
    target = parse_smtp_url(s.smtp_url.get_secret_value())
    assert (target.host, target.port, target.implicit_tls) == ("smtp.example.com", 465, True)
    assert (target.username, target.password) == ("me@example.com", "p@ss")


def test_defaults_notify_nobody_and_confirm_no_booking(env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.notify_sms_to == () and s.notify_email_to == () and s.booking_sms is False
    assert s.notify_on == ("message", "transfer_unanswered", "callback")
    assert s.openai_api_base == "https://api.openai.com/v1"


@pytest.mark.parametrize(
    ("values", "starts"),
    [
        ({"NOTIFY_SMS_TO": "+15557770001,4445566"}, "invalid NOTIFY_SMS_TO: entry 2"),
        ({"NOTIFY_EMAIL_TO": "owner@example.org"}, "invalid NOTIFY_EMAIL_TO: needs SMTP_URL"),
        (
            {"SMTP_URL": "smtp://h", "NOTIFY_FROM_EMAIL": "x@y.org", "NOTIFY_EMAIL_TO": "x@"},
            "invalid NOTIFY_EMAIL_TO: entry 1",
        ),
        ({"NOTIFY_FROM_EMAIL": "not-an-address"}, "invalid NOTIFY_FROM_EMAIL"),
        ({"NOTIFY_ON": "message,everything"}, "invalid NOTIFY_ON: unknown event 'everything'"),
        ({"BOOKING_SMS": "maybe"}, "invalid BOOKING_SMS"),
        ({"OPENAI_API_BASE": "api.openai.com"}, "invalid OPENAI_API_BASE"),
        ({"SMTP_URL": "imap://u:hunter2@mail.example.com"}, "invalid SMTP_URL"),
        ({"SMTP_URL": "smtp://u:hunter2@mail.example.com:smtp"}, "invalid SMTP_URL"),
    ],
)
def test_a_bad_value_stops_start_up_with_one_line_naming_the_variable(
    env: pytest.MonkeyPatch, values: dict[str, str], starts: str
) -> None:
    for key, value in values.items():
        env.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(starts) and "\n" not in message
    assert "hunter2" not in message  # an SMTP password never appears
    assert "4445566" not in message  # nor a whole phone number


def test_sms_needs_the_number_it_is_sent_from(env: pytest.MonkeyPatch) -> None:
    env.delenv("TWILIO_PHONE_NUMBER")
    env.setenv("BOOKING_SMS", "on")
    with pytest.raises(ConfigError, match=r"^invalid BOOKING_SMS: needs TWILIO_PHONE_NUMBER"):
        load_settings()
