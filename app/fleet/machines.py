"""Which Machine is this, how its call-scoped URLs look, and whether another Machine still runs.

On Fly.io every Machine has FLY_MACHINE_ID and FLY_APP_NAME in its environment. The Machine that
answers a call's webhook puts its id in the path of every URL it hands Twilio for that call
(`/m/<id>/twilio/...`; the dev phone's page adds `?machine=<id>`), so any Machine can tell which
one holds the call. Without
FLY_MACHINE_ID (one process, `make run`, another host) the prefix is empty and URLs stay as
they were.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from app.config import MACHINE_ID, Settings
from app.fleet.dns import DnsError, has_aaaa
from app.logging import get_logger

log = get_logger(__name__)

# `/m/<machine id>/...`: the call-scoped form of a route. The id is what Settings accepts.
MACHINE_PATH = re.compile(rf"^/m/({MACHINE_ID.pattern})(/.*)$")
# Fly's DNS answers in well under a millisecond on a Machine; a slow answer is treated as "gone"
# (the request is then served here, which is always safe) rather than delaying a call.
DNS_TIMEOUT_SECONDS = 0.5
# How long an answer is trusted. Short: a Machine replaced in a deploy must stop receiving
# replays quickly, and a lookup costs about a millisecond.
CHECK_TTL_SECONDS = 2.0

Lookup = Callable[[str], Awaitable[bool]]


def machine_in_path(path: str) -> str | None:
    """The machine id of a call-scoped path, or None for any other path."""
    match = MACHINE_PATH.match(path)
    return match.group(1) if match else None


def machine_of(path: str, query_string: bytes) -> str | None:
    """The Machine a request is pinned to: `/m/<id>/...`, or `?machine=<id>` for the requests
    of a browser page whose URLs cannot take the prefix (the dev phone, app/phone/)."""
    in_path = machine_in_path(path)
    if in_path is not None or b"machine=" not in query_string:
        return in_path
    values = parse_qs(query_string.decode("latin-1")).get("machine") or [""]
    return values[0] if MACHINE_ID.fullmatch(values[0]) else None


class Machines:
    """This Machine's identity and a cached view of which other Machines are running."""

    def __init__(
        self,
        settings: Settings,
        lookup: Lookup | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.self_id = settings.fly_machine_id if settings.fly_app_name else None
        self._app = settings.fly_app_name
        self._dns = settings.fly_dns_server
        self._lookup = lookup or self._dns_lookup
        self._clock = clock
        self._known: dict[str, tuple[bool, float]] = {}
        self.lookups = 0
        self.replays = 0  # requests handed to another Machine (a metric)

    def replayed(self) -> None:
        self.replays += 1

    @property
    def enabled(self) -> bool:
        """Running as one of several Fly Machines: calls are pinned to their Machine."""
        return self.self_id is not None

    @property
    def prefix(self) -> str:
        """What goes before `/twilio/...` in this Machine's call-scoped URLs ('' when alone)."""
        return f"/m/{self.self_id}" if self.self_id else ""

    def call_base(self, public_base: str) -> str:
        """The base of this Machine's call-scoped URLs: https://host/m/<id>."""
        return public_base + self.prefix

    def dns_name(self, machine_id: str) -> str:
        # Fly docs (networking/private-networking): `<machine id>.vm.<app>.internal` has an
        # AAAA record, the Machine's 6PN address, while that Machine is started.
        return f"{machine_id}.vm.{self._app}.internal"

    async def _dns_lookup(self, machine_id: str) -> bool:
        return await has_aaaa(self._dns, self.dns_name(machine_id), DNS_TIMEOUT_SECONDS)

    async def is_running(self, machine_id: str) -> bool:
        """True while `machine_id` is started; False when it is gone or cannot be told."""
        if machine_id == self.self_id:
            return True
        now = self._clock()
        known = self._known.get(machine_id)
        if known is not None and known[1] > now:
            return known[0]
        self.lookups += 1
        try:
            running = await self._lookup(machine_id)
        except DnsError as exc:
            # Unknown counts as gone: serving a request here is always correct, only slower
            # (a cold start); replaying it to a Machine that is gone would fail it.
            log.warning("machine_check_failed", machine=machine_id, error=str(exc)[:100])
            running = False
        if len(self._known) > 1024:  # Machines come and go with deploys; keep this bounded
            self._known.clear()
        self._known[machine_id] = (running, now + CHECK_TTL_SECONDS)
        return running
