"""The fake Twilio caller's HTTP side: signed webhooks, and the TwiML it can run.

The peer is a tiny Twilio-facing service (tests/test_doubles/twilio_service.py).
"""

from __future__ import annotations

import pytest

from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.errors import CallerError
from tests.doubles.twilio_caller.twiml import parse_twiml
from tests.test_doubles.twilio_service import Service


async def test_webhook_is_signed_like_twilio_and_twiml_is_parsed(
    service: Service, caller: FakeTwilioCaller
) -> None:
    twiml = await caller.dial()
    params, valid = service.webhooks[-1]
    assert valid
    assert params["CallSid"] == caller.call_sid and params["CallSid"].startswith("CA")
    assert len(caller.call_sid) == 34
    assert params["AccountSid"] == "AC" + "0" * 32
    assert (params["From"], params["To"], params["Caller"], params["Called"]) == (
        "+15551230000",
        "+15559870000",
        "+15551230000",
        "+15559870000",
    )
    assert (params["CallStatus"], params["Direction"], params["ApiVersion"]) == (
        "ringing",
        "inbound",
        "2010-04-01",
    )
    assert (params["FromState"], params["FromCountry"]) == ("TX", "US")
    assert twiml.verbs == ("Connect",)
    assert twiml.stream_url == f"ws://127.0.0.1:{service.port}/twilio/stream"
    assert twiml.connect_action == f"{service.base_url}/twilio/stream-ended"
    assert twiml.parameters == {"token": "abc"}


async def test_webhook_without_or_with_a_wrong_signature_is_refused(
    service: Service, caller: FakeTwilioCaller
) -> None:
    assert (await caller.post_webhook(sign=False)).status_code == 403
    assert (await caller.post_webhook(signature="AAAA" + "=" * 24)).status_code == 403
    # the signature covers the params: changing one after signing breaks it
    good = caller.sign(service.base_url + "/twilio/incoming", caller.call_params())
    tampered = await caller.post_webhook(params={"From": "+15550000000"}, signature=good)
    assert tampered.status_code == 403
    assert [valid for _, valid in service.webhooks[-3:]] == [False, False, False]


def test_parse_twiml_rejects_what_twilio_cannot_run() -> None:
    with pytest.raises(CallerError):
        parse_twiml("<Hangup/>")
    with pytest.raises(CallerError):
        parse_twiml("<Response><Say>")
    twiml = parse_twiml("<Response><Say>Hi</Say><Hangup/></Response>")
    assert (twiml.verbs, twiml.stream_url, twiml.parameters) == (("Say", "Hangup"), None, {})
