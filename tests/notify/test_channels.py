"""The SMS channel against the Twilio double, and the mail channel against a real SMTP server."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.config import Settings, load_settings
from app.notify.addresses import parse_smtp_url
from app.notify.mail import MailChannel
from app.notify.sms import SmsChannel
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.notify.smtp import SmtpServer

OWNER = "+15557770001"
BUSINESS = "+15559870000"


@pytest.fixture(scope="module")
async def twilio() -> AsyncIterator[FakeTwilioAPI]:
    async with FakeTwilioAPI() as api:
        yield api


@pytest.fixture
async def sms(twilio: FakeTwilioAPI) -> AsyncIterator[SmsChannel]:
    twilio.reset()
    settings: Settings = load_settings(
        _env_file=None,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_phone_number=BUSINESS,
        twilio_api_base=twilio.base_url,
    )
    async with httpx.AsyncClient(trust_env=False) as http:
        yield SmsChannel(settings, http, timeout=1.0)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


async def test_sms_is_one_messages_request_with_basic_auth_to_from_and_body(
    sms: SmsChannel, twilio: FakeTwilioAPI
) -> None:
    delivery = await sms.send(OWNER, None, "Message from Jane: call back")
    assert delivery.sent and delivery.provider_id is not None
    assert delivery.provider_id.startswith("SM")
    [request] = twilio.requests
    assert request.auth_ok
    assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    assert request.form == {"To": OWNER, "From": BUSINESS, "Body": "Message from Jane: call back"}
    assert request.status_code == 201
    assert twilio.messages.bodies_to(OWNER) == ["Message from Jane: call back"]
    assert twilio.messages.problems == []


@pytest.mark.parametrize(
    ("mode", "code"), [("invalid", 21211), ("opted_out", 21610), ("landline", 21614)]
)
async def test_a_recipient_twilio_can_never_reach_fails_for_good_with_the_code(
    sms: SmsChannel, twilio: FakeTwilioAPI, mode: str, code: int
) -> None:
    twilio.messages.modes[OWNER] = mode  # type: ignore[assignment]
    delivery = await sms.send(OWNER, None, "hello")
    assert not delivery.sent and delivery.permanent
    assert delivery.error is not None and f"twilio {code}" in delivery.error


async def test_a_twilio_500_or_a_stall_is_retried_later(
    sms: SmsChannel, twilio: FakeTwilioAPI
) -> None:
    twilio.messages.mode = "error"
    failed = await sms.send(OWNER, None, "hello")
    twilio.messages.mode = "stall"
    stalled = await sms.send(OWNER, None, "hello")  # the client gives up after its 1 s timeout
    assert not failed.sent and not failed.permanent and "20500" in (failed.error or "")
    assert not stalled.sent and not stalled.permanent
    assert twilio.messages.sent == []


async def test_wrong_credentials_are_refused_by_the_double(twilio: FakeTwilioAPI) -> None:
    twilio.reset()
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(
            f"{twilio.base_url}/2010-04-01/Accounts/{twilio.account_sid}/Messages.json",
            data={"To": OWNER, "From": BUSINESS, "Body": "x"},
            headers={"Authorization": "Basic " + base64.b64encode(b"AC1:nope").decode()},
        )
    assert response.status_code == 401 and response.json()["code"] == 20003
    assert twilio.messages.sent == []


async def test_email_arrives_with_its_headers_and_body(smtp: SmtpServer) -> None:
    mail = MailChannel(parse_smtp_url(smtp.url), "receptionist@example.com", timeout=5)
    delivery = await mail.send("owner@example.org", "Message from Jane", "Call Jane back.\n")
    assert delivery.sent
    [received] = smtp.received
    assert received.mail_from == "receptionist@example.com"
    assert received.rcpt_tos == ["owner@example.org"]
    message = received.message
    assert message["From"] == "receptionist@example.com"
    assert message["To"] == "owner@example.org"
    assert message["Subject"] == "Message from Jane"
    assert message["Message-ID"] == delivery.provider_id
    assert message["Date"] is not None
    assert message.get_content().replace("\r\n", "\n") == "Call Jane back.\n"  # CRLF on the wire


async def test_every_attempt_at_one_notification_carries_the_same_message_id(
    smtp: SmtpServer,
) -> None:
    """The provider's guard against a copy sent twice: one notification, one Message-ID."""
    mail = MailChannel(parse_smtp_url(smtp.url), "receptionist@example.com", timeout=5)
    key = "message_taken:m1:email:owner@example.org"
    first = await mail.send("owner@example.org", "s", "b", key=key)
    again = await mail.send("owner@example.org", "s", "b", key=key)
    other = await mail.send("owner@example.org", "s", "b", key=key.replace("m1", "m2"))
    ids = [r.message["Message-ID"] for r in smtp.received]
    assert ids == [first.provider_id, again.provider_id, other.provider_id]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].endswith("@example.com>") and "owner" not in ids[0]  # no address in it


async def test_an_smtp_5xx_for_the_recipient_fails_for_good(smtp: SmtpServer) -> None:
    smtp.handler.refuse.add("gone@example.org")
    mail = MailChannel(parse_smtp_url(smtp.url), "receptionist@example.com", timeout=5)
    delivery = await mail.send("gone@example.org", "s", "b")
    assert not delivery.sent and delivery.permanent and "550" in (delivery.error or "")


async def test_a_rejected_message_fails_for_good_without_the_address_in_the_reason(
    smtp: SmtpServer,
) -> None:
    smtp.handler.reject_data = "554 5.7.1 <owner@example.org>: Message rejected as spam"
    mail = MailChannel(parse_smtp_url(smtp.url), "receptionist@example.com", timeout=5)
    delivery = await mail.send("owner@example.org", "s", "b")
    assert not delivery.sent and delivery.permanent
    assert delivery.error is not None and "554" in delivery.error
    assert "owner@" not in delivery.error and "***@example.org" in delivery.error


async def test_smtp_down_is_retried_later() -> None:
    server = SmtpServer()  # never started: nothing listens on its port
    mail = MailChannel(parse_smtp_url(server.url), "receptionist@example.com", timeout=2)
    delivery = await mail.send("owner@example.org", "s", "b")
    assert not delivery.sent and not delivery.permanent
