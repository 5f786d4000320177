"""fly-replay answers of one Machine, the loop guard, serving where it landed, the Machine check,
and stream tokens single-use across Machines (a real Postgres)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.config import load_settings
from app.db.engine import make_engine
from app.db.stream_tokens import UsedTokens
from app.fleet.dns import DnsError, has_aaaa, parse_server
from app.fleet.machines import Machines, machine_in_path, machine_of
from app.twilio.tokens import StreamTokens
from tests.doubles.fly_dns import FlyDnsDouble
from tests.doubles.harness import CallHarness

ME, OTHER, GONE = "e784079b449483", "3d8d9e7ae62548", "9080e3a4c55d87"


@pytest.fixture
async def fleet_harness(db_url: str, tmp_path: Path) -> AsyncIterator[CallHarness]:
    async with (
        FlyDnsDouble("rx", lambda: {ME, OTHER}) as dns,
        CallHarness(
            db_url, tmp_path, fly_machine_id=ME, fly_app_name="rx", fly_dns_server=dns.server
        ) as h,
    ):
        yield h


async def test_the_webhook_hands_out_urls_naming_this_machine(fleet_harness: CallHarness) -> None:
    async with fleet_harness.caller() as caller:
        twiml = await caller.dial()
    base = fleet_harness.base_url
    assert twiml.stream_url == f"{base.replace('http', 'ws')}/m/{ME}/twilio/stream"
    assert twiml.connect_action == f"{base}/m/{ME}/twilio/stream-ended"


async def test_a_request_for_a_call_held_by_a_running_machine_is_replayed_there(
    fleet_harness: CallHarness,
) -> None:
    base = fleet_harness.base_url
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{base}/m/{OTHER}/twilio/stream-ended", data={"CallSid": "CA1"})
    assert response.status_code == 409 and response.headers["fly-replay"] == f"instance={OTHER}"
    # A WebSocket upgrade is answered the same way, before it is accepted.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{base.replace('http', 'ws')}/m/{OTHER}/twilio/stream"):
            pass
    assert refused.value.response.status_code == 409
    assert refused.value.response.headers["fly-replay"] == f"instance={OTHER}"


async def test_a_replayed_request_or_one_for_a_machine_that_is_gone_is_served_here(
    fleet_harness: CallHarness,
) -> None:
    base = fleet_harness.base_url
    async with fleet_harness.caller() as caller:
        await caller.dial()
        replayed = await caller._http.post(  # type: ignore[union-attr]
            f"{base}/m/{OTHER}/twilio/stream-ended",
            data=caller.call_params(),
            headers={
                "fly-replay-src": f"instance={ME};region=iad;t=1",
                "X-Twilio-Signature": caller.sign(
                    f"{base}/m/{OTHER}/twilio/stream-ended", caller.call_params()
                ),
            },
        )
        gone = await caller.post_webhook(f"/m/{GONE}/twilio/stream-ended")
    for response in (replayed, gone):
        assert response.status_code == 200 and "fly-replay" not in response.headers
        assert response.text.startswith("<?xml")


def test_machine_ids_are_read_from_call_scoped_paths_only() -> None:
    assert machine_in_path(f"/m/{ME}/twilio/stream") == ME
    for path in ("/twilio/stream", "/m//twilio", "/m/ABC/twilio", "/m/x.y/twilio", "/mm/a/b"):
        assert machine_in_path(path) is None


def test_a_browser_page_pins_its_requests_with_a_machine_parameter() -> None:
    assert machine_of("/staff/phone/stream", f"machine={ME}".encode()) == ME
    assert machine_of("/staff/phone/calls/CA1/dial", f"a=1&machine={ME}".encode()) == ME
    assert machine_of(f"/m/{ME}/twilio/stream", b"machine=other") == ME  # the path wins
    for wrong in (b"", b"machine=", b"machine=ABC", b"machine=a%2Fb", b"machines=abc"):
        assert machine_of("/staff/phone/stream", wrong) is None


def test_without_fly_machine_id_nothing_changes() -> None:
    machines = Machines(load_settings(_env_file=None))
    assert not machines.enabled and machines.call_base("https://h") == "https://h"


async def test_the_machine_check_caches_and_counts_an_unanswered_lookup_as_gone() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # never answers
        silent.bind(("127.0.0.1", 0))
        server = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(DnsError):
            await has_aaaa(server, f"{OTHER}.vm.rx.internal", 0.2)
        settings = load_settings(
            _env_file=None, fly_machine_id=ME, fly_app_name="rx", fly_dns_server=server
        )
        machines = Machines(settings)
        assert not await machines.is_running(OTHER)
        assert await machines.is_running(ME)  # itself, without asking
    async with FlyDnsDouble("rx", lambda: {OTHER}) as dns:
        settings = load_settings(
            _env_file=None, fly_machine_id=ME, fly_app_name="rx", fly_dns_server=dns.server
        )
        machines = Machines(settings)
        assert await machines.is_running(OTHER) and await machines.is_running(OTHER)
        assert not await machines.is_running(GONE)
        assert machines.lookups == 2 and dns.queries == [
            f"{OTHER}.vm.rx.internal",
            f"{GONE}.vm.rx.internal",
        ]


def test_the_dns_server_setting_takes_host_and_port() -> None:
    assert parse_server("fdaa::3") == ("fdaa::3", 53)
    assert parse_server("[fdaa::3]:5353") == ("fdaa::3", 5353)
    assert parse_server("127.0.0.1:5353") == ("127.0.0.1", 5353)


def test_the_dns_double_answers_in_a_wire_format_dnspython_reads() -> None:
    double = FlyDnsDouble("rx", lambda: {"a"})
    query = dns.message.make_query("a.vm.rx.internal", dns.rdatatype.AAAA)
    reply = dns.message.from_wire(double.answer(query.to_wire()))
    assert query.is_response(reply) and reply.rcode() == dns.rcode.NOERROR
    [answer] = reply.answer
    assert answer.rdtype == dns.rdatatype.AAAA and str(answer[0]).startswith("fdaa:")
    query = dns.message.make_query("b.vm.rx.internal", dns.rdatatype.AAAA)
    reply = dns.message.from_wire(double.answer(query.to_wire()))
    assert query.is_response(reply) and reply.rcode() == dns.rcode.NXDOMAIN


async def test_has_aaaa_through_dnspython_against_the_double() -> None:
    async with FlyDnsDouble("rx", lambda: {OTHER}) as double:
        assert await has_aaaa(double.server, f"{OTHER}.vm.rx.internal", 1.0)
        assert not await has_aaaa(double.server, f"{GONE}.vm.rx.internal", 1.0)  # NXDOMAIN
        assert not await has_aaaa(double.server, "elsewhere.example", 1.0)
    assert double.queries[0] == f"{OTHER}.vm.rx.internal"


async def test_a_stream_token_is_single_use_across_machines(engine: AsyncEngine) -> None:
    a, b = StreamTokens(b"k", 60), StreamTokens(b"k", 60)
    token = a.issue("CA1", disclose_recording=True, machine_id=ME)
    on_a, on_b = a.redeem("CA1", token), b.redeem("CA1", token)
    assert on_a is not None and on_b is not None  # each process sees it for the first time
    used = UsedTokens(engine)
    assert await used.first_use(on_a.token_id, on_a.expires)
    assert not await used.first_use(on_b.token_id, on_b.expires)  # the other Machine refuses


async def test_a_stream_is_not_refused_because_the_database_is_away() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    engine = make_engine(f"postgresql+asyncpg://u:p@127.0.0.1:{port}/none")
    try:
        started = asyncio.get_running_loop().time()
        assert await UsedTokens(engine, budget=0.5).first_use("t", 2_000_000_000)
        assert asyncio.get_running_loop().time() - started < 1.0
    finally:
        with contextlib.suppress(Exception):
            await engine.dispose()
