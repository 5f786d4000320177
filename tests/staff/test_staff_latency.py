"""Turn latency in the console: per agent turn on the call page, p50/p90 of the day on Today."""

from __future__ import annotations

from pathlib import Path

from console_kit import running_console, signed_in
from sqlalchemy import text

from app.db.embedded import EmbeddedPostgres


async def test_each_answer_shows_its_latency_and_today_its_p50_and_p90(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    async with running_console(postgres, tmp_path) as console, signed_in(console) as http:
        empty = (await http.get("/staff/")).text
        async with console.engine.begin() as conn:
            await conn.execute(text("INSERT INTO calls (call_sid) VALUES ('CAfast')"))
            await conn.execute(
                text(
                    "INSERT INTO transcript_turns (call_sid, seq, speaker, text, offset_ms, "
                    "latency_ms) VALUES "
                    "('CAfast', 0, 'agent', 'Hello, how can I help?', 100, NULL), "
                    "('CAfast', 1, 'caller', 'Are you open?', 2000, NULL), "
                    "('CAfast', 2, 'agent', 'Yes until five.', 3000, 400), "
                    "('CAfast', 3, 'caller', 'Saturday?', 5000, NULL), "
                    "('CAfast', 4, 'agent', 'Nine to one.', 6000, 600), "
                    "('CAfast', 5, 'agent', 'Anything else?', 8000, 1000), "
                    "('CAfast', 6, 'agent', 'Goodbye.', 9000, 2000)"
                )
            )
        call = (await http.get("/staff/calls/CAfast")).text
        today = (await http.get("/staff/")).text
    assert "Answer time today" not in empty  # nothing to show before any answer
    assert call.count("answered in") == 4 and "answered in 400 ms" in call
    assert "answered in 2000 ms" in call
    # percentile_cont over 400, 600, 1000, 2000: p50 800, p90 1700.
    assert "<strong>800 ms</strong> typical (p50)" in today
    assert "<strong>1700 ms</strong> slowest 10% (p90), over 4 answers" in today
