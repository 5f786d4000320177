"""Responses of several items (2.x models): a preamble, function calls and an answer, item by item."""

from __future__ import annotations

from app.call import actions as A
from app.call import events as E
from app.call.hold import HOLD_TONE_PAYLOAD
from app.call.machine import CallMachine, MachineConfig

MS = 8  # mu-law bytes per millisecond


def started() -> CallMachine:
    m = CallMachine(MachineConfig(greeting_requested=True))
    m.handle(E.StreamStarted(1000, "MZ1", "CA1"))
    return m


def audio(m: CallMachine, at: int, ms: int, item: str, resp: str = "r1") -> str:
    actions = m.handle(E.AgentAudio(at, resp, item, "AAAA", ms * MS))
    return [a for a in actions if isinstance(a, A.SendMark)][-1].name


def of(actions: list[A.Action], kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]


def test_barge_in_during_the_answer_truncates_the_answer_not_the_preamble() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    pre = audio(m, 1010, 300, "pre")
    m.handle(E.AgentAudioDone(1011, "r1", "pre"))
    m.handle(E.AgentTranscriptDone(1011, "r1", "pre", "Let me see."))
    audio(m, 1020, 200, "ans")
    second = audio(m, 1030, 200, "ans")
    audio(m, 1040, 200, "ans")
    m.handle(
        E.AgentTranscriptDelta(
            1040, "r1", "ans", "We open at nine on weekdays and ten on Saturdays."
        )
    )
    saved = m.handle(E.MarkPlayed(1320, pre))  # the preamble was heard whole: saved now
    m.handle(E.MarkPlayed(1720, second))  # then 400 ms of the answer's 600
    assert [t.text for t in of(saved, A.SaveTurn)] == ["Let me see."]
    actions = m.handle(E.SpeechStarted(1730, "c1"))
    assert of(actions, A.TruncateItem) == [A.TruncateItem("ans", 400)]
    turns = of(actions, A.SaveTurn)
    assert len(turns) == 1 and turns[0].interrupted
    assert turns[0].text.startswith("We open at nine")
    assert turns[0].seq > of(saved, A.SaveTurn)[0].seq  # both lines, in the order heard


def test_barge_in_during_the_preamble_truncates_it_and_drops_the_answer_not_yet_sent() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    first = audio(m, 1010, 200, "pre")
    audio(m, 1020, 200, "pre")
    m.handle(E.MarkPlayed(1215, first))
    actions = m.handle(E.SpeechStarted(1300, "c1"))
    assert of(actions, A.TruncateItem) == [A.TruncateItem("pre", 200)]
    assert of(actions, A.CancelResponse) == [A.CancelResponse()]
    # The answer item of the cancelled response arrives late: the caller must not hear it.
    assert m.handle(E.AgentAudio(1310, "r1", "ans", "AAAA", 800)) == []


def test_preamble_then_function_call_then_answer_keeps_both_lines() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    pre = audio(m, 1010, 300, "pre")
    m.handle(E.AgentTranscriptDone(1011, "r1", "pre", "One moment, let me check."))
    start = m.handle(E.FunctionCallRequested(1020, "r1", "call_1", "lookup_hours", "{}"))
    assert of(start, A.StartTool) == [A.StartTool("call_1", "lookup_hours", "{}")]
    m.handle(E.ResponseDone(1030, "r1", "completed", E.Usage()))
    saved = m.handle(E.MarkPlayed(1320, pre))
    assert [t.text for t in of(saved, A.SaveTurn)] == ["One moment, let me check."]
    done = m.handle(E.ToolFinished(1400, "call_1", "lookup_hours", True, '{"ok": true}'))
    assert of(done, A.SendFunctionOutput) and of(done, A.CreateResponse)


def test_the_hold_cue_never_plays_over_a_preamble() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    pre = audio(m, 1010, 1500, "pre")  # a long preamble, still playing at the hold deadline
    m.handle(E.FunctionCallRequested(1020, "r1", "call_1", "check_availability", "{}"))
    m.handle(E.ResponseDone(1030, "r1", "completed", E.Usage()))
    during = m.handle(E.Tick(2100))  # the tool's first hold deadline: the preamble plays on
    assert not [a for a in of(during, A.PlayAudio) if a.payload == HOLD_TONE_PAYLOAD]
    m.handle(E.MarkPlayed(2520, pre))
    deadline = m.next_deadline()
    assert deadline is not None
    after = m.handle(E.Tick(deadline))  # the tool still runs and the line is quiet: the cue
    assert [a for a in of(after, A.PlayAudio) if a.payload == HOLD_TONE_PAYLOAD]


def test_parallel_function_calls_answer_once_both_have_finished() -> None:
    m = started()
    m.handle(E.ResponseCreated(1000, "r1"))
    m.handle(E.FunctionCallRequested(1010, "r1", "call_1", "lookup_hours", "{}"))
    m.handle(E.FunctionCallRequested(1011, "r1", "call_2", "check_availability", "{}"))
    m.handle(E.ResponseDone(1020, "r1", "completed", E.Usage()))
    first = m.handle(E.ToolFinished(1100, "call_1", "lookup_hours", True, "{}"))
    assert of(first, A.SendFunctionOutput) and not of(first, A.CreateResponse)
    second = m.handle(E.ToolFinished(1200, "call_2", "check_availability", True, "{}"))
    assert of(second, A.SendFunctionOutput) and of(second, A.CreateResponse) == [A.CreateResponse()]
