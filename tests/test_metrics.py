"""Prometheus metrics: a scrape during a real call over the doubles, on a port of their own."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import Metrics, label, route_label
from tests.doubles.harness import CallHarness, until_quiet
from tests.doubles.realtime.config import AudioReply, FakeRealtimeConfig, FunctionCallReply
from tests.doubles.server import free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(exposition: str) -> Samples:
    """Every sample of a scrape, by name and sorted labels (the official parser reads it)."""
    found: Samples = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_scrape_during_a_call_shows_it_live_its_latencies_and_a_tool_error(
    db_url: str, tmp_path: Path
) -> None:
    config = FakeRealtimeConfig(
        greeting=AudioReply("Hi, how can I help?", 400),
        caller_transcripts=["Is Tuesday free?", "Thanks."],
        replies=[
            # Not a date: the tool refuses its arguments, which is a tool error.
            FunctionCallReply("check_availability", {"service": "Cleaning", "date": "someday"}),
            AudioReply("Sorry, which day did you mean?", 600),
            AudioReply("Bye!", 300),
        ],
    )
    port = free_port()
    async with CallHarness(db_url, tmp_path, model_config=config, metrics_port=port) as h:
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        async with h.caller() as caller, httpx.AsyncClient(trust_env=False) as http:
            await caller.call()
            await caller.wait_until_heard(400)
            await caller.say_and_wait(600)
            await until_quiet(caller)
            during = await http.get(metrics_url)
            # The metrics port serves nothing else, and the public port has no /metrics.
            assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 404
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 404
            assert (await http.post(metrics_url)).status_code in (404, 405)
            assert (await http.get(f"{h.base_url}/metrics")).status_code == 404
            await caller.hangup()
        await h.wait_call_ended(caller.call_sid)
        async with httpx.AsyncClient(trust_env=False) as http:
            after = (await http.get(metrics_url)).text
        # The turn latency is stored per agent turn as well.
        stored = await h.fetch(
            "SELECT latency_ms FROM transcript_turns WHERE call_sid = :s AND speaker = 'agent' "
            "AND latency_ms IS NOT NULL",
            s=caller.call_sid,
        )
    assert during.status_code == 200
    assert during.headers["content-type"].startswith("text/plain")
    live = samples(during.text)
    assert value(live, "receptionist_calls_active", channel="phone") == 1
    assert value(live, "receptionist_calls_started_total", channel="phone") == 1
    assert value(live, "receptionist_greeting_seconds_count", channel="phone") == 1
    assert value(live, "receptionist_turn_latency_seconds_count", channel="phone") >= 1
    assert (
        value(
            live,
            "receptionist_tool_errors_total",
            tool="check_availability",
            kind="invalid_arguments",
        )
        == 1
    )
    assert value(live, "receptionist_tool_duration_seconds_count", tool="check_availability") == 1
    assert value(live, "receptionist_relay_frame_seconds_count", direction="to_model") >= 1
    assert value(live, "receptionist_relay_frame_seconds_count", direction="to_caller") >= 1
    assert value(live, "receptionist_writer_queue_depth") >= 0
    assert ("receptionist_notifications_pending", (("channel", "sms"),)) in live
    ended = samples(after)
    assert value(ended, "receptionist_calls_active", channel="phone") == 0
    assert (
        value(
            ended,
            "receptionist_calls_ended_total",
            channel="phone",
            outcome="no_resolution",
            end_reason="caller_hangup",
        )
        == 1
    )
    assert value(ended, "receptionist_call_duration_seconds_count", channel="phone") == 1
    model = h.settings.openai_realtime_model
    assert value(ended, "receptionist_spend_usd_total", model=model) > 0
    # Instruments without identities: no sid, number or free text in any label.
    for exposition in (during.text, after):
        labels = " ".join(re.findall(r"\{([^}]*)\}", exposition))
        assert caller.call_sid not in exposition
        assert not re.search(r"(CA|MZ|PN|AC)[0-9a-f]{32}", labels)
        assert not re.search(r"\+?\d{7,}", labels)
        assert "Tuesday" not in exposition and "someday" not in exposition
    assert stored and all(0 <= row["latency_ms"] < 5000 for row in stored)


def test_labels_cannot_carry_identities() -> None:
    assert label("+15551234567") == "other"
    assert label("CA" + "0" * 32) == "other"
    assert label("timeout") == "timeout"
    assert label("Some free text") == "other"
    assert label("phone", {"phone"}) == "phone" and label("fax", {"phone"}) == "other"
    assert route_label("/m/abc123/twilio/transfer/done") == "transfer_done"
    assert route_label("/twilio/stream-ended") == "stream_ended"


def test_each_service_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.calls_started.labels("phone").inc()
    assert two.calls_started.labels("phone")._value.get() == 0


async def test_a_taken_metrics_port_leaves_the_service_running(db_url: str, tmp_path: Path) -> None:
    """Calls matter more than their instruments: the port is logged as unavailable, no more."""
    blocker = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    blocker.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    blocker.bind(("::", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        async with (
            CallHarness(db_url, tmp_path, metrics_port=port) as h,
            httpx.AsyncClient(trust_env=False) as http,
        ):
            assert (await http.get(f"{h.base_url}/healthz")).status_code == 200
            async with h.caller() as caller:
                await caller.call()
                await caller.wait_for_audio(100)
                await caller.hangup()
            await h.wait_call_ended(caller.call_sid)
    finally:
        blocker.close()
