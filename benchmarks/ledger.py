"""The frame ledger: when each stamped frame left one end of the relay and reached the other."""

from __future__ import annotations

import math
from array import array
from collections import Counter

from tests.doubles.realtime.session import FakeSession
from tests.doubles.stamps import read_stamp_b64
from tests.doubles.twilio_caller.caller import FakeTwilioCaller
from tests.doubles.twilio_caller.config import MediaHook

__all__ = ["FrameLedger"]


class FrameLedger:
    """perf_counter() times of stamped frames at both ends of the relay, per call and session."""

    def __init__(self) -> None:
        self.sent_at: dict[int, array[float]] = {}  # caller tag -> send time of frame n at [n-1]
        self.appends: Counter[int] = Counter()  # caller tag -> frames the fake received
        self.caller_to_model: array[float] = array("d")  # ms, one per frame
        self.session_of_tag: dict[int, FakeSession] = {}
        self.misrouted = 0  # frames that reached another call: must never happen
        self.unstamped_appends = 0
        self.delta_sent_at: dict[int, dict[int, float]] = {}  # session -> delta number -> time
        # caller tag -> (session index, delta number, receive time) of every media frame received
        self.received: dict[int, list[tuple[int, int, float]]] = {}
        self.unstamped_media = 0

    def sent_hook(self, tag: int) -> MediaHook:
        times = self.sent_at.setdefault(tag, array("d"))
        # The caller calls this once per frame in order: frame n's time lands at times[n - 1].
        return lambda _payload, at: times.append(at)

    def received_hook(self, tag: int) -> MediaHook:
        records = self.received.setdefault(tag, [])

        def hook(payload: str, at: float) -> None:
            stamp = read_stamp_b64(payload)
            if stamp is None:
                self.unstamped_media += 1
            else:
                records.append((stamp[0], stamp[1], at))

        return hook

    def on_append(self, session: FakeSession, audio: str, at: float) -> None:
        stamp = read_stamp_b64(audio)
        if stamp is None:
            self.unstamped_appends += 1
            return
        tag, number = stamp
        known = self.session_of_tag.setdefault(tag, session)
        if known is not session:
            self.misrouted += 1
            return
        self.appends[tag] += 1
        times = self.sent_at.get(tag)
        if times is not None and 0 < number <= len(times):
            self.caller_to_model.append((at - times[number - 1]) * 1000)

    def on_delta_sent(self, session: FakeSession, delta: str, at: float) -> None:
        stamp = read_stamp_b64(delta)
        if stamp is not None:
            self.delta_sent_at.setdefault(session.index, {})[stamp[1]] = at

    def model_to_caller(self, callers: dict[int, FakeTwilioCaller]) -> tuple[list[float], int, int]:
        """Latencies (ms), deltas lost, deltas sent, over the given callers' sessions.

        Deltas sent before the caller had its first audio frame are left out of the latency:
        they waited, by design, in the session opened at webhook time for the stream to start
        (the greeting latency covers them), which is not time spent in the relay.
        """
        latencies: list[float] = []
        lost = sent_total = 0
        for tag, caller in callers.items():
            session = self.session_of_tag.get(tag)
            if session is None:
                continue
            sent = self.delta_sent_at.get(session.index, {})
            sent_total += len(sent)
            heard_from = caller.first_audio_at or math.inf
            arrived = 0
            for index, number, at in self.received.get(tag, []):
                if index != session.index:
                    self.misrouted += 1
                    continue
                arrived += 1
                sent_at = sent.get(number)
                if sent_at is not None and sent_at >= heard_from:
                    latencies.append((at - sent_at) * 1000)
            lost += max(0, len(sent) - arrived)
        return latencies, lost, sent_total
