"""The console's pages over HTTP: finding calls, reading one, messages, appointments, today."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from console_kit import EMAIL, Console, csrf_of, running_console, signed_in
from sqlalchemy import text

from app.business.profile import load_profile
from app.db.embedded import EmbeddedPostgres
from app.db.engine import project_root
from app.staff.calls import PAGE_SIZE
from app.staff.demo import fill_demo_data

NOW = datetime.now(UTC)
CROWN_FAILURE = "550 5.1.1 <owner@example.com>: mailbox <unavailable>"
TOMORROW_10 = (NOW + timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)


async def _seed(console: Console) -> None:
    profile = load_profile(project_root() / "prompts" / "business.toml")
    await fill_demo_data(console.engine, profile, calls=60, seed=3, days=20)
    async with console.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO calls (call_sid, from_number, from_city, from_state, started_at, "
                "ended_at, end_reason, greeting_ms, estimated_cost_usd, transfer_status, model, "
                "escalated_model, escalation_reason, escalated_at_ms) VALUES "
                "('CAcrown', '+16175550199', 'SOMERVILLE', 'MA', :crown_at, :crown_end, "
                "'agent_hangup', 812, 0.4321, NULL, 'gpt-realtime-2.1-mini', 'gpt-realtime-2.1', "
                "'asked', 42500), "
                "('CAlive', '+16175550777', NULL, NULL, :live_at, NULL, NULL, NULL, NULL, NULL, "
                "NULL, NULL, NULL, NULL)"
            ),
            {
                "crown_at": NOW - timedelta(minutes=30),
                "crown_end": NOW - timedelta(minutes=27),
                "live_at": NOW - timedelta(minutes=1),
            },
        )
        await conn.execute(
            text(
                "INSERT INTO transcript_turns (call_sid, seq, speaker, text, interrupted, offset_ms)"
                " VALUES ('CAcrown', 0, 'agent', 'Thanks for calling, how can I help?', false, 200),"
                " ('CAcrown', 1, 'caller', 'My crown came loose <script>alert(1)</script>', "
                "false, 4100),"
                " ('CAcrown', 2, 'agent', 'I am so sorry to', true, 9000),"
                " ('CAlive', 0, 'agent', 'Hello, how can I help?', false, 150)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO tool_calls (call_sid, tool_call_id, name, arguments, result, ok, "
                "duration_ms, offset_ms) VALUES ('CAcrown', 'c1', 'take_message', "
                '\'{"urgency": "urgent"}\', \'{"ok": true, "status": "saved"}\', true, 240, '
                "9500)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO call_outcomes (call_sid, outcome) VALUES ('CAcrown', 'message_taken')"
            )
        )
        await conn.execute(
            text(
                "UPDATE calls SET summary = :summary, call_reason = 'Loose crown', "
                "callback_needed = true, callback_reason = 'Crown hurts when she chews', "
                "summary_status = 'done', summarized_at = now() WHERE call_sid = 'CAcrown'"
            ),
            {"summary": "Dana's crown came loose <b>this morning</b>; she left a message."},
        )
        await conn.execute(
            text(
                "INSERT INTO notifications (idempotency_key, kind, channel, recipient, call_sid, "
                "body, status, attempts, last_error, sent_at) VALUES "
                "('m:CAcrown:sms', 'message_taken', 'sms', '+16175550100', 'CAcrown', 'x', "
                "'sent', 1, NULL, now()), "
                "('m:CAcrown:email', 'message_taken', 'email', 'owner@example.com', 'CAcrown', "
                "'x', 'failed', 5, :error, NULL)"
            ),
            {"error": CROWN_FAILURE},
        )
        await conn.execute(
            text(
                "INSERT INTO messages (id, call_sid, caller_name, callback_number, message, "
                "urgency, created_at) VALUES ('msg_crown', 'CAcrown', 'Dana Crown-Test', "
                "'+16175550199', 'Crown came loose, please call back', 'urgent', now())"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO appointments (id, service, starts_at, ends_at, slot, customer_name, "
                "customer_phone, status) VALUES ('apt_test', 'Whitening consultation', :at, "
                ":end, 0, 'Tess Appointment', '+16175550123', 'booked')"
            ),
            {"at": TOMORROW_10, "end": TOMORROW_10 + timedelta(minutes=30)},
        )


@pytest.fixture(scope="module")
async def console(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Console]:
    async with running_console(postgres, tmp_path_factory.mktemp("data")) as running:
        await _seed(running)
        yield running


def _call_sids(html: str) -> list[str]:
    return re.findall(r'href="/staff/calls/(CA\w+)"', html)


async def test_calls_are_listed_newest_first_in_pages_that_add_up(console: Console) -> None:
    async with signed_in(console) as http:
        first = await http.get("/staff/calls")
        older = re.search(r'href="([^"]+)" rel="next"', first.text)
        assert older is not None
        second = await http.get(older[1].replace("&amp;", "&"))
        seen = _call_sids(first.text)
        while (more := re.search(r'href="([^"]+)" rel="next"', second.text)) is not None:
            seen += _call_sids(second.text)
            second = await http.get(more[1].replace("&amp;", "&"))
        seen += _call_sids(second.text)
    assert len(_call_sids(first.text)) == PAGE_SIZE
    assert seen[:2] == ["CAlive", "CAcrown"]  # the two newest calls
    assert len(seen) == len(set(seen)) == 62  # every call exactly once over the pages


async def test_a_word_said_in_a_call_finds_it_and_is_highlighted(console: Console) -> None:
    async with signed_in(console) as http:
        found = await http.get("/staff/calls", params={"q": "crown"})
        nothing = await http.get("/staff/calls", params={"q": "zebra"})
    assert "CAcrown" in _call_sids(found.text)
    assert "<mark>crown</mark>" in found.text
    assert "<script>alert" not in found.text
    assert _call_sids(nothing.text) == [] and "No call matches" in nothing.text


@pytest.mark.parametrize(
    ("params", "present", "absent"),
    [
        ({"number": "0199"}, "CAcrown", "CAlive"),
        ({"number": "(617) 555-0199"}, "CAcrown", "CAlive"),
        ({"outcome": "message_taken"}, "CAcrown", "CAlive"),
        ({"date": (NOW - timedelta(days=40)).date().isoformat()}, None, "CAcrown"),
    ],
)
async def test_calls_filter_by_number_outcome_and_day(
    console: Console, params: dict[str, str], present: str | None, absent: str
) -> None:
    async with signed_in(console) as http:
        response = await http.get("/staff/calls", params=params)
    sids = _call_sids(response.text)
    assert absent not in sids
    if present:
        assert present in sids


async def test_a_call_shows_what_was_heard_its_tools_and_its_figures(console: Console) -> None:
    async with signed_in(console) as http:
        page = (await http.get("/staff/calls/CAcrown")).text
    turns = re.findall(r'<span class="text">([^<]*)</span>', page)
    assert turns == [
        "Thanks for calling, how can I help?",
        "My crown came loose &lt;script&gt;alert(1)&lt;/script&gt;",
        "I am so sorry to",
    ]
    assert 'class="turn agent interrupted"' in page and "interrupted: the caller heard" in page
    assert page.index("I am so sorry to") < page.index("<code>take_message</code>")
    assert "&#34;status&#34;: &#34;saved&#34;" in page  # the tool's result, escaped
    assert "Message taken" in page and "3 min 00 s" in page
    assert "812 ms" in page and "$0.43" in page
    model = re.search(r'<dd id="model">(.*?)</dd>', page, re.S)
    assert model is not None
    shown = " ".join(re.sub(r"<[^>]+>", " ", model.group(1)).split())
    assert shown == "gpt-realtime-2.1-mini → gpt-realtime-2.1 (it asked for help, at 00:42)"
    assert 'href="tel:+16175550199"' in page
    assert "live.js" not in page  # a finished call is not polled


async def test_a_call_shows_its_summary_and_the_notifications_sent_about_it(
    console: Console,
) -> None:
    async with signed_in(console) as http:
        page = (await http.get("/staff/calls/CAcrown")).text
    summary = "Dana&#39;s crown came loose &lt;b&gt;this morning&lt;/b&gt;; she left a message."
    assert f'<p id="summary-text">{summary}</p>' in page  # escaped, as all call data
    assert "Call back:</strong> Crown hurts when she chews" in page
    assert page.index("summary-text") < page.index('id="transcript"')  # read before the words
    sent, failed = re.findall(r'<li class="notification (\w+)">', page)
    assert (sent, failed) == ("sent", "failed")
    assert "Message by SMS to +1 617-555-0100" in page
    assert "Message by email to owner@example.com" in page
    assert (
        '<span class="reason">550 5.1.1 &lt;owner@example.com&gt;: mailbox &lt;unavailable&gt;'
        in page
    )
    assert "Summary pending" not in page


async def test_a_call_just_ended_says_its_summary_is_pending_and_the_list_shows_summaries(
    console: Console,
) -> None:
    async with console.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO calls (call_sid, from_number, started_at, ended_at) VALUES "
                "('CApending', '+16175559876', now() - interval '2 minutes', now())"
            )
        )
    try:
        async with signed_in(console) as http:
            pending = (await http.get("/staff/calls/CApending")).text
            listed = (await http.get("/staff/calls", params={"number": "0199"})).text
            old = (await http.get("/staff/calls", params={"number": "9876"})).text
    finally:
        async with console.engine.begin() as conn:
            await conn.execute(text("DELETE FROM calls WHERE call_sid = 'CApending'"))
    assert "Summary pending" in pending and 'id="notifications"' not in pending
    assert '<span class="snippet summary">Dana&#39;s crown came loose' in listed
    assert _call_sids(old) == ["CApending"] and "snippet summary" not in old


async def test_a_call_in_progress_shows_its_transcript_live(console: Console) -> None:
    async with signed_in(console) as http:
        page = (await http.get("/staff/calls/CAlive")).text
        first = (await http.get("/staff/calls/CAlive/live", params={"after": "-1"})).json()
        async with console.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO transcript_turns (call_sid, seq, speaker, text, offset_ms) "
                    "VALUES ('CAlive', 1, 'caller', 'Is Dr. Okafor in today?', 3000)"
                )
            )
        later = (await http.get("/staff/calls/CAlive/live", params={"after": "0"})).json()
        finished = (await http.get("/staff/calls/CAcrown/live", params={"after": "2"})).json()
    assert 'data-live-url="/staff/calls/CAlive/live"' in page and "live.js" in page
    assert [t["text"] for t in first["turns"]] == ["Hello, how can I help?"] and first["live"]
    assert [t["text"] for t in later["turns"]] == ["Is Dr. Okafor in today?"] and later["live"]
    assert finished == {"turns": [], "live": False}


async def test_marking_a_message_handled_records_who_and_when(console: Console) -> None:
    async with signed_in(console) as http:
        open_page = await http.get("/staff/messages")
        assert "Dana Crown-Test" in open_page.text
        assert 'href="tel:+16175550199"' in open_page.text
        done = await http.post(
            "/staff/messages/msg_crown/handled",
            data={"csrf_token": csrf_of(open_page.text), "next": "/staff/messages"},
        )
        after = await http.get(done.headers["location"])
        handled = await http.get("/staff/messages", params={"show": "handled"})
    assert done.status_code == 303
    assert "Marked as handled" in after.text and "Dana Crown-Test" not in after.text
    assert "Dana Crown-Test" in handled.text and f"by {EMAIL}" in handled.text
    async with console.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT handled_at, handled_by FROM messages WHERE id = 'msg_crown'")
            )
        ).one()
    assert row.handled_by == EMAIL
    assert abs((row.handled_at - datetime.now(UTC)).total_seconds()) < 60


async def test_cancelling_an_appointment_frees_its_slot(console: Console) -> None:
    async with signed_in(console) as http:
        listed = await http.get("/staff/appointments")
        assert "Tess Appointment" in listed.text
        confirm = await http.get("/staff/appointments/apt_test/cancel")
        assert "Cancel this appointment?" in confirm.text
        done = await http.post(
            "/staff/appointments/apt_test/cancel", data={"csrf_token": csrf_of(confirm.text)}
        )
        after = await http.get(done.headers["location"])
    assert "Tess Appointment" not in after.text and "can be booked again" in after.text
    async with console.engine.begin() as conn:
        status = (
            await conn.execute(text("SELECT status FROM appointments WHERE id = 'apt_test'"))
        ).scalar_one()
        # The exclusion constraint would refuse this if the cancelled one still held the unit.
        await conn.execute(
            text(
                "INSERT INTO appointments (id, service, starts_at, ends_at, slot, customer_name, "
                "status) VALUES ('apt_again', 'Whitening consultation', :at, :end, 0, 'Next', "
                "'booked')"
            ),
            {"at": TOMORROW_10, "end": TOMORROW_10 + timedelta(minutes=30)},
        )
    assert status == "cancelled"


async def test_today_counts_calls_by_outcome_and_shows_who_is_on_the_line(
    console: Console,
) -> None:
    async with signed_in(console) as http:
        page = (await http.get("/staff/")).text
    assert "On the phone now: 1" in page and "/staff/calls/CAlive" in page
    assert re.search(r'<span class="n">\d+</span> Message taken', page)
    assert "Messages waiting:" in page and "Next appointments" in page


async def test_today_lists_the_notifications_that_failed_this_week(console: Console) -> None:
    async with signed_in(console) as http:
        page = (await http.get("/staff/")).text
    async with console.engine.connect() as conn:
        failed = await conn.scalar(
            text(
                "SELECT count(*) FROM notifications WHERE status = 'failed' "
                "AND created_at > now() - interval '7 days'"
            )
        )
    assert f"Notifications that failed: {failed}</h2>" in page
    section = page[page.index('id="failed-notifications"') :]
    assert "Message by email to owner@example.com" in section
    assert "mailbox &lt;unavailable&gt;" in section
    assert 'href="/staff/calls/CAcrown">See the call</a>' in section


async def test_today_has_no_failed_notifications_section_when_none_failed_this_week(
    console: Console,
) -> None:
    async with console.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE notifications SET created_at = created_at - interval '100 days' "
                "WHERE status = 'failed'"
            )
        )
    try:
        async with signed_in(console) as http:
            page = (await http.get("/staff/")).text
    finally:
        async with console.engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE notifications SET created_at = created_at + interval '100 days' "
                    "WHERE status = 'failed'"
                )
            )
    assert "Calls today" in page and "Notifications that failed" not in page


async def test_an_unknown_call_or_appointment_is_a_friendly_404(console: Console) -> None:
    async with signed_in(console) as http:
        call = await http.get("/staff/calls/CAnope")
        appointment = await http.get("/staff/appointments/apt_nope/cancel")
    assert call.status_code == appointment.status_code == 404
    assert "Not found" in call.text


@pytest.mark.parametrize(
    "path",
    [
        "/staff/calls?before=garbage",
        "/staff/calls?date=not-a-date&outcome=nonsense",
        "/staff/messages?show=handled&page=-1",
        "/staff/appointments?from=yesterday",
        "/staff/calls/CAlive/live?after=x",
    ],
)
async def test_odd_query_parameters_fall_back_to_defaults(console: Console, path: str) -> None:
    async with signed_in(console) as http:
        assert (await http.get(path)).status_code == 200
