"""What a fake caller is told: who calls whom, how its stream behaves, and the benchmark hook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CallerConfig", "MediaHook"]

# Called with a media frame's base64 payload and the time.perf_counter() it was sent/received.
MediaHook = Callable[[str, float], None]


@dataclass
class CallerConfig:
    """Who calls whom, and how the stream behaves."""

    call_sid: str | None = None  # default "CA" + 32 hex
    account_sid: str = "AC" + "0" * 32
    from_number: str = "+15551230000"
    to_number: str = "+15559870000"
    from_state: str | None = "TX"  # Twilio's FromState; None: a number without US geography
    extra_params: dict[str, str] = field(default_factory=dict)
    stream_sid: str | None = None  # default "MZ" + 32 hex
    frame_ms: int = 20  # inbound media frame size (20 ms = 160 bytes)
    # How long a reached mark takes to come back (the network): a hang-up in between loses it,
    # as with Twilio, whose `stop` can overtake the last marks.
    mark_delay_ms: int = 0
    realtime: bool = True  # False: queued speech goes out as fast as possible (silence stays paced)
    record_arrivals: bool = False  # keep (perf_counter, bytes) of every received media frame
    record_audio: bool = False  # keep every received outbound audio byte in `received_audio`
    # Benchmarks: stamp every inbound frame with (stamp, its chunk number) via stamp_ulaw(), so
    # the far end can tell frames apart; None sends the plain audio.
    stamp: int | None = None
