"""The model ladder in the machine: when a call moves to the big model, how, and only once."""

from __future__ import annotations

from app.call import actions as A
from app.call import events as E
from app.call.ladder import BRIDGE_NOTE, STAYED_NOTE
from app.call.machine import CallMachine, MachineConfig

MS = 8


def on_ladder(escalation: bool = True) -> CallMachine:
    m = CallMachine(MachineConfig(greeting_requested=True, escalation=escalation))
    m.handle(E.StreamStarted(1000, "MZ1", "CA1"))
    m.handle(E.CallerTranscript(1100, "c1", "Can you explain my insurance claim?"))
    return m


def of(actions: list[A.Action], kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]


def tool(m: CallMachine, at: int, call_id: str, ok: bool, effect: str | None = None) -> list:
    m.handle(E.ResponseCreated(at, f"r_{call_id}"))
    m.handle(E.FunctionCallRequested(at, f"r_{call_id}", call_id, "lookup_hours", "{}"))
    m.handle(E.ResponseDone(at + 1, f"r_{call_id}", "completed", E.Usage()))
    return m.handle(E.ToolFinished(at + 2, call_id, "lookup_hours", ok, "{}", effect=effect))


def bridge(m: CallMachine, at: int) -> list:
    """The small model says the bridge line (all of it sent); the response ends."""
    m.handle(E.ResponseCreated(at, "r_bridge"))
    m.handle(E.AgentAudio(at + 1, "r_bridge", "i_bridge", "AAAA", 800 * MS))
    return m.handle(E.ResponseDone(at + 2, "r_bridge", "completed", E.Usage(output_tokens=7)))


def test_the_escalate_tool_opens_the_big_model_while_the_small_one_says_the_bridge_line() -> None:
    m = on_ladder()
    m.handle(E.ResponseDone(1050, "r0", "completed", E.Usage(output_tokens=100)))
    actions = tool(m, 2000, "call_1", True, effect="escalate")
    opened = of(actions, A.OpenEscalation)
    assert len(opened) == 1
    assert opened[0].history == (("caller", "Can you explain my insurance claim?"),)
    assert of(actions, A.CreateResponse) == [A.CreateResponse(BRIDGE_NOTE)]
    assert bridge(m, 2100) == []  # the big model is not ready yet: the line plays on
    switched = m.handle(E.EscalationReady(2300))
    assert switched == [A.SwitchModel("asked", 1300, ()), A.CreateResponse()]


def test_when_the_big_model_is_ready_first_it_takes_over_as_the_bridge_line_ends() -> None:
    m = on_ladder()
    tool(m, 2000, "call_1", True, effect="escalate")
    assert m.handle(E.EscalationReady(2050)) == []
    actions = bridge(m, 2100)
    assert of(actions, A.SwitchModel) == [A.SwitchModel("asked", 1102, ())]
    assert actions[-1] == A.CreateResponse()  # asked right away: its audio queues behind


def test_two_failed_tool_calls_move_the_call() -> None:
    m = on_ladder()
    assert not of(tool(m, 2000, "call_1", False), A.OpenEscalation)
    second = tool(m, 3000, "call_2", False)
    assert len(of(second, A.OpenEscalation)) == 1
    m.handle(E.EscalationReady(3100))
    assert of(bridge(m, 3200), A.SwitchModel)[0].reason == "tool_failures"


def test_a_call_moves_at_most_once() -> None:
    m = on_ladder()
    tool(m, 2000, "call_1", True, effect="escalate")
    m.handle(E.EscalationReady(2050))
    bridge(m, 2100)
    for n, at in enumerate((4000, 5000, 6000)):
        again = tool(m, at, f"again_{n}", n == 0, effect="escalate" if n == 0 else None)
        assert not of(again, A.OpenEscalation) and not of(again, A.SwitchModel)


def test_no_ladder_no_move() -> None:
    m = on_ladder(escalation=False)
    actions = tool(m, 2000, "call_1", True, effect="escalate")
    assert not of(actions, A.OpenEscalation)
    assert not of(tool(m, 3000, "c2", False) + tool(m, 4000, "c3", False), A.OpenEscalation)


def test_if_the_big_model_cannot_be_reached_the_small_one_carries_on() -> None:
    m = on_ladder()
    tool(m, 2000, "call_1", True, effect="escalate")
    bridge(m, 2100)
    stayed = m.handle(E.EscalationFailed(4200))
    assert stayed == [A.CreateResponse(STAYED_NOTE)]
    assert m.handle(E.EscalationReady(4300)) == []  # too late: no switch


def test_the_call_end_says_what_the_small_model_used() -> None:
    m = on_ladder()
    m.handle(E.ResponseDone(1050, "r0", "completed", E.Usage(output_tokens=100)))
    tool(m, 2000, "call_1", True, effect="escalate")
    m.handle(E.EscalationReady(2050))
    bridge(m, 2100)
    m.handle(E.ResponseCreated(2200, "r_big"))
    m.handle(E.ResponseDone(2300, "r_big", "completed", E.Usage(output_tokens=50)))
    [end] = of(m.handle(E.StreamStopped(3000)), A.EndCall)
    assert end.usage_before_switch == E.Usage(output_tokens=107)
    assert end.usage == E.Usage(output_tokens=157)


def test_speech_said_while_the_big_model_opened_is_handed_over() -> None:
    m = on_ladder()
    tool(m, 2000, "call_1", True, effect="escalate")
    m.handle(E.ResponseCreated(2100, "r_bridge"))
    m.handle(E.AgentAudio(2101, "r_bridge", "i_bridge", "AAAA", 800 * MS))
    m.handle(E.AgentAudioDone(2102, "r_bridge", "i_bridge"))
    m.handle(E.AgentTranscriptDone(2103, "r_bridge", "i_bridge", "One moment."))
    m.handle(E.ResponseDone(2104, "r_bridge", "completed", E.Usage()))
    m.handle(E.MarkPlayed(2900, "m1"))  # the bridge line was heard: it is history now
    [switch] = of(m.handle(E.EscalationReady(2950)), A.SwitchModel)
    assert switch.since == (("agent", "One moment."),)
