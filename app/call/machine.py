"""The call's state machine: events in, actions out. No I/O, no clock, no asyncio.

It is longer than 400 lines on purpose: one machine whose handlers share its state (phase,
playback, transcript, tools, the response in flight); split across modules they would reach into
each other's fields. What the agent is told to say lives in app/call/notes.py.

The driver stamps every event with `at_ms` (its monotonic clock), feeds it to `handle`, carries
out the returned actions in order, and wakes the machine with a `Tick` at `next_deadline()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, assert_never

from app.call import actions as A
from app.call import events as E
from app.call.hold import HOLD_TONE_BYTES, HOLD_TONE_PAYLOAD
from app.call.ladder import BRIDGE_NOTE, STAYED_NOTE, Ladder
from app.call.notes import (
    CAP_GOODBYE,
    DTMF_ZERO,
    IDLE_GOODBYE,
    IDLE_PROMPT,
    RECONNECTED,
    SHUTDOWN_GOODBYE,
    WRAP_UP_NOTE,
)
from app.call.playback import Playback
from app.call.transcript import AgentTurn, Transcript, heard_part

# Outcomes, strongest first: a call that booked and then left a message counts as booked.
OUTCOME_RANK = (
    "transferred",
    "booked",
    "message_taken",
    "transfer_failed",
    "info_provided",
    "no_resolution",
    "abandoned",
)
INFO_TOOLS = frozenset({"lookup_hours", "check_availability"})

RESPONSE_WAIT_MS = 5_000  # how long a requested response may take to start
# The server refused our response.create because its own (VAD) response is active.
ACTIVE_RESPONSE_ERROR = "conversation_already_has_active_response"
MAX_CREATE_RETRIES = 3


class Phase(Enum):
    LIVE = "live"
    ENDING = "ending"  # a goodbye is playing; the call ends when it has been heard
    TRANSFERRING = "transferring"  # the announcement is playing; then the transfer starts
    HANDED_OFF = "handed_off"  # Twilio REST took the call away from the stream
    ENDED = "ended"


@dataclass(frozen=True)
class MachineConfig:
    max_call_ms: int = 600_000
    wrap_up_before_ms: int = 30_000
    goodbye_grace_ms: int = 15_000  # a goodbye that never finishes still ends the call
    idle_prompt_ms: int = 10_000
    idle_hangup_ms: int = 10_000
    hold_tone_after_ms: int = 1_000
    hold_tone_every_ms: int = 2_500
    max_model_reconnects: int = 1
    escalation: bool = False  # the model ladder is on (OPENAI_ESCALATION_MODEL)
    greeting_requested: bool = False  # the pre-opened session already asked for the greeting
    # A call that comes back to the agent (a transfer nobody answered) carries on its record:
    first_seq: int = 0
    offset_base_ms: int = 0
    history: tuple[tuple[str, str], ...] = ()
    initial_outcome: tuple[str, dict[str, Any]] | None = None


@dataclass
class _Tool:
    name: str
    arguments: str
    started_ms: int
    next_tone_ms: int


@dataclass
class CallMachine:
    config: MachineConfig = field(default_factory=MachineConfig)
    phase: Phase = Phase.LIVE
    stream_sid: str | None = None
    start_ms: int | None = None
    greeting_ms: int | None = None
    active_response: str | None = None
    cancelled: set[str] = field(default_factory=set)
    playback: Playback = field(default_factory=Playback)
    transcript: Transcript = field(default_factory=Transcript)
    usage: E.Usage = field(default_factory=E.Usage)
    end_reason: str | None = None
    outcome: tuple[str, dict[str, Any]] | None = None
    transfer: tuple[str, str] | None = None
    _tools: dict[str, _Tool] = field(default_factory=dict)
    _create_after_response: str | None = None
    _create_pending: bool = False
    _response_turns: dict[str, list[str]] = field(default_factory=dict)
    _last_activity_ms: int = 0
    _idle_prompted: bool = False
    _wrap_up_sent: bool = False
    _ending_since_ms: int | None = None
    _reconnects: int = 0
    _model_up: bool = True
    _caller_spoke: bool = False
    _tool_ok_names: set[str] = field(default_factory=set)
    _awaiting_response_since: int | None = None
    _last_create_note: str | None = None
    _cancel_when_created: bool = False  # the caller spoke while our response was being created
    _create_retries: int = 0
    ladder: Ladder = field(default_factory=Ladder)
    _speech_stopped_ms: int | None = None  # the caller's end of speech, not yet answered

    def __post_init__(self) -> None:
        self.transcript = Transcript(self.config.first_seq, history=list(self.config.history))
        self.outcome = self.config.initial_outcome
        self.ladder = Ladder(enabled=self.config.escalation)

    # --- public ----------------------------------------------------------------------------

    def handle(self, event: E.Event) -> list[A.Action]:
        if self.phase is Phase.ENDED:
            # Only a tool still running when the call ended has something left to record.
            return self._late_tool_finished(event) if isinstance(event, E.ToolFinished) else []
        actions = self._handle(event)
        for action in actions:
            if isinstance(action, A.CreateResponse):
                # Until the model confirms the response, the agent counts as about to speak.
                self._awaiting_response_since = event.at_ms
                self._last_create_note = action.note
                self._cancel_when_created = False
        return actions

    @property
    def pending_tools(self) -> bool:
        """Tools are still running (after the call ended: their results are still to record)."""
        return bool(self._tools)

    def abandon_tools(self, at_ms: int) -> list[A.Action]:
        """Record the tools that never reported back after the call ended, as failed."""
        actions: list[A.Action] = [
            A.SaveToolCall(
                call_id,
                tool.name,
                tool.arguments,
                '{"ok": false, "error": "call_ended"}',
                False,
                at_ms - tool.started_ms,
                self._offset(tool.started_ms),
            )
            for call_id, tool in self._tools.items()
        ]
        self._tools.clear()
        return actions

    def _handle(self, event: E.Event) -> list[A.Action]:
        match event:
            case E.CallerAudio():
                # The hot path: forward untouched, unless the model socket is being replaced.
                return [A.ForwardAudio(event.payload)] if self._model_up else []
            case E.AgentAudio():
                return self._agent_audio(event)
            case E.StreamStarted():
                return self._stream_started(event)
            case E.MarkPlayed():
                return self._mark_played(event)
            case E.DtmfPressed():
                return self._dtmf(event)
            case E.StreamStopped():
                # Twilio played on until the stream stopped: what it played was heard, even
                # where its marks did not make it back before the stop.
                self.playback.settle(event.at_ms)
                return self._end(event.at_ms, self.end_reason or "caller_hangup")
            case E.SpeechStarted():
                return self._speech_started(event)
            case E.SpeechStopped():
                self._activity(event.at_ms)
                self._speech_stopped_ms = event.at_ms
                return []
            case E.CallerTranscript():
                return self._caller_transcript(event)
            case E.ResponseCreated():
                return self._response_created(event)
            case E.AgentTranscriptDelta():
                turn = self.transcript.agent.get(event.item_id)
                if turn is not None and not turn.text_done:
                    turn.text += event.delta
                return []
            case E.AgentAudioDone():
                return self._agent_audio_done(event)
            case E.AgentTranscriptDone():
                return self._agent_transcript_done(event)
            case E.FunctionCallRequested():
                return self._function_call(event)
            case E.ResponseDone():
                return self._response_done(event)
            case E.ModelError():
                return self._model_error(event)
            case E.ModelRefused():
                # Like an outage no reconnect can mend: the caller goes to a person now.
                self._model_up = False
                return self._end(event.at_ms, "model_failure", handoff="human")
            case E.ModelDisconnected():
                return self._model_disconnected(event)
            case E.ModelReconnected():
                self._model_up = True
                return self._respond(event.at_ms, RECONNECTED)
            case E.EscalationReady():
                self.ladder.ready = True
                return self._maybe_switch(event.at_ms)
            case E.EscalationFailed():
                self.ladder.failed = True
                live = self.phase is Phase.LIVE
                return self._respond(event.at_ms, STAYED_NOTE) if live else []
            case E.ToolFinished():
                return self._tool_finished(event)
            case E.TransferFailed():
                return self._transfer_failed(event)
            case E.Tick():
                return self._tick(event.at_ms)
            case E.Shutdown():
                return self._goodbye(event.at_ms, "shutdown", SHUTDOWN_GOODBYE)
            case _:
                assert_never(event)

    def next_deadline(self) -> int | None:
        """When the driver must send a Tick (ms on the driver's clock), if ever."""
        if self.start_ms is None or self.phase in (Phase.ENDED, Phase.HANDED_OFF):
            return None
        deadlines = [self.start_ms + self.config.max_call_ms]
        if not self._wrap_up_sent:
            deadlines.append(
                self.start_ms + self.config.max_call_ms - self.config.wrap_up_before_ms
            )
        if self._ending_since_ms is not None:
            deadlines.append(self._ending_since_ms + self.config.goodbye_grace_ms)
        deadlines.extend(t.next_tone_ms for t in self._tools.values())
        idle = self._idle_deadline()
        if idle is not None:
            deadlines.append(idle)
        if self._awaiting_response_since is not None:
            deadlines.append(self._awaiting_response_since + RESPONSE_WAIT_MS)
        return min(deadlines)

    @property
    def accepts_caller_audio(self) -> bool:
        """Read-only: caller audio goes to the model now (what `handle(CallerAudio)` decides)."""
        return self._model_up and self.phase is not Phase.ENDED

    @property
    def agent_speaking(self) -> bool:
        return (
            self.active_response is not None
            or self.playback.playing
            or self._awaiting_response_since is not None
        )

    # --- Twilio events ---------------------------------------------------------------------

    def _stream_started(self, event: E.StreamStarted) -> list[A.Action]:
        self.stream_sid = event.stream_sid
        self.start_ms = event.at_ms
        self._last_activity_ms = event.at_ms
        if self.config.greeting_requested:
            return []
        return [A.CreateResponse()]

    def _offset(self, at_ms: int) -> int:
        since_start = at_ms - (self.start_ms if self.start_ms is not None else at_ms)
        return self.config.offset_base_ms + max(0, since_start)

    def _mark_played(self, event: E.MarkPlayed) -> list[A.Action]:
        item_id = self.playback.acknowledged(event.name)
        actions: list[A.Action] = []
        if item_id is not None:
            turn = self.transcript.agent.get(item_id)
            if turn is not None and turn.audio_done and not self.playback.item_playing(item_id):
                actions += self._finish_agent_turn(turn, interrupted=False)
        if not self.agent_speaking:
            self._activity(event.at_ms, caller=False)
            actions += self._after_speech(event.at_ms)
        return actions

    def _dtmf(self, event: E.DtmfPressed) -> list[A.Action]:
        self._activity(event.at_ms)
        if event.digit != "0" or self.phase is not Phase.LIVE:
            return []
        return self._interrupt(event.at_ms) + self._respond(event.at_ms, DTMF_ZERO)

    # --- model events ----------------------------------------------------------------------

    def _speech_started(self, event: E.SpeechStarted) -> list[A.Action]:
        self._activity(event.at_ms)
        self._caller_spoke = True
        self._speech_stopped_ms = None  # the caller speaks again: the answer is still to come
        self.transcript.caller_began(event.item_id, self._offset(event.at_ms))
        return self._interrupt(event.at_ms)

    def _interrupt(self, at_ms: int) -> list[A.Action]:
        """Barge-in: stop the agent at what the caller actually heard."""
        actions: list[A.Action] = []
        if self.playback.playing:
            actions.append(A.ClearAudio())
            for turn in self._unfinished_agent_turns():
                heard = self.playback.heard_ms(turn.item_id)
                sent = self.playback.sent_ms(turn.item_id)
                # Marks are the truth: truncate at the heard position, never past what was sent,
                # and not at all when nothing of the item was played.
                if 0 < heard < sent:
                    actions.append(A.TruncateItem(turn.item_id, heard))
            self.playback.clear(at_ms)
        if self.active_response is not None and self.active_response not in self.cancelled:
            actions.append(A.CancelResponse())
            self.cancelled.add(self.active_response)
        elif self._awaiting_response_since is not None:
            # Requested but not created yet: cancel it the moment it exists.
            self._cancel_when_created = True
            self._awaiting_response_since = None
        for turn in self._unfinished_agent_turns():
            # A complete item heard to its end (a preamble) was not interrupted by this.
            heard_all = self.playback.heard_ms(turn.item_id) >= self.playback.sent_ms(turn.item_id)
            actions += self._finish_agent_turn(
                turn, interrupted=not (turn.audio_done and heard_all)
            )
        return actions

    def _caller_transcript(self, event: E.CallerTranscript) -> list[A.Action]:
        turn = self.transcript.caller.get(event.item_id) or self.transcript.caller_began(
            event.item_id, self._offset(event.at_ms)
        )
        text = event.text.strip()
        if not text:
            return []
        self._caller_spoke = True
        self.transcript.note("caller", text)
        return [A.SaveTurn(turn.seq, "caller", text, False, turn.offset_ms)]

    def _agent_audio(self, event: E.AgentAudio) -> list[A.Action]:
        if event.response_id in self.cancelled or self.phase is Phase.HANDED_OFF:
            return []  # late audio of an interrupted response: the caller must not hear it
        actions: list[A.Action] = []
        if self.greeting_ms is None and self.start_ms is not None:
            self.greeting_ms = event.at_ms - self.start_ms
            actions.append(A.RecordGreeting(self.greeting_ms))
        turn = self.transcript.agent.get(event.item_id)
        if turn is None:
            turn = self.transcript.agent_began(event.item_id, self._offset(event.at_ms))
            self._response_turns.setdefault(event.response_id, []).append(event.item_id)
            if self._speech_stopped_ms is not None:
                # Turn latency: the audio is sent to the caller in the actions below.
                turn.latency_ms = max(0, event.at_ms - self._speech_stopped_ms)
                self._speech_stopped_ms = None
                actions.append(A.RecordTurnLatency(turn.latency_ms))
        mark = self.playback.sent(event.item_id, event.nbytes, event.at_ms)
        actions += [A.PlayAudio(event.payload), A.SendMark(mark)]
        return actions

    def _agent_audio_done(self, event: E.AgentAudioDone) -> list[A.Action]:
        """One item of a response is complete (a preamble before the answer): once its
        transcript is in too, it is saved when heard, without waiting for the response's end."""
        turn = self.transcript.agent.get(event.item_id)
        if turn is None or turn.seq < 0:
            return []
        turn.audio_sent_all = True
        turn.audio_done = turn.audio_done or turn.text_done
        if turn.audio_done and not self.playback.item_playing(turn.item_id):
            return self._finish_agent_turn(turn, interrupted=False)
        return []

    def _agent_transcript_done(self, event: E.AgentTranscriptDone) -> list[A.Action]:
        turn = self.transcript.agent.get(event.item_id)
        if turn is None or turn.seq < 0:
            return []
        turn.text = event.text
        turn.text_done = True
        turn.audio_done = turn.audio_done or turn.audio_sent_all
        if turn.audio_done and not self.playback.item_playing(turn.item_id):
            return self._finish_agent_turn(turn, interrupted=False)
        return []

    def _function_call(self, event: E.FunctionCallRequested) -> list[A.Action]:
        if event.response_id in self.cancelled or event.call_id in self._tools:
            return []
        next_tone = event.at_ms + self.config.hold_tone_after_ms
        self._tools[event.call_id] = _Tool(event.name, event.arguments, event.at_ms, next_tone)
        return [A.StartTool(event.call_id, event.name, event.arguments)]

    def _response_done(self, event: E.ResponseDone) -> list[A.Action]:
        self.usage = self.usage + event.usage
        if self.active_response == event.response_id:
            self.active_response = None
        self.ladder.response_done(event.response_id)
        actions: list[A.Action] = self._maybe_switch(event.at_ms)
        for item_id in self._response_turns.pop(event.response_id, []):
            turn = self.transcript.agent.get(item_id)
            if turn is None or turn.seq < 0:
                continue
            turn.audio_done = True
            if not self.playback.item_playing(item_id):
                actions += self._finish_agent_turn(turn, interrupted=False)
        if self._create_pending and not self._tools and self.active_response is None:
            actions += self._create(self._create_after_response)
        if not self.agent_speaking:
            self._activity(event.at_ms, caller=False)
            actions += self._after_speech(event.at_ms)
        return actions

    def _response_created(self, event: E.ResponseCreated) -> list[A.Action]:
        self.active_response = event.response_id
        self._awaiting_response_since = None
        self.ladder.response_created(event.response_id)
        if self._cancel_when_created:
            # The caller started speaking before our response existed: it must not talk over them.
            self._cancel_when_created = False
            self.cancelled.add(event.response_id)
            return [A.CancelResponse()]
        return []

    def _model_error(self, event: E.ModelError) -> list[A.Action]:
        if event.code != ACTIVE_RESPONSE_ERROR:
            return []
        # Only our response.create is refused with this code. The server's own response that
        # caused it may already have cleared `_awaiting_response_since`.
        # Our response.create was refused: ask again once the server's response is done, so
        # a tool's result is always spoken.
        self._awaiting_response_since = None
        self._cancel_when_created = False
        if self._create_retries >= MAX_CREATE_RETRIES:
            return []
        self._create_retries += 1
        self._create_pending = True
        self._create_after_response = self._last_create_note
        if self.active_response is None and not self._tools:
            return self._create(None)
        return []

    def _model_disconnected(self, event: E.ModelDisconnected) -> list[A.Action]:
        self._model_up = False
        self.active_response = None
        self._awaiting_response_since = None
        if self._reconnects >= self.config.max_model_reconnects:
            return self._end(event.at_ms, "model_failure", handoff="human")
        self._reconnects += 1
        return [A.ReconnectModel(tuple(self.transcript.history))]

    # --- tools -----------------------------------------------------------------------------

    def _tool_finished(self, event: E.ToolFinished) -> list[A.Action]:
        tool = self._tools.pop(event.call_id, None)
        if tool is None:
            return []
        actions: list[A.Action] = [self._tool_record(tool, event)]
        if event.ok:
            self._tool_ok_names.add(event.name)
        if event.outcome is not None:
            self._set_outcome(*event.outcome)
        if event.effect == "end_call" and self.phase is Phase.LIVE:
            self.phase = Phase.ENDING
            self.end_reason = "agent_hangup"
            self._ending_since_ms = event.at_ms
        elif event.effect == "transfer" and self.phase is Phase.LIVE:
            self.phase = Phase.TRANSFERRING
            self.transfer = _transfer_args(tool.arguments)
            self._ending_since_ms = event.at_ms
        self._activity(event.at_ms, caller=False)
        actions.append(A.SendFunctionOutput(event.call_id, event.output))
        reason = self.ladder.trigger(event.effect, event.ok) if self.phase is Phase.LIVE else None
        if reason is not None:
            # The bridge line is the small model's next response; the big one opens meanwhile.
            self.ladder.start(reason, len(self.transcript.history))
            actions.append(A.OpenEscalation(tuple(self.transcript.history)))
            self._create_after_response = BRIDGE_NOTE
        if not self._tools:
            actions += self._create(None)
        return actions

    def _maybe_switch(self, at_ms: int) -> list[A.Action]:
        """The bridge line is sent and the big model is ready: it carries the call on now."""
        if not self.ladder.can_switch() or self.phase is not Phase.LIVE:
            return []
        ladder = self.ladder
        ladder.switched = True
        ladder.usage_before = self.usage
        since = tuple(self.transcript.history[ladder.seeded :])
        assert ladder.reason is not None
        return [A.SwitchModel(ladder.reason, self._offset(at_ms), since), A.CreateResponse()]

    def _tool_record(self, tool: _Tool, event: E.ToolFinished) -> A.SaveToolCall:
        return A.SaveToolCall(
            event.call_id,
            event.name,
            tool.arguments,
            event.output,
            event.ok,
            event.at_ms - tool.started_ms,
            self._offset(tool.started_ms),
        )

    def _late_tool_finished(self, event: E.ToolFinished) -> list[A.Action]:
        tool = self._tools.pop(event.call_id, None)
        if tool is None:
            return []
        actions: list[A.Action] = [self._tool_record(tool, event)]
        before = self.outcome
        if event.outcome is not None:
            self._set_outcome(*event.outcome)
        if self.outcome is not None and self.outcome != before and self.end_reason != "transferred":
            actions.append(A.SaveOutcome(*self.outcome))
        return actions

    def _transfer_failed(self, event: E.TransferFailed) -> list[A.Action]:
        self.phase = Phase.LIVE
        self._ending_since_ms = None
        self._set_outcome("transfer_failed", {"reason": event.reason})
        return self._respond(
            event.at_ms,
            "The transfer could not be started. Apologise, and offer to take a message so the "
            "team can call back.",
        )

    # --- timers ----------------------------------------------------------------------------

    def _idle_deadline(self) -> int | None:
        if self.phase is not Phase.LIVE or self.agent_speaking or self._tools:
            return None
        wait = self.config.idle_hangup_ms if self._idle_prompted else self.config.idle_prompt_ms
        return self._last_activity_ms + wait

    def _tick(self, at_ms: int) -> list[A.Action]:
        if self.start_ms is None:
            return []
        actions: list[A.Action] = []
        waiting = self._awaiting_response_since
        if waiting is not None and at_ms >= waiting + RESPONSE_WAIT_MS:
            # The model never started the response we asked for: stop waiting for it.
            self._awaiting_response_since = None
            if not self.agent_speaking:
                actions += self._after_speech(at_ms)
        cap = self.start_ms + self.config.max_call_ms
        if self._ending_since_ms is not None and at_ms >= (
            self._ending_since_ms + self.config.goodbye_grace_ms
        ):
            return self._finish_ending(at_ms)
        if at_ms >= cap and self.end_reason != "max_duration":
            return self._goodbye(at_ms, "max_duration", CAP_GOODBYE)
        if not self._wrap_up_sent and at_ms >= cap - self.config.wrap_up_before_ms:
            self._wrap_up_sent = True
            actions.append(A.AddSystemNote(WRAP_UP_NOTE))
        for tool in self._tools.values():
            if at_ms >= tool.next_tone_ms:
                tool.next_tone_ms = at_ms + self.config.hold_tone_every_ms
                if not self.playback.playing:
                    mark = self.playback.sent(None, HOLD_TONE_BYTES, at_ms)
                    actions += [A.PlayAudio(HOLD_TONE_PAYLOAD), A.SendMark(mark)]
        idle = self._idle_deadline()
        if idle is not None and at_ms >= idle:
            if self._idle_prompted:
                actions += self._goodbye(at_ms, "idle", IDLE_GOODBYE)
            else:
                self._idle_prompted = True
                self._activity(at_ms, caller=False)
                actions += self._respond(at_ms, IDLE_PROMPT)
        return actions

    # --- helpers ---------------------------------------------------------------------------

    def _activity(self, at_ms: int, *, caller: bool = True) -> None:
        """Restart the silence clock; only the caller's own activity cancels an idle prompt."""
        self._last_activity_ms = at_ms
        if caller:
            self._idle_prompted = False

    def _respond(self, at_ms: int, note: str) -> list[A.Action]:
        """Have the agent say something now, or as soon as the current response is done."""
        if self.active_response is not None or self._tools:
            self._create_pending = True
            self._create_after_response = note
            return []
        return [A.CreateResponse(note)]

    def _create(self, note: str | None) -> list[A.Action]:
        note = note or self._create_after_response
        if self.active_response is not None:
            self._create_pending = True
            self._create_after_response = note
            return []
        self._create_pending = False
        self._create_after_response = None
        return [A.CreateResponse(note)]

    def _goodbye(self, at_ms: int, reason: str, note: str) -> list[A.Action]:
        if self.phase in (Phase.HANDED_OFF, Phase.ENDED):
            return []
        self.end_reason = reason
        self.phase = Phase.ENDING
        self._ending_since_ms = at_ms
        actions = self._interrupt(at_ms) if self.agent_speaking else []
        self.active_response = None
        return [*actions, A.CreateResponse(note)]

    def _after_speech(self, at_ms: int) -> list[A.Action]:
        """The agent has gone quiet and everything sent has been heard."""
        if self._tools or self._create_pending:
            return []
        if self.phase is Phase.ENDING:
            return self._finish_ending(at_ms)
        if self.phase is Phase.TRANSFERRING and self.transfer is not None:
            self.phase = Phase.HANDED_OFF
            self._ending_since_ms = None
            reason, summary = self.transfer
            return [A.StartTransfer(reason, summary)]
        return []

    def _finish_ending(self, at_ms: int) -> list[A.Action]:
        if self.phase is Phase.TRANSFERRING and self.transfer is not None:
            self.phase = Phase.HANDED_OFF
            self._ending_since_ms = None
            return [A.StartTransfer(*self.transfer)]
        return self._end(at_ms, self.end_reason or "agent_hangup")

    def _end(self, at_ms: int, reason: str, handoff: str | None = None) -> list[A.Action]:
        actions: list[A.Action] = []
        for turn in self._unfinished_agent_turns():
            heard = self.playback.heard_ms(turn.item_id)
            complete = turn.audio_done and heard >= self.playback.sent_ms(turn.item_id)
            actions += self._finish_agent_turn(turn, interrupted=not complete)
        # Tools still running (a booking, a message) finish after the end and are recorded
        # with their real result: see `_late_tool_finished` and `abandon_tools`.
        if self.phase is Phase.HANDED_OFF:
            reason = "transferred" if self.end_reason is None else self.end_reason
        self.end_reason = reason
        self.phase = Phase.ENDED
        outcome, detail = self._final_outcome()
        before = self.ladder.usage_before if self.ladder.switched else None
        actions.append(A.EndCall(reason, outcome, detail, self.usage, handoff, before))
        return actions

    def _set_outcome(self, outcome: str, detail: dict[str, Any]) -> None:
        if self.outcome is None or OUTCOME_RANK.index(outcome) <= OUTCOME_RANK.index(
            self.outcome[0]
        ):
            self.outcome = (outcome, detail)

    def _final_outcome(self) -> tuple[str, dict[str, Any]]:
        if self.outcome is not None:
            return self.outcome
        if self._tool_ok_names & INFO_TOOLS:
            return "info_provided", {"tools": sorted(self._tool_ok_names & INFO_TOOLS)}
        if self._caller_spoke:
            return "no_resolution", {}
        return "abandoned", {}

    def _unfinished_agent_turns(self) -> list[AgentTurn]:
        return [t for t in self.transcript.agent.values() if t.seq >= 0]

    def _finish_agent_turn(self, turn: AgentTurn, *, interrupted: bool) -> list[A.Action]:
        """Write the turn as heard, once; a finished turn is marked with seq -1."""
        seq = turn.seq
        if seq < 0:
            return []
        turn.seq = -1
        sent = self.playback.sent_ms(turn.item_id)
        text = turn.text.strip()
        if interrupted:
            text = heard_part(text, self.playback.heard_ms(turn.item_id), sent)
        if not text:
            return []
        self.transcript.note("agent", text)
        return [A.SaveTurn(seq, "agent", text, interrupted, turn.offset_ms, turn.latency_ms)]


def _transfer_args(arguments: str) -> tuple[str, str]:
    import json

    try:
        args = json.loads(arguments)
    except ValueError:
        args = {}
    if not isinstance(args, dict):
        args = {}
    return str(args.get("reason", "")), str(args.get("summary", ""))
