"""What the console's recording tests share: the service with a call, its transcript and its
recording at a fake Twilio."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text

from app.db.embedded import EmbeddedPostgres
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.doubles.twilio_recordings import FakeRecording
from tests.staff.console_kit import Console, running_console

CALL = "CA" + "7" * 32
# (offset on the transcript's clock, speaker, text); the recording starts at 1500 ms.
TURNS = [
    (300, "agent", "Thanks for calling. Just so you know, this call is recorded."),
    (1800, "caller", "Hi, can I book a cleaning?"),
    (2600, "agent", "Of course, which day suits you?"),
]


@contextlib.asynccontextmanager
async def console_with_recording(
    postgres: EmbeddedPostgres, data_dir: Path
) -> AsyncIterator[tuple[Console, FakeTwilioAPI, FakeRecording]]:
    async with (
        FakeTwilioAPI() as twilio,
        running_console(
            postgres,
            data_dir,
            prefix="rec",
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_api_base=twilio.base_url,
        ) as console,
    ):
        made = twilio.recordings.add(CALL, seconds=3)
        async with console.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO calls (call_sid, from_number, ended_at, estimated_cost_usd) "
                    "VALUES (:c, '+16175550142', now(), 0.1200)"
                ),
                {"c": CALL},
            )
            await conn.execute(
                text(
                    "INSERT INTO recordings (call_sid, sid, status, channels, "
                    "duration_seconds, start_offset_ms, cost_usd) "
                    "VALUES (:c, :s, 'completed', 2, 3, 1500, 0.0025)"
                ),
                {"c": CALL, "s": made.sid},
            )
            for seq, (offset, speaker, said) in enumerate(TURNS):
                await conn.execute(
                    text(
                        "INSERT INTO transcript_turns (call_sid, seq, speaker, text, offset_ms) "
                        "VALUES (:c, :q, :s, :t, :o)"
                    ),
                    {"c": CALL, "q": seq, "s": speaker, "t": said, "o": offset},
                )
        yield console, twilio, made
