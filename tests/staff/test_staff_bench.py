"""benchmarks/console.py run tiny through the same code: every page answers; no timing asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.db.embedded import EmbeddedPostgres
from benchmarks import console
from tests.conftest import create_database


async def test_the_console_benchmark_times_every_page(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    url = await create_database(postgres, "bench")
    report = await console.run(calls=40, turns=8, requests=2, database_url=url, data_dir=tmp_path)
    assert report.data.startswith("40 calls, ")
    assert len(report.pages) == 15 and all(p.requests == 2 for p in report.pages)
    assert all(p.server_p50_ms > 0 and p.bytes > 0 for p in report.pages)
    assert "search, common word" in report.table()
    assert report.search_plan.startswith("Limit")  # the plan of the search query is printed


def test_the_benchmark_refuses_nonsense_arguments() -> None:
    with pytest.raises(SystemExit):
        console.main(["--calls", "0"])
