"""The consent gate: the recording starts once the disclosure has been heard, never before."""

from __future__ import annotations

from decimal import Decimal

from app.recording.consent import ConsentGate, Step
from app.recording.pricing import recording_cost


def test_the_disclosure_heard_starts_the_recording_once() -> None:
    gate = ConsentGate()
    said = "Thanks for calling. Just so you know, this call is recorded and I'm an AI assistant."
    assert gate.agent_turn(said) is Step.START
    assert gate.agent_turn("Anything else?") is Step.NONE
    assert gate.agent_turn(said) is Step.NONE


def test_a_greeting_cut_off_before_the_disclosure_asks_for_it_once() -> None:
    gate = ConsentGate()
    assert gate.agent_turn("Thanks for calling. Just so") is Step.REMIND
    assert gate.agent_turn("Sure, we open at nine.") is Step.NONE
    assert gate.agent_turn("Before we go on: this call is being recorded.") is Step.START


def test_words_that_only_look_alike_are_not_consent() -> None:
    gate = ConsentGate()
    assert gate.agent_turn("Our records show an appointment; I'm a recorder fan.") is Step.REMIND
    assert not gate.given


def test_recording_cost_is_by_the_minute_rounded_up() -> None:
    assert recording_cost(0) == Decimal("0")
    assert recording_cost(1) == Decimal("0.0025")
    assert recording_cost(60) == Decimal("0.0025")
    assert recording_cost(61) == Decimal("0.0050")


def test_with_recording_on_every_caller_is_told_whatever_the_disclosure_policy() -> None:
    from app.config import load_settings
    from app.twilio.disclosure import must_disclose

    off = load_settings(_env_file=None, call_recording="off", recording_disclosure="never")
    on = load_settings(_env_file=None, call_recording="on", recording_disclosure="never")
    auto = load_settings(_env_file=None)
    assert not off.call_recording and on.call_recording and not auto.call_recording
    assert auto.recording_retention_days == 30
    assert not must_disclose(off, "CA")
    assert must_disclose(on, "TX") and must_disclose(on, None)
    assert must_disclose(auto, "CA") and not must_disclose(auto, "TX")
