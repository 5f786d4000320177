"""The Prometheus registry of one process and the instruments the service feeds.

One `Metrics` per runtime (built by app.compose), each with its own registry, so two services in
one process (tests) never share counts. Labels hold only small fixed sets of values (a channel,
an outcome, a tool of the registry, an error kind): never a call sid, a phone number or free
text (`label` below squeezes anything else to "other"). Per-call detail lives in Postgres.

The audio path pays for one thing here: one relayed frame in `FRAME_SAMPLE` is timed
(app/call/meter.py); everything else is counted per call, per turn or per tool call, or read
when Prometheus scrapes (app/metrics_endpoint.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

PREFIX = "receptionist"
# One frame in FRAME_SAMPLE is timed on each direction of the relay (a power of two: a mask).
FRAME_SAMPLE = 16
CHANNELS = frozenset({"phone", "dev_phone"})
_LABEL = re.compile(r"[a-z][a-z_]{0,39}")  # words: no digits, so no sid or number
# Seconds; a phone conversation's latencies live between 100 ms and a few seconds.
LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
FRAME_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
TOOL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
DURATION_BUCKETS = (10, 30, 60, 120, 180, 300, 600, 900, 1800)


def label(value: object, allowed: Iterable[str] | None = None) -> str:
    """A label value that cannot carry an identity: a known word, or "other"."""
    text = str(value or "").lower()
    if allowed is not None:
        return text if text in allowed else "other"
    return text if _LABEL.fullmatch(text) else "other"


def route_label(path: str) -> str:
    """A Twilio route as a label: `/m/<machine>/twilio/transfer/done` -> `transfer_done`."""
    tail = path.rsplit("/twilio/", 1)[-1]
    return label(tail.replace("/", "_").replace("-", "_"))


def channel_label(channel: str) -> str:
    return label(channel, CHANNELS)


class Metrics:
    """Every family the service exports (docs/operations.md lists them with their alerts)."""

    def __init__(self, tool_names: Iterable[str] = (), *, frame_sampling: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._tools = frozenset(tool_names)
        # Off (METRICS_PORT=0): the relay times no frame at all (the benchmark's "without").
        self.frame_sampling = frame_sampling
        r = self.registry
        p = PREFIX
        # --- calls ---
        self.calls_started = Counter(
            f"{p}_calls_started", "Calls whose stream started.", ["channel"], registry=r
        )
        self.calls_ended = Counter(
            f"{p}_calls_ended",
            "Calls ended, by outcome and end reason.",
            ["channel", "outcome", "end_reason"],
            registry=r,
        )
        self.calls_rejected = Counter(
            f"{p}_calls_rejected",
            "Calls turned away before the agent (capacity, draining; blocked, anonymous, spam).",
            ["reason"],
            registry=r,
        )
        self.call_duration = Histogram(
            f"{p}_call_duration_seconds",
            "Length of a call on the agent, stream start to end.",
            ["channel"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        # --- latency ---
        self.greeting = Histogram(
            f"{p}_greeting_seconds",
            "Stream start to the first agent audio sent to the caller.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.turn_latency = Histogram(
            f"{p}_turn_latency_seconds",
            "The caller stopped speaking (the model's VAD) to the first agent audio sent.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.relay_frame = Histogram(
            f"{p}_relay_frame_seconds",
            f"Time a frame spends in this process (1 frame in {FRAME_SAMPLE} is timed).",
            ["direction"],
            buckets=FRAME_BUCKETS,
            registry=r,
        )
        self.tool_duration = Histogram(
            f"{p}_tool_duration_seconds",
            "Tool call duration, by tool.",
            ["tool"],
            buckets=TOOL_BUCKETS,
            registry=r,
        )
        # --- failures ---
        self.model_errors = Counter(
            f"{p}_model_errors", "Model session errors, by kind.", ["kind"], registry=r
        )
        self.model_reconnects = Counter(
            f"{p}_model_reconnects", "Model socket reconnects, by result.", ["result"], registry=r
        )
        self.tool_errors = Counter(
            f"{p}_tool_errors",
            "Tool calls that failed, by tool and kind.",
            ["tool", "kind"],
            registry=r,
        )
        self.transfers = Counter(
            f"{p}_transfers", "Transfers to a person, by result.", ["result"], registry=r
        )
        self.cold_starts = Counter(
            f"{p}_model_cold_starts",
            "Streams whose model session was not pre-opened.",
            registry=r,
        )
        self.webhook_fallbacks = Counter(
            f"{p}_webhook_fallbacks",
            "Twilio requests answered with a safe fallback because something failed.",
            ["route"],
            registry=r,
        )
        self.signature_refusals = Counter(
            f"{p}_signature_refusals",
            "Twilio requests refused for a bad signature or token.",
            ["route"],
            registry=r,
        )
        # --- notifications, summaries, spend ---
        self.notifications_sent = Counter(
            f"{p}_notifications_sent",
            "Notifications delivered, by channel.",
            ["channel"],
            registry=r,
        )
        self.notifications_failed = Counter(
            f"{p}_notifications_failed",
            "Notifications given up on, by channel.",
            ["channel"],
            registry=r,
        )
        self.summaries = Counter(
            f"{p}_summaries", "Call summaries settled, by status.", ["status"], registry=r
        )
        self.spend = Counter(
            f"{p}_spend_usd", "Estimated model spend in USD, by model.", ["model"], registry=r
        )
        self.up = Gauge(f"{p}_up", "1 while the service runs.", registry=r)
        self.up.set(1)

    def add_collector(self, collector: Collector) -> None:
        """A source read at scrape time (queue depths, live calls: app/metrics_endpoint.py)."""
        self.registry.register(collector)

    # --- the few call sites, named after what happened ------------------------------------

    def call_started(self, channel: str, cold_start: bool) -> None:
        self.calls_started.labels(channel_label(channel)).inc()
        if cold_start:
            self.cold_starts.inc()

    def call_ended(
        self, channel: str, outcome: str, end_reason: str, seconds: float, model: str, cost: Decimal
    ) -> None:
        ch = channel_label(channel)
        self.calls_ended.labels(ch, label(outcome), label(end_reason)).inc()
        self.call_duration.labels(ch).observe(seconds)
        if cost > 0:
            self.spend.labels(label_model(model)).inc(float(cost))

    def tool_finished(self, tool: str, seconds: float, error_kind: str | None) -> None:
        name = label(tool, self._tools)  # the model may ask for a tool that does not exist
        self.tool_duration.labels(name).observe(seconds)
        if error_kind is not None:
            self.tool_errors.labels(name, label(error_kind)).inc()


_MODEL = re.compile(r"[a-z0-9][a-z0-9.\-]{0,63}")


def label_model(model: str) -> str:
    """A model name as configured (a setting, not free text), or "other"."""
    return model if _MODEL.fullmatch(model) else "other"
