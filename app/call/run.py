"""Runs a call over an authenticated stream, listed in `live` while it lasts."""

from __future__ import annotations

from app.call.driver import CallDriver
from app.call.info import CallInfo
from app.call.ports import CallServices, CallWatcher, MediaStream
from app.logging import get_logger

log = get_logger(__name__)


async def run_call(
    services: CallServices,
    live: dict[str, CallDriver],
    stream: MediaStream,
    info: CallInfo,
    watch: CallWatcher | None = None,
) -> None:
    """Drive an authenticated stream until the call ends; `live` lists it meanwhile."""
    driver = CallDriver(services, stream, info, watch)
    driver.records.stream_started(info.stream_sid)
    live[info.call_sid] = driver
    try:
        await driver.run()
    except Exception:
        # A bug of ours must not leave the call unrecorded: close the stream, and Twilio's
        # <Connect action> hands the caller to a person (no normal end_reason was written).
        log.exception("call_driver_crashed")
        driver.records.crashed()
    finally:
        live.pop(info.call_sid, None)
