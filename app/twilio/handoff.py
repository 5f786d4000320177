"""TwiML for the moments the agent is not (or no longer) the one talking to the caller."""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from app.config import Settings

SORRY_BROKEN = "Sorry, something went wrong on our side."
TO_HUMAN = " Let me put you through to a member of our team."
NO_HUMAN = (
    " Please call back in a few minutes, or leave your details with us another way. "
    "We're sorry for the trouble. Goodbye."
)
NOBODY_ANSWERED = "Sorry, nobody could take your call right now. Please try again later. Goodbye."


def to_human(settings: Settings, message: str) -> VoiceResponse:
    """An apology, then a plain <Dial> to the human, or a spoken goodbye when there is none."""
    response = VoiceResponse()
    if settings.human_transfer_number:
        response.say((message + TO_HUMAN).strip())
        response.dial(
            settings.human_transfer_number, caller_id=settings.twilio_phone_number, timeout=20
        )
        response.say(NOBODY_ANSWERED)
    else:
        response.say((message + NO_HUMAN).strip())
    response.hangup()
    return response


def hang_up() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response


def warm_transfer(
    settings: Settings, base: str, call_sid: str, disclose_recording: bool = False
) -> VoiceResponse:
    """<Dial> the human; the whisper plays the summary to them before the caller is bridged.

    `base` is the call's base URL (with its Machine on a Fly fleet). The URLs are absolute
    because this TwiML replaces the call's through REST and has no document URL to resolve a
    relative one against. The <Dial action> carries the call's disclosure decision, so the agent
    the caller comes back to after an unanswered transfer tells them the same (Twilio signs the
    whole URL, query included).
    """
    assert settings.human_transfer_number is not None
    query = urlencode({"call": call_sid})
    done = {"call": call_sid, **({"disclose": "1"} if disclose_recording else {})}
    response = VoiceResponse()
    dial = Dial(
        action=f"{base}/twilio/transfer/done?{urlencode(done)}",
        timeout=20,
        caller_id=settings.twilio_phone_number,
    )
    dial.number(settings.human_transfer_number, url=f"{base}/twilio/transfer/whisper?{query}")
    response.append(dial)
    return response


def connect_stream(
    base: str, ws_base: str, token: str, parameters: dict[str, str]
) -> VoiceResponse:
    """<Connect action=stream-ended><Stream> with the call's context as <Parameter>s."""
    response = VoiceResponse()
    connect = Connect(action=f"{base}/twilio/stream-ended")
    stream = connect.stream(url=f"{ws_base}/twilio/stream")
    stream.parameter(name="token", value=token)
    for name, value in parameters.items():
        if value:
            stream.parameter(name=name, value=value[:200])  # Twilio: values under 500 chars
    response.append(connect)
    return response


# Said to the person a recorded call is put through to (CALL_RECORDING=on): the recording goes
# on through the transfer, so they are a party to a recorded call too.
RECORDED = " This call is recorded."


def whisper_text(caller: str | None, reason: str, summary: str, *, recorded: bool = False) -> str:
    """What the person who answers a transfer hears before the caller is put through (the dev
    phone shows the same words)."""
    caller = caller or "a withheld number"
    spoken_number = " ".join(caller) if caller.startswith("+") else caller
    return (
        f"Incoming call from the receptionist. The caller's number is {spoken_number}. "
        f"They are calling about: {reason or 'they asked for a person'}. "
        f"{summary or 'No summary was given.'}{RECORDED if recorded else ''} Connecting you now."
    )


def whisper(summary: str) -> VoiceResponse:
    response = VoiceResponse()
    response.say(summary)
    return response
