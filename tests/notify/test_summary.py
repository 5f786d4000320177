"""Summaries: the request the API accepts, the answer parsed and priced, failures never block."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.notify.summarizer import Summarizer
from app.notify.summary_client import SummaryClient, SummaryError, estimate_cost
from tests.doubles.openai_text import FakeOpenAIText
from tests.notify.support import add_call, notification_rows, plan


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def client(api: FakeOpenAIText, http: httpx.AsyncClient, timeout: float = 5.0) -> SummaryClient:
    return SummaryClient(http, api.base_url, api.api_key, "gpt-4.1-mini", timeout=timeout)


async def add_turns(engine: AsyncEngine, sid: str, caller_says: str | None) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO transcript_turns (call_sid, seq, speaker, text, offset_ms) "
                "VALUES (:sid, 0, 'agent', 'Hi, how can I help?', 0)"
            ),
            {"sid": sid},
        )
        if caller_says:
            await conn.execute(
                text(
                    "INSERT INTO transcript_turns (call_sid, seq, speaker, text, offset_ms) "
                    "VALUES (:sid, 1, 'caller', :said, 900)"
                ),
                {"sid": sid, "said": caller_says},
            )


async def call_row(engine: AsyncEngine, sid: str) -> dict[str, object]:
    async with engine.connect() as conn:
        row = await conn.execute(text("SELECT * FROM calls WHERE call_sid = :s"), {"s": sid})
        return dict(row.mappings().one())


async def test_the_request_is_one_the_api_accepts_and_the_answer_is_parsed_and_priced(
    http: httpx.AsyncClient,
) -> None:
    async with FakeOpenAIText() as api:
        summary = await client(api, http).summarise("Caller: Please call me back.")
    assert api.violations == []
    [request] = api.requests
    assert request["response_format"]["json_schema"]["strict"] is True
    assert summary.summary == "A caller left a message."
    assert summary.callback_needed is True
    assert summary.cost_usd > 0


async def test_the_default_reasoning_model_is_asked_for_little_thought_and_room_to_answer(
    http: httpx.AsyncClient,
) -> None:
    """A reasoning model's thinking counts against max_completion_tokens: low effort, more room."""
    async with FakeOpenAIText() as api:
        default = SummaryClient(http, api.base_url, api.api_key, "gpt-5.4-mini")
        summary = await default.summarise("Caller: Please call me back.")
        await client(api, http).summarise("Caller: Hello.")
    assert api.violations == []
    reasoning, older = api.requests
    assert reasoning["reasoning_effort"] == "low" and reasoning["max_completion_tokens"] == 2000
    assert "reasoning_effort" not in older and older["max_completion_tokens"] == 400
    assert summary.cost_usd > 0


def test_the_default_summary_model_is_priced_from_its_own_row() -> None:
    assert estimate_cost("gpt-5.4-mini", 1_000_000, 0, 1_000_000) == Decimal("5.25")
    assert estimate_cost("gpt-5.4-mini-2026-03-17", 0, 0, 1_000_000) == Decimal("4.50")


def test_cost_uses_the_model_family_price_and_errs_high_for_unknown_models() -> None:
    assert estimate_cost("gpt-4.1-mini-2025-04-14", 1_000_000, 0, 0) == Decimal("0.40")
    assert estimate_cost("gpt-4.1-mini", 0, 0, 1_000_000) == Decimal("1.60")
    assert estimate_cost("some-new-model", 1_000_000, 0, 0) == Decimal("2.00")


@pytest.mark.parametrize("mode", ["error", "unauthorized", "refusal", "malformed", "stall"])
async def test_every_kind_of_failure_is_a_summary_error(http: httpx.AsyncClient, mode: str) -> None:
    async with FakeOpenAIText(mode=mode) as api:  # type: ignore[arg-type]
        with pytest.raises(SummaryError):
            await client(api, http, timeout=1.0).summarise("Caller: hello")


async def test_an_ended_call_is_summarised_once_and_its_cost_added(
    engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    await add_call(engine, "CA_s1")
    await add_turns(engine, "CA_s1", "My tap is leaking, please call me.")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE calls SET estimated_cost_usd = 0.0100"))
    async with FakeOpenAIText() as api:
        summarizer = Summarizer(engine, client(api, http), plan())
        assert await summarizer.summarise_due() == 1
        assert await summarizer.summarise_due() == 0
    row = await call_row(engine, "CA_s1")
    assert row["summary"] == "A caller left a message." and row["summary_status"] == "done"
    assert row["estimated_cost_usd"] > Decimal("0.0100")
    assert "Caller: My tap is leaking" in api.requests[0]["messages"][1]["content"]
    # Nobody else tells the owner about this call, and it needs a call back: one is written.
    kinds = {(r["kind"], r["channel"]) for r in await notification_rows(engine)}
    assert kinds == {("callback_needed", "sms"), ("callback_needed", "email")}


async def test_a_call_where_the_caller_said_nothing_is_skipped_without_a_model_call(
    engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    await add_call(engine, "CA_s2")
    await add_turns(engine, "CA_s2", None)
    async with FakeOpenAIText() as api:
        assert await Summarizer(engine, client(api, http), plan()).summarise_due() == 1
    assert api.requests == []
    assert (await call_row(engine, "CA_s2"))["summary_status"] == "skipped"


async def test_a_failing_summary_is_retried_then_marked_failed_and_releases_notifications(
    engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    await add_call(engine, "CA_s3")
    await add_turns(engine, "CA_s3", "Hello?")
    async with FakeOpenAIText(mode="error") as api:
        await Summarizer(engine, client(api, http), plan()).summarise_due()
    assert len(api.requests) == 2
    row = await call_row(engine, "CA_s3")
    assert row["summary_status"] == "failed" and row["summary"] is None
