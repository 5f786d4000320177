"""GoogleCalendar against a fake Google on 127.0.0.1: busy time, events, tokens and failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.calendar.errors import CalendarUnavailable
from app.calendar.event import BookingEvent
from app.calendar.google import GoogleCalendar
from app.calendar.ports import FreeBusyCalendar
from tests.doubles.google_calendar import FakeGoogle
from tests.doubles.server import free_port

NEW_YORK = ZoneInfo("America/New_York")
TIMEOUT = 1.0
EVENT_ID = "rcp0123abcd"  # event_id_for("apt_0123abcd")


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def calendar_for(
    google: FakeGoogle, http: httpx.AsyncClient, refresh_token: str | None = None
) -> GoogleCalendar:
    return GoogleCalendar(
        http,
        refresh_token=refresh_token or google.grant(),
        client_id=google.client_id,
        client_secret=google.client_secret,
        token_url=google.token_url,
        api_base=google.api_base,
        timeout=TIMEOUT,
    )


@pytest.fixture
async def calendar(google: FakeGoogle, http: httpx.AsyncClient) -> AsyncIterator[GoogleCalendar]:
    adapter = calendar_for(google, http)
    seam: FreeBusyCalendar = adapter  # mypy: it implements the seam
    yield adapter
    assert seam is adapter
    await adapter.aclose()


def booking(
    start: datetime, minutes: int = 30, appointment_id: str = "apt_0123abcd"
) -> BookingEvent:
    return BookingEvent(
        appointment_id=appointment_id,
        service="Haircut",
        customer_name="Jane Doe",
        customer_phone="+12125550123",
        start=start,
        end=start.astimezone(UTC) + timedelta(minutes=minutes),  # real minutes, not wall-clock
        tz=NEW_YORK,
        notes="Short on the sides",
    )


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NEW_YORK)


async def test_busy_time_a_person_typed_is_read(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    google.add_busy(at(2027, 1, 12, 10), at(2027, 1, 12, 11, 30))
    google.add_busy(at(2027, 1, 13, 10), at(2027, 1, 13, 11))  # outside the range asked
    busy = await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    assert busy == [
        (datetime(2027, 1, 12, 15, tzinfo=UTC), datetime(2027, 1, 12, 16, 30, tzinfo=UTC))
    ]
    asked = google.requests[-1]
    assert asked.body["items"] == [{"id": "primary"}]
    assert asked.body["timeMin"] == "2027-01-12T05:00:00+00:00"


async def test_event_is_written_with_our_id_zone_and_no_attendees(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    event = booking(at(2027, 1, 12, 14))
    assert await calendar.write_event(event) == EVENT_ID
    stored = google.event(EVENT_ID)
    assert stored is not None
    assert stored.start == datetime(2027, 1, 12, 19, tzinfo=UTC)
    assert stored.end == datetime(2027, 1, 12, 19, 30, tzinfo=UTC)
    assert stored.body["start"] == {
        "dateTime": "2027-01-12T14:00:00-05:00",
        "timeZone": "America/New_York",
    }
    assert stored.body["summary"] == "Haircut – Jane Doe"
    assert "Short on the sides" in stored.body["description"]
    assert "attendees" not in stored.body
    assert google.problems == []  # sendUpdates=none, no attendees
    # The event now shows as busy time.
    busy = await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    assert busy == [(stored.start, stored.end)]


async def test_writing_the_same_booking_again_changes_nothing(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    event = booking(at(2027, 1, 12, 14))
    assert await calendar.write_event(event) == EVENT_ID
    assert await calendar.write_event(event) == EVENT_ID  # 409: already there
    assert [r.status_code for r in google.requests if r.path.endswith("/events")] == [200, 409]
    assert google.requests[-1].method == "GET"  # the 409 is checked: the event is live
    assert len(google.events()) == 1


async def test_the_timeout_bounds_the_whole_write_check_included(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    event = booking(at(2027, 1, 12, 14))
    await calendar.write_event(event)
    google.latency = TIMEOUT * 0.6  # each request in time, insert + GET together not
    began = time.perf_counter()
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.write_event(event)
    assert caught.value.kind == "slow"
    assert time.perf_counter() - began < TIMEOUT + 0.3


async def test_rewriting_an_event_deleted_in_the_calendar_is_refused(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    event = booking(at(2027, 1, 12, 14))
    await calendar.write_event(event)
    await calendar.delete_event(EVENT_ID)  # or the owner deleted it in Google Calendar
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.write_event(event)
    assert (caught.value.kind, caught.value.status) == ("rejected", 409)
    assert "deleted from the Google calendar" in caught.value.message


async def test_delete_twice_is_fine(google: FakeGoogle, calendar: GoogleCalendar) -> None:
    await calendar.write_event(booking(at(2027, 1, 12, 14)))
    await calendar.delete_event(EVENT_ID)
    await calendar.delete_event(EVENT_ID)  # 410 Resource has been deleted
    await calendar.delete_event("rcp99999")  # 404: never there
    deletes = [r.status_code for r in google.requests if r.method == "DELETE"]
    assert deletes == [204, 410, 404]
    assert google.events() == []


async def test_access_token_is_reused_and_refreshed_after_a_401(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    assert google.count("/token") == 1
    google.expire_access_tokens()
    await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    assert google.count("/token") == 2
    statuses = [r.status_code for r in google.requests if r.path.endswith("/freeBusy")]
    assert statuses == [200, 200, 401, 200]
    # The token the adapter sent never appears in what it could log.
    sent = google.requests[-1].headers["authorization"]
    assert sent.startswith("Bearer ya29.")


async def test_concurrent_calls_share_one_token_refresh(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    google.latency = 0.05
    day = (at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    answers = await asyncio.gather(*(calendar.busy(*day) for _ in range(5)))
    assert answers == [[]] * 5
    assert google.count("/token") == 1


async def test_revoked_grant_is_revoked(google: FakeGoogle, calendar: GoogleCalendar) -> None:
    google.revoke()
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    assert caught.value.kind == "revoked"
    assert "link the calendar again" in caught.value.message
    token = google.requests[-1].body["refresh_token"]
    assert token not in str(caught.value) and google.client_secret not in str(caught.value)


async def test_revoked_between_calls_is_revoked(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    google.revoke()  # the access token dies too: 401, refresh, invalid_grant
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.write_event(booking(at(2027, 1, 12, 14)))
    assert caught.value.kind == "revoked"


@pytest.mark.parametrize(
    ("mode", "kind", "status"),
    [
        ("rate_limited", "rate_limited", 429),
        ("rate_limited_403", "rate_limited", 403),
        ("server_error", "server_error", 500),
    ],
)
async def test_api_failures_have_their_kind(
    google: FakeGoogle, calendar: GoogleCalendar, mode: str, kind: str, status: int
) -> None:
    google.mode = mode  # type: ignore[assignment]
    for call in (
        calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0)),
        calendar.write_event(booking(at(2027, 1, 12, 14))),
        calendar.delete_event(EVENT_ID),
    ):
        with pytest.raises(CalendarUnavailable) as caught:
            await call
        assert (caught.value.kind, caught.value.status) == (kind, status)
        assert caught.value.retryable


@pytest.mark.parametrize(
    ("mode", "kind", "status"),
    [("rate_limited", "rate_limited", 429), ("server_error", "server_error", 500)],
)
async def test_token_endpoint_failures_have_their_kind_at_once(
    google: FakeGoogle, calendar: GoogleCalendar, mode: str, kind: str, status: int
) -> None:
    google.token_mode = mode  # type: ignore[assignment]
    began = time.perf_counter()
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert google.count("/token") == 1  # google-auth's own sleep-and-retry is not used
    assert time.perf_counter() - began < TIMEOUT / 2


async def test_a_calendar_google_could_not_read_is_not_free(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    google.freebusy_errors["primary"] = "notFound"
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    assert caught.value.kind == "rejected"
    assert "notFound" in caught.value.message
    google.freebusy_errors["primary"] = "internalError"
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    assert caught.value.kind == "server_error"


@pytest.mark.parametrize("where", ["api", "token"])
async def test_a_stalled_google_is_slow_within_the_timeout(
    google: FakeGoogle, calendar: GoogleCalendar, where: str
) -> None:
    if where == "api":
        google.mode = "stall"
    else:
        google.token_mode = "stall"
        google.stall_seconds = 3.0  # the worker thread's own timeout ends its wait first
    began = time.perf_counter()
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    elapsed = time.perf_counter() - began
    assert caught.value.kind == "slow"
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 0.5


async def test_unreachable_google_is_unreachable(http: httpx.AsyncClient) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    adapter = GoogleCalendar(
        http,
        refresh_token="1//0gx",
        client_id="id",
        client_secret="secret",
        token_url=dead + "/token",
        api_base=dead + "/calendar/v3",
        timeout=TIMEOUT,
    )
    try:
        with pytest.raises(CalendarUnavailable) as caught:
            await adapter.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
        assert caught.value.kind == "unreachable"
    finally:
        await adapter.aclose()


async def test_unreadable_answer_is_bad_response(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    google.mode = "garbage"
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.busy(at(2027, 1, 12, 0), at(2027, 1, 13, 0))
    assert (caught.value.kind, caught.value.status) == ("bad_response", 200)


@pytest.mark.parametrize(
    ("local_start", "utc_start"),
    [
        (at(2027, 3, 13, 9), datetime(2027, 3, 13, 14, tzinfo=UTC)),  # EST, -5
        (at(2027, 3, 14, 9), datetime(2027, 3, 14, 13, tzinfo=UTC)),  # spring forward: EDT, -4
        (at(2027, 3, 14, 1, 30), datetime(2027, 3, 14, 6, 30, tzinfo=UTC)),  # before the gap
        (at(2027, 11, 7, 9), datetime(2027, 11, 7, 14, tzinfo=UTC)),  # fall back: EST again
        (at(2027, 11, 7, 1, 30), datetime(2027, 11, 7, 5, 30, tzinfo=UTC)),  # first 01:30 (EDT)
    ],
)
async def test_events_on_dst_days_land_at_the_right_instant(
    google: FakeGoogle, calendar: GoogleCalendar, local_start: datetime, utc_start: datetime
) -> None:
    await calendar.write_event(booking(local_start, minutes=60))
    stored = google.event(EVENT_ID)
    assert stored is not None
    assert stored.start == utc_start
    assert stored.end == utc_start + timedelta(hours=1)  # an hour of real time, across a shift
    busy = await calendar.busy(utc_start - timedelta(hours=3), utc_start + timedelta(hours=3))
    assert busy == [(utc_start, utc_start + timedelta(hours=1))]
