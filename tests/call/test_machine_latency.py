"""Turn latency in the call machine: the caller's end of speech (the model's VAD) to the first
agent audio sent, recorded once per answering turn and saved with it."""

from __future__ import annotations

from app.call import actions as A
from app.call import events as E
from app.call.machine import CallMachine, MachineConfig

MS = 8


def started() -> CallMachine:
    m = CallMachine(MachineConfig(greeting_requested=True))
    m.handle(E.StreamStarted(1000, "MZ1", "CA1"))
    return m


def of(actions: list[A.Action], kind: type) -> list[A.Action]:
    return [a for a in actions if isinstance(a, kind)]


def test_an_answer_records_the_time_from_the_end_of_speech_to_its_first_audio() -> None:
    m = started()
    greeting = m.handle(E.AgentAudio(1050, "r0", "g", "AAAA", 100 * MS))
    assert not of(greeting, A.RecordTurnLatency)  # the greeting answered no speech
    m.handle(E.SpeechStarted(3000, "c1"))
    m.handle(E.SpeechStopped(4000, "c1"))
    m.handle(E.ResponseCreated(4100, "r1"))
    first = m.handle(E.AgentAudio(4450, "r1", "a1", "AAAA", 100 * MS))
    assert of(first, A.RecordTurnLatency) == [A.RecordTurnLatency(450)]
    assert first.index(A.RecordTurnLatency(450)) < [type(a) for a in first].index(A.PlayAudio)
    # Only the first audio of the answer counts.
    assert not of(m.handle(E.AgentAudio(4500, "r1", "a1", "AAAA", 100 * MS)), A.RecordTurnLatency)
    m.handle(E.AgentTranscriptDone(4600, "r1", "a1", "We are open."))
    m.handle(E.ResponseDone(4600, "r1", "completed", E.Usage()))
    saved = []
    for name in ("m1", "m2", "m3"):
        saved += of(m.handle(E.MarkPlayed(5000, name)), A.SaveTurn)
    answer = [s for s in saved if s.text == "We are open."]  # type: ignore[attr-defined]
    assert answer and answer[0].latency_ms == 450  # type: ignore[attr-defined]


def test_a_caller_who_speaks_again_restarts_the_clock() -> None:
    m = started()
    m.handle(E.SpeechStarted(2000, "c1"))
    m.handle(E.SpeechStopped(2500, "c1"))
    m.handle(E.SpeechStarted(2600, "c2"))  # more to say: no answer is due yet
    assert m._speech_stopped_ms is None
    m.handle(E.SpeechStopped(3000, "c2"))
    actions = m.handle(E.AgentAudio(3300, "r1", "a1", "AAAA", 80 * MS))
    assert of(actions, A.RecordTurnLatency) == [A.RecordTurnLatency(300)]


def test_a_second_turn_of_the_same_answer_is_not_timed_again() -> None:
    m = started()
    m.handle(E.SpeechStopped(2000, "c1"))
    assert of(m.handle(E.AgentAudio(2200, "r1", "a1", "AAAA", 80)), A.RecordTurnLatency)
    assert not of(m.handle(E.AgentAudio(2300, "r1", "a2", "AAAA", 80)), A.RecordTurnLatency)
