"""The machine where events race: responses requested but not yet created, refused creates,
tools that outlive the call. Plain synchronous tests over the exact server events."""

from __future__ import annotations

import orjson

from app.call import actions as A
from app.call import events as E
from app.call.machine import CallMachine, MachineConfig
from app.wire.realtime import parse_server_event

MS = 8

# The exact error the Realtime API sends for a response.create while a response is active.
ACTIVE_RESPONSE_ERROR = {
    "type": "error",
    "event_id": "event_C1",
    "error": {
        "type": "invalid_request_error",
        "code": "conversation_already_has_active_response",
        "message": "Conversation already has an active response in progress: resp_S1. Wait "
        "until the response is finished before creating a new one.",
        "param": None,
        "event_id": "event_client_7",
    },
}


def started() -> CallMachine:
    m = CallMachine(MachineConfig(greeting_requested=True))
    m.handle(E.StreamStarted(1000, "MZ1", "CA1"))
    return m


def of(actions: list[A.Action], kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]


def _tool_result_waiting_for_a_response() -> CallMachine:
    """A tool finished with no response active: the machine asked for one (response.create)."""
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    m.handle(E.FunctionCallRequested(1100, "r1", "call_1", "lookup_hours", "{}"))
    m.handle(E.ResponseDone(1110, "r1", "completed", E.Usage()))
    done = m.handle(E.ToolFinished(1300, "call_1", "lookup_hours", True, '{"ok":true}'))
    assert done[-1] == A.CreateResponse()
    return m


def test_speech_between_response_create_and_created_cancels_the_response() -> None:
    m = _tool_result_waiting_for_a_response()
    assert m.agent_speaking  # requested: the agent is about to speak
    m.handle(E.SpeechStarted(1320, "c1"))
    assert m.handle(E.ResponseCreated(1340, "r2")) == [A.CancelResponse()]
    # Its audio never reaches the caller: they were speaking first.
    assert m.handle(E.AgentAudio(1350, "r2", "i2", "AAAA", 100 * MS)) == []


def test_a_response_created_without_speech_is_not_cancelled() -> None:
    m = _tool_result_waiting_for_a_response()
    assert m.handle(E.ResponseCreated(1340, "r2")) == []
    assert of(m.handle(E.AgentAudio(1350, "r2", "i2", "AAAA", 100 * MS)), A.PlayAudio)


def test_the_exact_active_response_error_parses_with_its_code() -> None:
    event = parse_server_event(orjson.dumps(ACTIVE_RESPONSE_ERROR), 1400)
    assert isinstance(event, E.ModelError)
    assert event.code == "conversation_already_has_active_response"


def test_a_refused_response_create_is_sent_again_once_the_active_response_is_done() -> None:
    m = _tool_result_waiting_for_a_response()
    # The server's own VAD response started first, and our create was refused.
    assert m.handle(E.ResponseCreated(1310, "vad1")) == []
    refused = parse_server_event(orjson.dumps(ACTIVE_RESPONSE_ERROR), 1320)
    assert refused is not None
    assert m.handle(refused) == []
    after = m.handle(E.ResponseDone(2000, "vad1", "completed", E.Usage()))
    assert of(after, A.CreateResponse) == [A.CreateResponse()]


def test_a_refused_create_keeps_its_note() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    m.handle(E.ResponseDone(1200, "r1", "completed", E.Usage()))
    asked = m.handle(E.DtmfPressed(1300, "0"))
    [create] = of(asked, A.CreateResponse)
    assert create.note
    m.handle(E.ResponseCreated(1310, "vad1"))
    m.handle(E.ModelError(1320, "conversation_already_has_active_response", "busy"))
    after = m.handle(E.ResponseDone(2000, "vad1", "completed", E.Usage()))
    assert of(after, A.CreateResponse) == [create]


def test_other_model_errors_change_nothing() -> None:
    m = _tool_result_waiting_for_a_response()
    assert m.handle(E.ModelError(1320, "invalid_value", "bad")) == []
    assert m.agent_speaking


def test_a_booking_in_flight_at_hang_up_is_recorded_with_its_real_result() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    m.handle(E.FunctionCallRequested(1100, "r1", "call_b", "book_appointment", '{"x":1}'))
    ended = m.handle(E.StreamStopped(1200))
    [end] = of(ended, A.EndCall)
    assert end.reason == "caller_hangup" and not of(ended, A.SaveToolCall)
    assert m.pending_tools
    booked = ("booked", {"appointment_id": "apt_1"})
    late = m.handle(E.ToolFinished(3000, "call_b", "book_appointment", True, '{"ok":true}', booked))
    [row] = of(late, A.SaveToolCall)
    assert row.ok and row.output == '{"ok":true}' and row.duration_ms == 1900
    assert of(late, A.SaveOutcome) == [A.SaveOutcome("booked", {"appointment_id": "apt_1"})]
    assert not m.pending_tools


def test_a_tool_that_never_reports_after_the_end_is_recorded_as_failed() -> None:
    m = started()
    m.handle(E.FunctionCallRequested(1100, "r1", "call_m", "take_message", "{}"))
    m.handle(E.StreamStopped(1200))
    [row] = of(m.abandon_tools(9000), A.SaveToolCall)
    assert not row.ok and "call_ended" in row.output
    assert not m.pending_tools


def test_after_the_end_only_tool_results_are_handled() -> None:
    m = started()
    m.handle(E.StreamStopped(1200))
    assert m.handle(E.SpeechStarted(1300, "c1")) == []
    assert m.handle(E.ToolFinished(1400, "unknown", "lookup_hours", True, "{}")) == []
