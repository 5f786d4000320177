"""The caller's side of a session: the input audio buffer, the energy VAD, commits, transcripts."""

from __future__ import annotations

import asyncio
import base64
import binascii

from websockets.asyncio.server import ServerConnection

from app.lib.audio import ULAW_BYTES_PER_MS, ulaw_rms
from tests.doubles.realtime.base import SessionHost
from tests.doubles.realtime.config import DEFAULT_CALLER_TRANSCRIPT, JsonDict
from tests.doubles.realtime.responses import ResponsesSession

__all__ = ["VAD_FRAME_MS", "InputAudioSession"]

VAD_FRAME_MS = 20
_VAD_FRAME_BYTES = VAD_FRAME_MS * ULAW_BYTES_PER_MS


class InputAudioSession(ResponsesSession):
    """Appended audio, VAD turns (which may cancel or start responses), and committed items."""

    def __init__(self, server: SessionHost, index: int, connection: ServerConnection) -> None:
        super().__init__(server, index, connection)
        self._append_bytes = 0
        # Input audio buffer and VAD state, in ms from the start of the session's input audio.
        self._buffer_start_ms = 0
        self._buffer_bytes = 0
        self._vad_pending = bytearray()
        self._vad_pos_ms = 0
        self._in_speech = False
        self._speech_run_ms = 0
        self._speech_run_start_ms = 0
        self._silence_run_ms = 0
        self._speech_item_id: str | None = None

    async def _on_append(self, event: JsonDict, client_event_id: str | None) -> None:
        try:
            data = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            self._violation("input_audio_buffer.append with invalid base64 audio")
            await self._send_error(
                "Invalid 'audio'. Expected base64-encoded audio bytes.",
                code="invalid_value",
                param="audio",
                client_event_id=client_event_id,
            )
            return
        self._append_bytes += len(data)
        self.appended_ms = self._append_bytes // ULAW_BYTES_PER_MS
        self._buffer_bytes += len(data)
        if self._turn_detection() is None:
            return
        pending = self._vad_pending
        pending += data
        if len(pending) < _VAD_FRAME_BYTES:
            return
        usable = len(pending) - len(pending) % _VAD_FRAME_BYTES
        frames = bytes(pending[:usable])
        del pending[:usable]
        for start in range(0, usable, _VAD_FRAME_BYTES):
            await self._vad_frame(frames[start : start + _VAD_FRAME_BYTES])

    def _turn_detection(self) -> JsonDict | None:
        audio_input = (self.effective_session.get("audio") or {}).get("input") or {}
        turn_detection = audio_input.get("turn_detection")
        return turn_detection if isinstance(turn_detection, dict) else None

    def _reset_vad(self) -> None:
        self._vad_pending.clear()
        self._vad_pos_ms = self._append_bytes // ULAW_BYTES_PER_MS
        self._in_speech = False
        self._speech_run_ms = 0
        self._silence_run_ms = 0
        self._speech_item_id = None

    async def _vad_frame(self, frame: bytes) -> None:
        config = self._server.config
        frame_start = self._vad_pos_ms
        self._vad_pos_ms += VAD_FRAME_MS
        loud = ulaw_rms(frame) >= config.vad_threshold_rms
        if not self._in_speech:
            if not loud:
                self._speech_run_ms = 0
                return
            if self._speech_run_ms == 0:
                self._speech_run_start_ms = frame_start
            self._speech_run_ms += VAD_FRAME_MS
            if self._speech_run_ms >= config.vad_min_speech_ms:
                await self._speech_started()
        elif loud:
            self._silence_run_ms = 0
        else:
            self._silence_run_ms += VAD_FRAME_MS
            if self._silence_run_ms >= config.vad_silence_ms:
                await self._speech_stopped()

    async def _speech_started(self) -> None:
        config = self._server.config
        self._in_speech = True
        self._silence_run_ms = 0
        self._speech_run_ms = 0
        item_id = self._speech_item_id = self._next_id("item")
        audio_start_ms = max(
            self._buffer_start_ms, self._speech_run_start_ms - config.vad_prefix_padding_ms
        )
        await self._send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": audio_start_ms,
                "item_id": item_id,
            }
        )
        turn_detection = self._turn_detection() or {}
        if (
            self._active is not None
            and config.server_interrupts
            and turn_detection.get("interrupt_response", True) is not False
        ):
            await self._cancel_active("turn_detected")

    async def _speech_stopped(self) -> None:
        item_id = self._speech_item_id or self._next_id("item")
        self._in_speech = False
        self._speech_run_ms = 0
        self._silence_run_ms = 0
        self._speech_item_id = None
        await self._send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": self._vad_pos_ms,
                "item_id": item_id,
            }
        )
        await self._commit(item_id, auto=True)

    async def _commit(self, item_id: str, *, auto: bool) -> None:
        config = self._server.config
        previous, self._last_item_id = self._last_item_id, item_id
        self._buffer_bytes = 0
        self._buffer_start_ms = self._append_bytes // ULAW_BYTES_PER_MS
        await self._send(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item_id,
                "previous_item_id": previous,
            }
        )
        item: JsonDict = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self._send(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
        )
        await self._send(
            {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
        )
        audio_input = self.effective_session["audio"].get("input") or {}
        if audio_input.get("transcription"):  # transcription is off unless the session asks
            transcript = (
                config.caller_transcripts.pop(0)
                if config.caller_transcripts
                else DEFAULT_CALLER_TRANSCRIPT
            )
            self.caller_transcripts.append(transcript)
            if config.transcription_delay_ms > 0:
                self._spawn(
                    self._send_transcript_later(item_id, transcript, config.transcription_delay_ms)
                )
            else:
                await self._send_transcript(item_id, transcript)
        turn_detection = self._turn_detection() or {}
        if (
            auto
            and config.create_response_on_commit
            and turn_detection.get("create_response", True) is not False
            and self._active is None
        ):
            await self._start_response(self._next_reply())

    async def _send_transcript_later(self, item_id: str, transcript: str, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
        await self._send_transcript(item_id, transcript)

    async def _send_transcript(self, item_id: str, transcript: str) -> None:
        audio_tokens = max(1, self.appended_ms // 100)
        text_tokens = max(1, len(transcript) // 4)
        await self._send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": transcript,
                "usage": {
                    "type": "tokens",
                    "input_tokens": audio_tokens,
                    "output_tokens": text_tokens,
                    "total_tokens": audio_tokens + text_tokens,
                    "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0},
                },
            }
        )
