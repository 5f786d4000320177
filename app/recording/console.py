"""The console's side of recordings: what the call page shows, the media it plays, deleting.

Routes under /staff (the console's guard signs every request in and checks every POST's CSRF
token). The media is streamed from Twilio with the account's credentials, a Range passed through
so the player can seek; the browser sees only this route, never a Twilio URL or credential, and
nothing of it is cached. A recording the service made itself (the dev phone) is served from
PostgreSQL the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from app.logging import get_logger
from app.recording.twilio_api import MEDIA_HEADERS, RANGE_HEADERS

if TYPE_CHECKING:
    from app.runtime import Runtime

log = get_logger(__name__)

PRIVATE = {"Cache-Control": "private, no-store"}
UNREACHABLE = "Twilio could not be reached to play this recording. Try again in a moment."
GONE = "This recording is gone: it was deleted at Twilio."
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class CallRecording:
    """What the call page says about a call's recording."""

    status: str  # in-progress, completed, absent, failed, gone
    start_offset_ms: int
    duration_seconds: int | None
    cost_usd: Decimal | None
    why_not: str | None  # for a recording that never was

    @property
    def playable(self) -> bool:
        return self.status == "completed"


async def call_recording(conn: AsyncConnection, call_sid: str) -> CallRecording | None:
    """The call's latest recording (or attempt at one); None when recording was never tried."""
    row = (
        await conn.execute(
            text(
                "SELECT status, start_offset_ms, duration_seconds, error_code, error_message, "
                "gone_at, (SELECT sum(cost_usd) FROM recordings WHERE call_sid = :sid) AS cost "
                "FROM recordings WHERE call_sid = :sid ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            {"sid": call_sid},
        )
    ).first()
    if row is None:
        return None
    why = None
    if row.status in ("failed", "absent"):
        code = f" (error {row.error_code})" if row.error_code is not None else ""
        if row.status == "absent":
            why = f"Twilio kept no recording: it was too short or silent{code}."
        elif row.error_code == -1:
            why = "Twilio could not be reached when the recording was to start."
        else:
            why = f"Twilio refused to start the recording{code}: {row.error_message or ''}"
    status = "gone" if row.gone_at is not None else row.status
    return CallRecording(status, row.start_offset_ms or 0, row.duration_seconds, row.cost, why)


async def _playable(runtime: Runtime, call_sid: str) -> tuple[int, str | None, str, bytes | None]:
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT id, sid, source, audio FROM recordings WHERE call_sid = :sid "
                    "AND status = 'completed' AND gone_at IS NULL "
                    "ORDER BY created_at DESC, id DESC LIMIT 1"
                ),
                {"sid": call_sid},
            )
        ).first()
    if row is None:
        return 0, None, "", None
    return row.id, row.sid, row.source, row.audio


async def recording_media(request: Request) -> Response:
    """GET /staff/calls/{call_sid}/recording: the WAV, Range requests honoured."""
    runtime: Runtime = request.app.state.runtime
    call_sid = request.path_params["call_sid"]
    ident, sid, source, audio = await _playable(runtime, call_sid)
    if not ident:
        return PlainTextResponse("This call has no recording.", 404, headers=PRIVATE)
    if source == "service":
        return _ranged(audio or b"", request.headers.get("range"))
    assert sid is not None
    asked = {k: v for k, v in request.headers.items() if k in RANGE_HEADERS}
    try:
        upstream = await runtime.recordings_api.open_media(sid, asked)
    except (httpx.HTTPError, OSError) as exc:
        log.warning("recording_media_unreachable", error=type(exc).__name__)
        return PlainTextResponse(UNREACHABLE, 502, headers=PRIVATE)
    if upstream.status_code == 404:
        await upstream.aclose()
        log.warning("recording_gone_at_twilio", recording_sid=sid)
        async with runtime.engine.begin() as conn:
            await conn.execute(
                text("UPDATE recordings SET gone_at = :now WHERE id = :id AND gone_at IS NULL"),
                {"now": datetime.now(UTC), "id": ident},
            )
        return PlainTextResponse(GONE, 404, headers=PRIVATE)
    if upstream.status_code not in (200, 206, 416):
        await upstream.aclose()
        log.warning("recording_media_refused", status=upstream.status_code)
        return PlainTextResponse(UNREACHABLE, 502, headers=PRIVATE)
    headers = {k: v for k, v in upstream.headers.items() if k.lower() in MEDIA_HEADERS}
    return StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        headers={**headers, **PRIVATE},
        background=BackgroundTask(upstream.aclose),
    )


def _ranged(media: bytes, header: str | None) -> Response:
    """A WAV kept here, whole or the asked-for range (RFC 9110 single byte ranges)."""
    total = len(media)
    base = {**PRIVATE, "Accept-Ranges": "bytes", "Content-Type": "audio/wav"}
    match = _RANGE.match(header or "")
    if match is None or match.group(1) == match.group(2) == "":
        return Response(media, headers=base)
    first, last = match.group(1), match.group(2)
    if first == "":
        start, end = max(0, total - int(last)), total - 1
    else:
        start, end = int(first), min(int(last) if last else total - 1, total - 1)
    if start >= total or start > end:
        return Response(status_code=416, headers={**base, "Content-Range": f"bytes */{total}"})
    return Response(
        media[start : end + 1],
        status_code=206,
        headers={**base, "Content-Range": f"bytes {start}-{end}/{total}"},
    )


async def delete_recording(request: Request) -> Response:
    """POST /staff/calls/{call_sid}/recording/delete: at Twilio, then here."""
    runtime: Runtime = request.app.state.runtime
    call_sid = request.path_params["call_sid"]
    async with runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT id, sid, source, gone_at FROM recordings WHERE call_sid = :sid"),
                {"sid": call_sid},
            )
        ).all()
    outcome = "deleted"
    for row in rows:
        at_twilio = row.source == "twilio" and row.sid and row.gone_at is None
        if at_twilio and not await runtime.recordings_api.delete(row.sid):
            outcome = "delete_failed"
            continue
        async with runtime.engine.begin() as conn:
            await conn.execute(text("DELETE FROM recordings WHERE id = :id"), {"id": row.id})
    log.info("staff_recording_deleted", outcome=outcome, user_id=request.state.staff.user_id)
    page = request.url_for("staff:call", call_sid=call_sid).path
    return RedirectResponse(f"{page}?recording={outcome}", 303)


def recording_routes() -> list[Route]:
    """Mounted under /staff, behind the console's sign-in and CSRF check."""
    return [
        Route("/calls/{call_sid}/recording", recording_media, name="recording"),
        Route(
            "/calls/{call_sid}/recording/delete",
            delete_recording,
            methods=["POST"],
            name="delete_recording",
        ),
    ]
