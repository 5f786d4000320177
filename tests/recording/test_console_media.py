"""The console's recording routes over HTTP: the media streamed from Twilio behind the login,
Range passed through, nothing cached or revealed; gone, unreachable and delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db.embedded import EmbeddedPostgres
from tests.doubles.twilio_api import FakeTwilioAPI
from tests.doubles.twilio_recordings import FakeRecording
from tests.recording.recording_kit import CALL, console_with_recording
from tests.staff.console_kit import Console, csrf_of, signed_in


@pytest.fixture
async def setup(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> AsyncIterator[tuple[Console, FakeTwilioAPI, FakeRecording]]:
    async with console_with_recording(postgres, tmp_path) as parts:
        yield parts


MEDIA = f"/staff/calls/{CALL}/recording"


async def test_strangers_get_nothing(setup: tuple[Console, FakeTwilioAPI, FakeRecording]) -> None:
    console, twilio, made = setup
    async with console.client() as http:
        response = await http.get(MEDIA)
        assert response.status_code in (303, 401)
        assert made.sid not in response.text and "twilio" not in response.text.lower()
        refused = await http.post(f"{MEDIA}/delete", data={"csrf_token": "x"})
        assert refused.status_code in (303, 401, 403)
    assert not any("/Recordings/" in r.path for r in twilio.requests)
    assert not made.deleted


async def test_the_media_streams_from_twilio_with_ranges_and_is_never_cached(
    setup: tuple[Console, FakeTwilioAPI, FakeRecording],
) -> None:
    console, twilio, made = setup
    assert made.media is not None
    async with signed_in(console) as http:
        whole = await http.get(MEDIA)
        assert whole.status_code == 200 and whole.content == made.media
        assert whole.headers["cache-control"] == "private, no-store"
        assert whole.headers["content-type"].startswith("audio/")
        part = await http.get(MEDIA, headers={"Range": "bytes=44-1043"})
        assert part.status_code == 206 and part.content == made.media[44:1044]
        assert part.headers["content-range"] == f"bytes 44-1043/{len(made.media)}"
        page = await http.get(f"/staff/calls/{CALL}")
    # Twilio was asked with the account's credentials; the browser saw none of it.
    media_gets = [r for r in twilio.requests if r.path.endswith(f"{made.sid}.wav")]
    assert len(media_gets) == 2 and all(r.auth_ok for r in media_gets)
    assert twilio.recordings.media_requests[-1]["range"] == "bytes=44-1043"
    for text_ in (page.text, str(whole.headers)):
        assert twilio.base_url not in text_ and twilio.auth_token not in text_
        assert made.sid not in text_
    assert 'id="recording-player"' in page.text and f'src="{MEDIA}"' in page.text
    assert 'data-recording-start="1500"' in page.text
    assert "$0.1225" in page.text  # the call's estimate includes the recording's minute


async def test_gone_at_twilio_and_twilio_unreachable_say_so(
    setup: tuple[Console, FakeTwilioAPI, FakeRecording],
) -> None:
    console, twilio, made = setup
    async with signed_in(console) as http:
        twilio.recordings.delete_by_hand(made.sid)
        gone = await http.get(MEDIA)
        assert gone.status_code == 404 and "deleted at Twilio" in gone.text
        page = await http.get(f"/staff/calls/{CALL}")
        assert "This recording is gone" in page.text
        assert 'id="recording-player"' not in page.text
        async with console.engine.begin() as conn:
            await conn.execute(text("UPDATE recordings SET gone_at = NULL"))
        await twilio.stop()
        away = await http.get(MEDIA)
        assert away.status_code == 502 and "could not be reached" in away.text
        assert "Traceback" not in away.text


async def test_delete_needs_csrf_and_deletes_at_twilio_and_here(
    setup: tuple[Console, FakeTwilioAPI, FakeRecording],
) -> None:
    console, _, made = setup
    async with signed_in(console) as http:
        page = await http.get(f"/staff/calls/{CALL}")
        forged = await http.post(f"{MEDIA}/delete", data={"csrf_token": "forged"})
        assert forged.status_code == 403 and not made.deleted
        done = await http.post(f"{MEDIA}/delete", data={"csrf_token": csrf_of(page.text)})
        assert done.status_code == 303
        assert done.headers["location"] == f"/staff/calls/{CALL}?recording=deleted"
        assert made.deleted
        after = await http.get(done.headers["location"])
        assert "The recording was deleted." in after.text
        assert (await http.get(MEDIA)).status_code == 404
    async with console.engine.connect() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM recordings"))).scalar()
    assert left == 0


async def test_a_recording_twilio_refused_shows_why(
    setup: tuple[Console, FakeTwilioAPI, FakeRecording],
) -> None:
    console, _, _ = setup
    async with console.engine.begin() as conn:
        await conn.execute(text("DELETE FROM recordings"))
        await conn.execute(
            text(
                "INSERT INTO recordings (call_sid, status, error_code, error_message) VALUES "
                "(:c, 'failed', 21220, 'Invalid call state.')"
            ),
            {"c": CALL},
        )
    async with signed_in(console) as http:
        page = await http.get(f"/staff/calls/{CALL}")
    assert "Not recorded." in page.text and "error 21220" in page.text
    assert 'id="delete-recording"' not in page.text
