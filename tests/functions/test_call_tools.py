"""take_message, end_call and transfer_to_human, as the model calls them.

Over real HTTP, against the built-in backend or a misbehaving fake one (tool_support.py).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.functions.business_client import BusinessClient
from tests.functions.tool_support import CALL, CALLER, call, db_saver, make_ctx

# -- take_message, end_call, transfer_to_human -------------------------------------------------


async def test_a_message_is_stored_once_even_when_the_call_is_replayed(
    builtin: BusinessClient, engine: AsyncEngine
) -> None:
    ctx = make_ctx(builtin, save=db_saver(engine), tool_call_id="call_9")
    args = {"caller_name": "Bo", "message": "Please call about my bill", "urgency": "urgent"}
    first = await call(ctx, "take_message", **args)
    again = await call(ctx, "take_message", **args)
    assert first == again
    assert first.outcome == (
        "message_taken",
        {"message_id": f"msg_{CALL}_call_9", "urgency": "urgent"},
    )
    assert first.output["say"] == (
        "Message saved. Tell Bo the team will call back as soon as possible on the number "
        "ending 0199."
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM messages"))).mappings().all()
    assert [(r["call_sid"], r["callback_number"], r["message"], r["urgency"]) for r in rows] == [
        (CALL, CALLER, "Please call about my bill", "urgent")
    ]


async def test_a_message_needs_a_callback_number_when_caller_id_is_hidden(
    builtin: BusinessClient,
) -> None:
    ctx = make_ctx(builtin, caller=None)
    result = await call(ctx, "take_message", caller_name="Bo", message="hi")
    assert result.output["error"] == "needs_callback_number"


async def test_end_call_asks_for_a_goodbye_and_ends_the_call(builtin: BusinessClient) -> None:
    result = await call(make_ctx(builtin), "end_call", reason="caller said goodbye")
    assert (result.ok, result.effect) == (True, "end_call")
    assert "goodbye" in result.output["say"]


async def test_transfer_connects_when_someone_can_take_the_call(builtin: BusinessClient) -> None:
    result = await call(
        make_ctx(builtin), "transfer_to_human", reason="billing", summary="Bo, bill"
    )
    assert (result.ok, result.effect) == (True, "transfer")
    assert "connecting" in result.output["say"]


async def test_transfer_outside_transfer_hours_offers_a_message(builtin: BusinessClient) -> None:
    ctx = make_ctx(builtin, transfer=False)
    result = await call(ctx, "transfer_to_human", reason="billing", summary="Bo, bill")
    assert (result.ok, result.effect) == (False, None)
    assert result.output["error"] == "transfer_unavailable"
    assert result.output["offer"] == ["take_message"]
