"""Fixtures of the doubles' tests: the tiny Twilio-facing service and a fake caller dialling it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.doubles.server import free_port, serve_app
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.test_doubles.twilio_service import TOKEN, Service, make_app


@pytest.fixture(scope="module")
async def service() -> AsyncIterator[Service]:
    svc = Service(free_port())
    async with serve_app(make_app(svc), port=svc.port):
        yield svc


@pytest.fixture
async def caller(service: Service) -> AsyncIterator[FakeTwilioCaller]:
    async with FakeTwilioCaller(service.base_url, TOKEN) as fake:
        yield fake
    assert fake.protocol_errors == []
