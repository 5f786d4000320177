"""Resource hygiene: after many calls of every kind, nothing is left behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"


async def test_no_tasks_sockets_or_model_sessions_leak_after_many_calls(
    db_url: str, tmp_path: Path
) -> None:
    config = FakeRealtimeConfig(greeting=AudioReply("Hi!", 300), replies=[])
    async with CallHarness(
        db_url, tmp_path, model_config=config, business_profile=PROFILE, preconnect_ttl_seconds=1
    ) as h:
        await asyncio.sleep(0.5)
        baseline = len(asyncio.all_tasks())

        async def talk_and_hang_up() -> None:
            async with h.caller() as caller:
                await caller.call()
                await caller.wait_until_heard(300)
                await caller.say_and_wait(400)
                await until_quiet(caller, quiet=0.4)
                await caller.hangup()

        async def drop() -> None:
            async with h.caller() as caller:
                await caller.call()
                await caller.wait_for_audio(100)
                await caller.drop()

        async def rejected() -> None:
            async with h.caller() as caller:
                assert (await caller.post_webhook(sign=False)).status_code == 403

        async def never_streams() -> None:
            async with h.caller() as caller:
                await caller.dial()  # the pre-opened session must close itself

        for _ in range(3):
            await asyncio.gather(
                *(f() for f in (talk_and_hang_up, drop, rejected, never_streams) for _ in range(3))
            )
        async with asyncio.timeout(15):
            while h.model.open_sessions() or h.runtime.calls_in_progress:
                await asyncio.sleep(0.1)
        await h.flush()
        await asyncio.sleep(0.5)
        leftover = len(asyncio.all_tasks())
        assert h.runtime.active_calls == {}
        assert len(h.runtime.prepared) == 0
        assert h.model.open_sessions() == []
        assert len(h.model.sessions) == 3 * 9  # every dialled call opened exactly one session
        assert h.runtime.prepared.expired == 3 * 3
        assert leftover <= baseline + 1, [t.get_name() for t in asyncio.all_tasks()]
        ended = await h.fetch("SELECT count(*) AS n FROM calls WHERE ended_at IS NOT NULL")
        assert ended[0]["n"] == 3 * 6  # talked + dropped calls are all finalised
