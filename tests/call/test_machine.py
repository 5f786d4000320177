"""The call machine as plain synchronous tests: feed events, assert actions."""

from __future__ import annotations

import pytest

from app.call import actions as A
from app.call import events as E
from app.call.machine import CallMachine, MachineConfig, Phase

MS = 8  # mu-law bytes per millisecond


def started(greeting_requested: bool = True, **config: int) -> CallMachine:
    m = CallMachine(MachineConfig(greeting_requested=greeting_requested, **config))  # type: ignore[arg-type]
    m.handle(E.StreamStarted(1000, "MZ1", "CA1"))
    return m


def audio(m: CallMachine, at: int, ms: int, item: str = "i1", resp: str = "r1") -> str:
    """Feed an audio delta; returns the mark name the machine sent after it."""
    actions = m.handle(E.AgentAudio(at, resp, item, "AAAA", ms * MS))
    marks = [a for a in actions if isinstance(a, A.SendMark)]
    assert isinstance(actions[-2], A.PlayAudio)
    return marks[-1].name


def of(actions: list[A.Action], kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]


def test_stream_start_requests_greeting_unless_preopened_session_did() -> None:
    cold = CallMachine(MachineConfig(greeting_requested=False))
    assert cold.handle(E.StreamStarted(0, "MZ", "CA")) == [A.CreateResponse()]
    warm = CallMachine(MachineConfig(greeting_requested=True))
    assert warm.handle(E.StreamStarted(0, "MZ", "CA")) == []


def test_caller_audio_is_forwarded_untouched() -> None:
    m = started()
    assert m.handle(E.CallerAudio(1020, "//79")) == [A.ForwardAudio("//79")]


def test_first_agent_audio_records_greeting_latency_from_start() -> None:
    m = started()
    m.handle(E.ResponseCreated(1010, "r1"))
    actions = m.handle(E.AgentAudio(1042, "r1", "i1", "AAAA", 800))
    assert actions[0] == A.RecordGreeting(42)
    assert isinstance(actions[1], A.PlayAudio) and isinstance(actions[2], A.SendMark)
    later = m.handle(E.AgentAudio(1100, "r1", "i1", "AAAA", 800))
    assert not of(later, A.RecordGreeting)


def test_barge_in_clears_truncates_at_heard_position_and_cancels_active_response() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    m1 = audio(m, 1010, 200)
    audio(m, 1020, 200)
    audio(m, 1030, 200)
    m.handle(E.AgentTranscriptDelta(1030, "r1", "i1", "Hello there, how can I help you today?"))
    m.handle(E.MarkPlayed(1250, m1))  # 200 ms heard of 600 ms sent
    actions = m.handle(E.SpeechStarted(1300, "c1"))
    assert actions[0] == A.ClearAudio()
    assert of(actions, A.TruncateItem) == [A.TruncateItem("i1", 200)]
    assert of(actions, A.CancelResponse) == [A.CancelResponse()]
    turns = of(actions, A.SaveTurn)
    assert len(turns) == 1 and turns[0].interrupted and turns[0].speaker == "agent"
    assert turns[0].text == "Hello there"  # ~1/3 of the text, cut at a word end


def test_no_truncate_when_nothing_was_played_yet() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    audio(m, 1010, 300)
    actions = m.handle(E.SpeechStarted(1020, "c1"))
    assert A.ClearAudio() in actions
    assert of(actions, A.TruncateItem) == []
    assert of(actions, A.CancelResponse) == [A.CancelResponse()]


def test_truncate_never_exceeds_what_was_sent_and_is_skipped_when_all_was_heard() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    mark = audio(m, 1010, 300)
    m.handle(E.MarkPlayed(1400, mark))  # everything sent was heard; response still active
    actions = m.handle(E.SpeechStarted(1500, "c1"))
    assert of(actions, A.TruncateItem) == []
    assert of(actions, A.ClearAudio) == []  # nothing left in Twilio's buffer
    assert of(actions, A.CancelResponse) == [A.CancelResponse()]


def test_cancel_only_when_a_response_is_active() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    mark = audio(m, 1010, 300)
    m.handle(E.ResponseDone(1050, "r1", "completed", E.Usage()))
    actions = m.handle(E.SpeechStarted(1100, "c1"))  # audio still playing, response finished
    assert A.ClearAudio() in actions
    assert of(actions, A.CancelResponse) == []
    assert m.handle(E.MarkPlayed(1101, mark)) == []  # the cleared mark returns: nothing to do


def test_a_response_is_cancelled_once() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    audio(m, 1010, 300)
    assert of(m.handle(E.SpeechStarted(1100, "c1")), A.CancelResponse)
    assert of(m.handle(E.SpeechStarted(1200, "c2")), A.CancelResponse) == []


def test_late_audio_of_a_cancelled_response_is_dropped() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    audio(m, 1010, 300)
    m.handle(E.SpeechStarted(1100, "c1"))
    assert m.handle(E.AgentAudio(1110, "r1", "i1", "AAAA", 800)) == []
    m.handle(E.ResponseDone(1120, "r1", "cancelled", E.Usage()))
    m.handle(E.ResponseCreated(1130, "r2"))
    assert of(m.handle(E.AgentAudio(1140, "r2", "i2", "AAAA", 800)), A.PlayAudio)


def test_agent_turn_is_saved_whole_once_its_audio_was_heard() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    audio(m, 1010, 100)
    last = audio(m, 1020, 100)
    m.handle(E.AgentTranscriptDone(1030, "r1", "i1", "Hi, thanks for calling!"))
    assert of(m.handle(E.ResponseDone(1040, "r1", "completed", E.Usage())), A.SaveTurn) == []
    actions = m.handle(E.MarkPlayed(1220, last))
    assert of(actions, A.SaveTurn) == [A.SaveTurn(0, "agent", "Hi, thanks for calling!", False, 10)]


def test_caller_turn_keeps_its_place_when_transcription_arrives_late() -> None:
    m = started()
    m.handle(E.SpeechStarted(2000, "c1"))
    m.handle(E.SpeechStopped(3000, "c1"))
    m.handle(E.ResponseCreated(3100, "r1"))
    mark = audio(m, 3200, 100, item="a1")
    m.handle(E.AgentTranscriptDone(3210, "r1", "a1", "Sure."))
    m.handle(E.ResponseDone(3220, "r1", "completed", E.Usage()))
    agent = of(m.handle(E.MarkPlayed(3400, mark)), A.SaveTurn)
    caller = of(m.handle(E.CallerTranscript(3500, "c1", " Can I book? ")), A.SaveTurn)
    assert caller == [A.SaveTurn(0, "caller", "Can I book?", False, 1000)]
    assert agent[0].seq == 1


def test_blank_caller_transcripts_are_not_saved() -> None:
    m = started()
    m.handle(E.SpeechStarted(2000, "c1"))
    assert m.handle(E.CallerTranscript(2500, "c1", "  ")) == []


def test_function_call_runs_as_a_tool_and_its_output_goes_back_with_a_new_response() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    actions = m.handle(E.FunctionCallRequested(1100, "r1", "call_1", "lookup_hours", "{}"))
    assert actions == [A.StartTool("call_1", "lookup_hours", "{}")]
    m.handle(E.ResponseDone(1110, "r1", "completed", E.Usage()))
    done = m.handle(E.ToolFinished(1300, "call_1", "lookup_hours", True, '{"ok":true}'))
    assert of(done, A.SaveToolCall)[0].duration_ms == 200
    assert done[-2:] == [A.SendFunctionOutput("call_1", '{"ok":true}'), A.CreateResponse()]


def test_tool_output_waits_for_the_active_response_to_finish_before_response_create() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    m.handle(E.FunctionCallRequested(1100, "r1", "call_1", "lookup_hours", "{}"))
    done = m.handle(E.ToolFinished(1150, "call_1", "lookup_hours", True, "{}"))
    assert of(done, A.SendFunctionOutput) and not of(done, A.CreateResponse)
    after = m.handle(E.ResponseDone(1200, "r1", "completed", E.Usage()))
    assert of(after, A.CreateResponse) == [A.CreateResponse()]


def test_function_call_of_a_cancelled_response_is_not_run() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    audio(m, 1010, 100)
    m.handle(E.SpeechStarted(1050, "c1"))
    assert m.handle(E.FunctionCallRequested(1100, "r1", "call_1", "book_appointment", "{")) == []


def test_slow_tool_is_covered_by_a_hold_tone_after_a_second() -> None:
    m = started(hold_tone_after_ms=1000)
    m.handle(E.FunctionCallRequested(2000, "r1", "call_1", "check_availability", "{}"))
    assert m.next_deadline() == 3000
    assert m.handle(E.Tick(2500)) == []
    actions = m.handle(E.Tick(3000))
    assert of(actions, A.PlayAudio) and of(actions, A.SendMark)


def test_stream_stop_ends_the_call_and_saves_the_heard_part_of_a_playing_turn() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    mark = audio(m, 1010, 100)
    audio(m, 1020, 100)
    m.handle(E.AgentTranscriptDelta(1020, "r1", "i1", "One two three four"))
    m.handle(E.ResponseDone(1100, "r1", "completed", E.Usage(output_tokens=20)))
    m.handle(E.MarkPlayed(1120, mark))
    # The audio played from 1010 on; the stop at 1135 came 125 ms into its 200.
    actions = m.handle(E.StreamStopped(1135))
    turn = of(actions, A.SaveTurn)[0]
    assert turn.interrupted and turn.text == "One two"
    end = of(actions, A.EndCall)[0]
    assert end.reason == "caller_hangup" and end.usage.output_tokens == 20
    assert m.phase is Phase.ENDED
    assert m.handle(E.CallerAudio(1300, "AAAA")) == []


def test_usage_is_summed_over_responses() -> None:
    m = started()
    m.handle(E.ResponseDone(1100, "r1", "completed", E.Usage(10, 20, 5, 15, 1)))
    m.handle(E.ResponseDone(1200, "r2", "completed", E.Usage(1, 2, 3, 4, 5)))
    end = of(m.handle(E.StreamStopped(1300)), A.EndCall)[0]
    assert end.usage == E.Usage(11, 22, 8, 19, 6)


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([], "abandoned"),
        ([("message_taken", {"message_id": "m"}), ("booked", {"appointment_id": "a"})], "booked"),
        ([("booked", {"appointment_id": "a"}), ("message_taken", {})], "booked"),
    ],
)
def test_the_strongest_outcome_wins(outcomes: list, expected: str) -> None:
    m = started()
    for n, (outcome, detail) in enumerate(outcomes):
        m.handle(E.FunctionCallRequested(1100, "r1", f"c{n}", "t", "{}"))
        m.handle(E.ToolFinished(1200, f"c{n}", "t", True, "{}", (outcome, detail)))
    assert of(m.handle(E.StreamStopped(1300)), A.EndCall)[0].outcome == expected


def test_end_call_tool_ends_after_the_goodbye_has_been_heard() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    m.handle(E.FunctionCallRequested(1100, "r1", "c1", "end_call", '{"reason":"done"}'))
    m.handle(E.ResponseDone(1110, "r1", "completed", E.Usage()))
    done = m.handle(E.ToolFinished(1120, "c1", "end_call", True, "{}", None, "end_call"))
    assert of(done, A.CreateResponse)
    m.handle(E.ResponseCreated(1130, "r2"))
    mark = audio(m, 1140, 500, item="bye", resp="r2")
    assert of(m.handle(E.ResponseDone(1150, "r2", "completed", E.Usage())), A.EndCall) == []
    end = of(m.handle(E.MarkPlayed(1650, mark)), A.EndCall)
    assert end and end[0].reason == "agent_hangup"


def test_a_reply_heard_to_the_end_is_saved_whole_when_the_caller_hangs_up_before_its_last_mark() -> (
    None
):
    """The stop can overtake the last mark: Twilio played on in real time, so it was heard."""
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    first = audio(m, 1010, 200)
    audio(m, 1020, 200)
    m.handle(E.AgentTranscriptDelta(1020, "r1", "i1", "See you on Monday."))
    m.handle(E.AgentTranscriptDone(1030, "r1", "i1", "See you on Monday."))
    m.handle(E.ResponseDone(1040, "r1", "completed", E.Usage()))
    m.handle(E.MarkPlayed(1250, first))  # the second mark never comes back
    actions = m.handle(E.StreamStopped(1460))
    [turn] = of(actions, A.SaveTurn)
    assert turn.text == "See you on Monday." and not turn.interrupted


def test_a_hang_up_right_after_the_audio_was_sent_saves_none_of_it() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    audio(m, 1010, 300)
    m.handle(E.AgentTranscriptDelta(1010, "r1", "i1", "Thanks for calling."))
    assert of(m.handle(E.StreamStopped(1010)), A.SaveTurn) == []


def test_a_refused_model_hands_the_caller_to_a_person_at_once() -> None:
    m = started()
    actions = m.handle(E.ModelRefused(1100, "model_not_found", "no access"))
    end = of(actions, A.EndCall)
    assert len(end) == 1 and end[0].reason == "model_failure" and end[0].handoff == "human"
    assert not of(actions, A.ReconnectModel)
