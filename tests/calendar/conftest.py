"""A real CalDAV server (Radicale) for every calendar test of the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.calendar.radicale import Radicale, running_radicale


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    with running_radicale(tmp_path_factory.mktemp("radicale")) as server:
        yield server


@pytest.fixture
def calendar_url(radicale: Radicale) -> str:
    return radicale.new_calendar()
