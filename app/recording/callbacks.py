"""Twilio's RecordingStatusCallback: a recording of a call is in progress, completed or absent.

Sent to the call-scoped URL of the Machine that started the recording (`/m/<id>/...` on a fleet,
so Fly's proxy replays it there); a Machine that gets it anyway (the holder is gone) handles it
just the same: it only writes the `recordings` row. Signed like every Twilio request (a bad
signature is refused with 403 by `twilio_webhook`); Twilio retries on timeout and may send a
status twice, which the writer's upsert absorbs (app/recording/writes.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from app.logging import get_logger
from app.recording.pricing import recording_cost
from app.recording.writes import recording_op
from app.twilio.webhooks import Webhook, bad_request, no_content, twilio_webhook

log = get_logger(__name__)

RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
STATUSES = frozenset({"in-progress", "completed", "absent", "failed", "paused", "stopped"})


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@twilio_webhook(no_content)
async def recording_status(hook: Webhook) -> Response:
    params, call_sid = hook.params, hook.call_sid
    sid, status = params.get("RecordingSid", ""), params.get("RecordingStatus", "")
    if not RECORDING_SID.fullmatch(sid) or status not in STATUSES or not call_sid:
        log.warning("recording_status_malformed", status=status[:20])
        return bad_request("RecordingSid, RecordingStatus and CallSid are required")
    fields: dict[str, Any] = {
        "sid": sid,
        "source": "twilio",
        "status": status,
        "channels": _number(params.get("RecordingChannels")),
    }
    duration = _number(params.get("RecordingDuration"))
    if status == "completed":
        fields.update(
            duration_seconds=duration or 0,
            cost_usd=recording_cost(duration or 0),
            completed_at=datetime.now(UTC),
        )
    elif status in ("absent", "failed"):
        # Twilio: 16101 too short, 16102 silent.
        fields.update(error_code=_number(params.get("ErrorCode")), completed_at=datetime.now(UTC))
    log.info("recording_status", recording_sid=sid, status=status, duration_seconds=duration)
    hook.runtime.store.put(recording_op(call_sid, **fields))
    return Response(status_code=204)
