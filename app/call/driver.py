"""Runs one call: Media Streams frames in, the call's machine in the middle, frames out.

One call = one driver task with one inbox. The readers turn stream frames and model events into
events in that inbox; the driver feeds them to the call's CallMachine and carries out the actions
it returns. Nothing else changes call state. One read-only shortcut: the stream reader asks the
machine `accepts_caller_audio` and forwards caller audio to the model itself, without the inbox
hop (measured at 50 calls, that hop alone cost p50 0.7 / p99 12 ms per frame; docs/performance.md).

The driver knows nothing of routes or signatures: it is given a `MediaStream` (Twilio's socket or
the dev phone's) that its route has already authenticated, and the `CallServices`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any, assert_never

from app.call import actions as A
from app.call import errands
from app.call import events as E
from app.call.info import CallInfo
from app.call.machine import CallMachine
from app.call.meter import CallMeter
from app.call.ports import WATCHED, CallServices, CallWatcher, MediaStream
from app.call.records import CallRecords
from app.call.reseat import CONNECT_WAIT_SECONDS, seeded_session
from app.call.resume import resumed_leg
from app.logging import get_logger
from app.realtime.client import ModelSession, Sink
from app.realtime.session import history_items
from app.recording.consent import DISCLOSURE_REMINDER, ConsentGate, Step
from app.wire import realtime as rt
from app.wire import twilio as tw

log = get_logger(__name__)

# A tool still running when the call ends may finish (its own timeout) and is then recorded.
TOOL_SETTLE_MARGIN_SECONDS = 1.0
AGENT_ENDINGS = frozenset({"agent_hangup", "idle", "max_duration"})


class CallDriver:
    def __init__(
        self,
        services: CallServices,
        stream: MediaStream,
        info: CallInfo,
        watch: CallWatcher | None = None,
    ) -> None:
        self.services = services
        self.watch = watch  # shown the call's turns and tool calls (the dev phone)
        self.stream = stream
        self.info = info
        self.records = CallRecords(
            services.store, info.call_sid, services.settings.openai_realtime_model
        )
        self.inbox: asyncio.Queue[E.Event] = asyncio.Queue()
        self._t0 = time.monotonic()
        self.machine = CallMachine()
        self.model: ModelSession | None = None
        self._next_model: ModelSession | None = None  # the ladder's big model, until switched
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ended = asyncio.Event()
        self.meter = CallMeter(services.metrics, info.channel)
        # Recorded calls start recording once the disclosure is heard (a resumed leg heard it).
        self.consent = ConsentGate(reminded=info.resume is not None)

    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    def shut_down(self) -> None:
        """The process is draining: the agent wraps the call up politely."""
        self.inbox.put_nowait(E.Shutdown(self.now_ms()))

    # --- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        services = self.services
        config = services.machine_config()
        extra: list[str] = []
        if self.info.resume:
            # Back from a transfer nobody answered, or from a Machine that died: same record and
            # conversation (app/call/resume.py).
            config, extra = await resumed_leg(config, services.history, self.info)
        prepared = services.sessions.adopt(self.info.call_sid)
        if prepared is None:
            # The webhook was handled elsewhere (another instance, or a restart): connect now.
            log.info("model_session_cold_start")
            self.model = services.sessions.open(
                self.info.call_sid,
                greet=False,
                disclose_recording=self.info.disclose_recording,
                extra=extra,
            )
        else:
            self.model = prepared
        self.meter.started(cold_start=prepared is None)
        self.machine = CallMachine(replace(config, greeting_requested=prepared is not None))
        self.model.attach(self._model_sink(self.model))
        reader = self._spawn(self._read_stream())
        self.inbox.put_nowait(
            E.StreamStarted(self.now_ms(), self.info.stream_sid, self.info.call_sid)
        )
        try:
            await self._drive()
        finally:
            reader.cancel()
            # Close the model socket on every way out: a leaked session is billed per second.
            await self.model.close()
            if self._next_model is not None:
                await self._next_model.close()
            await self._settle_tools()
            await self._shutdown()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _settle_tools(self) -> None:
        """The call has ended with tools still running: a booking or a message completes within
        its timeout and is recorded with its real result; one that never reports is failed."""
        machine = self.machine
        if not machine.pending_tools:
            return
        budget = self.services.settings.tool_timeout_seconds + TOOL_SETTLE_MARGIN_SECONDS
        try:
            async with asyncio.timeout(budget):
                while machine.pending_tools:
                    event = await self.inbox.get()
                    for action in machine.handle(event):
                        await self._do(action)
        except TimeoutError:
            log.warning("tools_abandoned_after_call")
        for action in machine.abandon_tools(self.now_ms()):
            await self._do(action)

    async def _shutdown(self) -> None:
        if self.model is not None:
            await self.model.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.stream.close(1000)

    async def _drive(self) -> None:
        machine = self.machine
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None
        armed_for: int | None = None
        try:
            while not self._ended.is_set():
                # One timer, re-armed only when the machine's next deadline moves: cheaper than a
                # timeout around every `get` at 50 frames a second per call.
                deadline = machine.next_deadline()
                if deadline != armed_for:
                    if timer is not None:
                        timer.cancel()
                    timer = None
                    if deadline is not None:
                        timer = loop.call_at(self._t0 + deadline / 1000, self._tick)
                    armed_for = deadline
                if self.inbox.empty():
                    event = await self.inbox.get()
                else:
                    event = self.inbox.get_nowait()
                if isinstance(event, E.Tick):
                    armed_for = None  # the timer fired: arm the next one
                for action in machine.handle(event):
                    await self._do(action)
                self.meter.handled(event)
        finally:
            if timer is not None:
                timer.cancel()

    def _tick(self) -> None:
        self.inbox.put_nowait(E.Tick(self.now_ms()))

    # --- readers ---------------------------------------------------------------------------

    async def _read_stream(self) -> None:
        limit = self.services.settings.max_frame_bytes
        while True:
            text = await self.stream.receive()
            timed = self.meter.caller_frame()  # perf_counter() for a sampled frame, else 0.0
            if text is None:
                break
            if isinstance(text, bytes):
                # Binary frames are not part of the protocol (Twilio error 31950).
                await self._reject(tw.UNSUPPORTED_DATA, "binary frame")
                break
            if len(text) > limit:
                await self._reject(tw.MESSAGE_TOO_BIG, "frame too large")
                break
            try:
                frame = tw.parse_frame(text, self.now_ms())
            except tw.FrameError as exc:
                await self._reject(tw.UNSUPPORTED_DATA, str(exc))
                break
            if isinstance(frame, E.CallerAudio):
                # The audio path's read-only shortcut (module docstring): no inbox hop.
                if self.machine.accepts_caller_audio:
                    await self._send_model(rt.append_audio(frame.payload))
                    if timed:
                        self.meter.caller_frame_sent(timed)
                continue
            if frame is None or isinstance(frame, tw.Connected | E.StreamStarted):
                continue
            self.inbox.put_nowait(frame)
            if isinstance(frame, E.StreamStopped):
                return
        # The stream ends quietly when the caller hangs up: this line is the one cleanup path.
        self.inbox.put_nowait(E.StreamStopped(self.now_ms()))

    async def _reject(self, code: int, reason: str) -> None:
        log.warning("twilio_frame_rejected", reason=reason, code=code)
        await self.stream.close(code)

    def _model_sink(self, session: ModelSession) -> Sink:
        """Model events go straight from the socket reader into the inbox."""

        def deliver(frame: str | bytes | None) -> None:
            if frame is None:
                if session is self.model:
                    self.meter.model_disconnected()
                    self.inbox.put_nowait(E.ModelDisconnected(self.now_ms()))
                return
            event = rt.parse_server_event(frame, self.now_ms())
            if event is None:
                return
            if isinstance(event, E.AgentAudio):
                self.meter.agent_frame(event)
            elif isinstance(event, E.ModelError):
                log.warning("model_error", code=event.code, message=event.message[:200])
                self.meter.model_error(event.code)
            elif isinstance(event, E.ModelRefused):
                self.services.sessions.refused(event.code, event.message)
            self.inbox.put_nowait(event)

        return deliver

    # --- actions ---------------------------------------------------------------------------

    async def _send_stream(self, text: str) -> None:
        if not await self.stream.send(text):
            self.inbox.put_nowait(E.StreamStopped(self.now_ms()))

    async def _send_model(self, text: str) -> None:
        if self.model is not None:
            await self.model.send(text)

    async def _do(self, action: A.Action) -> None:
        sid = self.info.stream_sid
        if self.watch is not None and isinstance(action, WATCHED):
            self.watch(action)
        match action:
            case A.PlayAudio():
                await self._send_stream(tw.media_frame(sid, action.payload))
            case A.SendMark():
                await self._send_stream(tw.mark_frame(sid, action.name))
            case A.ClearAudio():
                await self._send_stream(tw.clear_frame(sid))
            case A.TruncateItem():
                await self._send_model(rt.truncate(action.item_id, action.audio_end_ms))
            case A.CancelResponse():
                await self._send_model(rt.response_cancel())
            case A.SendFunctionOutput():
                await self._send_model(rt.function_output(action.call_id, action.output))
            case A.CreateResponse():
                if action.note:
                    await self._send_model(rt.message("system", action.note))
                await self._send_model(rt.response_create())
            case A.AddSystemNote():
                await self._send_model(rt.message("system", action.text))
            case A.ReconnectModel():
                self._spawn(self._reconnect(action.history))
            case A.OpenEscalation():
                self._spawn(self._open_escalation(action.history))
            case A.SwitchModel():
                await self._switch_model(action)
            case A.StartTool():
                self._spawn(self._run_tool(action))
            case A.SaveTurn():
                self.records.turn(action)
                if self.services.start_recording is not None and action.speaker == "agent":
                    await self._consent(action.text)
            case A.SaveToolCall():
                self.records.tool_call(action)
            case A.RecordGreeting():
                log.info("greeting_played", greeting_ms=action.greeting_ms)
                self.meter.greeting(action.greeting_ms)
                # Every session of this call was opened with this disclosure decision, so the
                # greeting just played is what the caller was actually told.
                self.records.greeting(action, self.info.disclose_recording)
            case A.RecordTurnLatency():
                self.meter.turn_latency(action.latency_ms)
            case A.StartTransfer():
                self._spawn(self._transfer(action))
            case A.EndCall():
                await self._end(action)
            case A.SaveOutcome():
                self.records.outcome(action)
            case A.ForwardAudio():  # only from `handle(CallerAudio)`, which the reader bypasses
                await self._send_model(rt.append_audio(action.payload))
            case _:
                assert_never(action)

    async def _consent(self, heard: str) -> None:
        step = self.consent.agent_turn(heard)
        if step is Step.START and self.services.start_recording is not None:
            self._spawn(self.services.start_recording(self.info, self._transcript_ms))
        elif step is Step.REMIND:
            await self._send_model(rt.message("system", DISCLOSURE_REMINDER))

    def _transcript_ms(self) -> int:
        """Now, on the transcript's clock (the turns' offset_ms)."""
        start = self.machine.start_ms or 0  # set by the stream's start, the driver's first event
        return self.machine.config.offset_base_ms + max(0, self.now_ms() - start)

    async def _run_tool(self, action: A.StartTool) -> None:
        result = await errands.run_tool(self.services, self.info, self.meter, action)
        report = (result.ok, result.output, result.outcome, result.effect)
        self.inbox.put_nowait(E.ToolFinished(self.now_ms(), action.call_id, action.name, *report))

    async def _transfer(self, action: A.StartTransfer) -> None:
        failed = await errands.start_transfer(self.services, self.info, self.meter, action)
        if failed is not None:
            self.inbox.put_nowait(E.TransferFailed(self.now_ms(), failed))

    async def _reconnect(self, history: tuple[tuple[str, str], ...]) -> None:
        old = self.model
        if old is not None:
            await old.close()
        # On the model the call is on now (the big one, once the ladder has moved it).
        model = old.model if old is not None else None
        self.model = session = seeded_session(self.services, self.info, history, model=model)
        # The stream keeps playing what was sent; the caller must not wait long for the agent.
        if not await session.wait_connected(CONNECT_WAIT_SECONDS):
            self.meter.reconnected(False)
            await session.close()
            self.inbox.put_nowait(E.ModelDisconnected(self.now_ms()))
            return
        log.info("model_reconnected", reseeded_turns=len(history))
        self.meter.reconnected(True)
        session.attach(self._model_sink(session))
        self.inbox.put_nowait(E.ModelReconnected(self.now_ms()))

    async def _open_escalation(self, history: tuple[tuple[str, str], ...]) -> None:
        """The ladder: the big model's session opens while the small one says the bridge line."""
        self._next_model = session = seeded_session(
            self.services, self.info, history, escalate=True
        )
        if await session.wait_connected(CONNECT_WAIT_SECONDS):
            self.inbox.put_nowait(E.EscalationReady(self.now_ms()))
            return
        log.warning("model_escalation_failed")
        self._next_model = None
        await session.close()
        self.inbox.put_nowait(E.EscalationFailed(self.now_ms()))

    async def _switch_model(self, action: A.SwitchModel) -> None:
        new, self._next_model = self._next_model, None
        if new is None:  # pragma: no cover (the machine switches only once it is ready)
            return
        old, self.model = self.model, new
        new.attach(self._model_sink(new))
        for item in history_items(list(action.since)):  # said while it was opening
            await new.send(item)
        self.records.escalated(new.model, action.reason, action.offset_ms)
        log.info("model_escalated", model=new.model, reason=action.reason)
        if old is not None:
            self._spawn(old.close())

    async def _end(self, action: A.EndCall) -> None:
        self._ended.set()
        usage = action.usage
        cost = self.records.ended(action)
        model = self.services.settings.openai_realtime_model
        self.meter.ended(action.outcome, action.reason, self.now_ms() / 1000, model, cost)
        log.info(
            "call_ended",
            end_reason=action.reason,
            outcome=action.outcome,
            total_tokens=usage.input_tokens + usage.output_tokens,
            estimated_cost_usd=float(cost),
        )
        if self.model is not None:
            await self.model.close()
        # Closing the stream makes Twilio request the <Connect action> (stream-ended), which
        # decides from the database what the caller hears next.
        await self.stream.close(1000)
        if action.reason in AGENT_ENDINGS:
            # And hang up through REST too, so the call ends even if that request goes astray.
            await self.services.hang_up(self.info.call_sid)
