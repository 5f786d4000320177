"""Calls turned away at the webhook: `<Reject reason="busy"/>`, no model session, counted.

Real uvicorn + Postgres and the OpenAI double (which counts every session opened).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from tests.doubles.harness import AUTH_TOKEN, CallHarness
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.config import CallerConfig

SPAMMER = "+15550001111"


def greeting_only() -> FakeRealtimeConfig:
    return FakeRealtimeConfig(greeting=AudioReply("Hi, how can I help?", 400))


async def block(h: CallHarness, number: str) -> None:
    async with h.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO callers (number, blocked_at) VALUES (:n, now())"), {"n": number}
        )


async def webhook(
    h: CallHarness, config: CallerConfig, http: httpx.AsyncClient | None = None
) -> tuple[str, float, str]:
    """Post the incoming-call webhook; the TwiML, the time it took (ms), and the CallSid.

    With `http`, over its kept-alive connection, as Twilio's webhooks mostly arrive."""
    async with FakeTwilioCaller(h.base_url, AUTH_TOKEN, config, http=http) as caller:
        started = time.perf_counter()
        response = await caller.post_webhook()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200
        return response.text, elapsed, caller.call_sid


async def rejected_row(h: CallHarness, call_sid: str) -> dict[str, Any] | None:
    await h.flush()
    return await h.fetch_one(
        "SELECT c.end_reason, c.ended_at IS NOT NULL AS ended, c.stir_verstat, o.outcome, "
        "o.detail FROM calls c JOIN call_outcomes o USING (call_sid) WHERE c.call_sid = :s",
        s=call_sid,
    )


async def test_a_blocked_number_is_rejected_fast_with_no_model_session(
    db_url: str, tmp_path: Path
) -> None:
    async with CallHarness(db_url, tmp_path, model_config=greeting_only()) as h:
        await block(h, SPAMMER)
        timings = []
        async with httpx.AsyncClient() as http:
            for _ in range(5):  # warm the connection pool, as on a running service
                await webhook(h, CallerConfig(from_number=SPAMMER), http)
            for _ in range(100):
                xml, ms, sid = await webhook(h, CallerConfig(from_number=SPAMMER), http)
                timings.append(ms)
        await asyncio.sleep(0.2)
        sessions = len(h.model.sessions)
        row = await rejected_row(h, sid)
        # A caller not blocked still gets the stream (the check does not turn everyone away).
        answered, _, _ = await webhook(h, CallerConfig(from_number="+15550002222"))
        rejected = await h.fetch_one("SELECT count(*) AS n FROM calls WHERE end_reason = 'blocked'")
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"blocked webhook <Reject>: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {timings[-1]:.1f} ms")
    assert '<Reject reason="busy" />' in xml and "<Connect" not in xml
    assert sessions == 0  # no model session was ever opened: nothing to pay
    assert row == {
        "end_reason": "blocked",
        "ended": True,
        "stir_verstat": None,
        "outcome": "rejected",
        "detail": {"reason": "blocked"},
    }
    assert rejected == {"n": 105}
    assert "<Connect " in answered
    # The bound is 50 ms; asserted generously so a busy machine does not flake it.
    assert p50 < 50, f"p50 {p50:.1f} ms"
    assert p99 < 500, f"p99 {p99:.1f} ms"


async def test_anonymous_callers_answered_by_default_rejected_when_set(
    db_url: str, tmp_path: Path
) -> None:
    async with CallHarness(db_url, tmp_path, model_config=greeting_only()) as h:
        xml, _, _ = await webhook(h, CallerConfig(from_number="anonymous"))
        assert "<Connect " in xml
    async with CallHarness(
        db_url, tmp_path, model_config=greeting_only(), anonymous_callers="reject"
    ) as h:
        for withheld in ("anonymous", "+266696687", "Restricted", "Unknown", ""):
            xml, _, sid = await webhook(h, CallerConfig(from_number=withheld))
            assert '<Reject reason="busy" />' in xml, withheld
        row = await rejected_row(h, sid)
        # A real number still gets through.
        xml, _, _ = await webhook(h, CallerConfig(from_number="+15550002222"))
        assert "<Connect " in xml
        await asyncio.sleep(0.2)
        assert len(h.model.sessions) == 1
    assert row is not None and row["end_reason"] == "anonymous" and row["outcome"] == "rejected"


async def test_spam_policy_rejects_a_failed_caller_id_only(db_url: str, tmp_path: Path) -> None:
    failed = {"StirVerstat": "TN-Validation-Failed-B"}
    async with CallHarness(db_url, tmp_path, model_config=greeting_only()) as h:
        # SPAM_POLICY=off (the default): answered, and the verdict is kept on the call.
        xml, _, sid = await webhook(h, CallerConfig(extra_params=failed))
        assert "<Connect " in xml
        await h.flush()
        row = await h.fetch_one("SELECT stir_verstat FROM calls WHERE call_sid = :s", s=sid)
        assert row == {"stir_verstat": "TN-Validation-Failed-B"}
    async with CallHarness(
        db_url, tmp_path, model_config=greeting_only(), spam_policy="reject-failed"
    ) as h:
        for verstat in ("TN-Validation-Failed-A", "TN-Validation-Failed-C", "TN-Validation-Failed"):
            xml, _, sid = await webhook(h, CallerConfig(extra_params={"StirVerstat": verstat}))
            assert '<Reject reason="busy" />' in xml, verstat
        row = await rejected_row(h, sid)
        for verstat in ("TN-Validation-Passed-A", "TN-Validation-Passed-C", "No-TN-Validation"):
            xml, _, _ = await webhook(h, CallerConfig(extra_params={"StirVerstat": verstat}))
            assert "<Connect " in xml, verstat
        xml, _, _ = await webhook(h, CallerConfig())  # no StirVerstat at all: no data, answered
        assert "<Connect " in xml
    assert row is not None
    assert (row["end_reason"], row["outcome"], row["stir_verstat"]) == (
        "spam",
        "rejected",
        "TN-Validation-Failed",
    )
