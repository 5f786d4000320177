"""fly-replay answers: a call's request that reached the wrong Machine is sent to the right one.

Fly's proxy balances every request on its own, so a call's Media Stream and callbacks can land on
any Machine. One call is one WebSocket on one Machine and cannot move, so a request for a call
held elsewhere is answered, before anything is accepted, with `fly-replay: instance=<id>`: Fly's
proxy then replays the original request, body included, to that Machine and adds a
`fly-replay-src` header to it (Fly docs, networking/dynamic-request-routing). Requests over 1 MB
are not replayed; a Twilio request is a few hundred bytes.

A request is served where it landed when
- it already carries `fly-replay-src` (it was replayed once: never loop),
- the Machine named is not running any more (replaced in a deploy, crashed): every route can
  serve a call it does not hold, from the database and the signed stream token,
- the service runs alone (no FLY_MACHINE_ID): there is nothing to route.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.fleet.machines import Machines, machine_of
from app.logging import get_logger

log = get_logger(__name__)

REPLAY_HEADER = "fly-replay"
REPLAY_SOURCE_HEADER = b"fly-replay-src"


def replay_response(machine_id: str) -> Response:
    """The answer that makes Fly's proxy replay this request on `machine_id`.

    Fly's proxy consumes it (status and body are never seen by Twilio); 409 says what happened to
    anyone who reaches the app without the proxy.
    """
    return Response(
        f"call held by Machine {machine_id}\n",
        status_code=409,
        headers={REPLAY_HEADER: f"instance={machine_id}"},
        media_type="text/plain",
    )


def was_replayed(scope: Scope) -> bool:
    """The request was replayed by Fly's proxy (it carries `fly-replay-src`)."""
    return any(name == REPLAY_SOURCE_HEADER for name, _ in scope.get("headers") or [])


async def replay_target(machines: Machines, machine_id: str | None, scope: Scope) -> str | None:
    """The Machine to replay this request to, or None to serve it here."""
    if not machines.enabled or machine_id is None or machine_id == machines.self_id:
        return None
    if was_replayed(scope):
        # Replayed once already and still not on its Machine (a stale view of the fleet): serve
        # it here rather than bounce it again.
        log.warning("fly_replay_not_repeated", machine=machine_id)
        return None
    if not await machines.is_running(machine_id):
        log.info("call_machine_gone", machine=machine_id, path=scope.get("path", "")[:80])
        return None
    return machine_id


class FlyReplay:
    """ASGI middleware: requests pinned to another Machine (`/m/<id>/...`, `?machine=<id>`) are
    replayed there.

    For a WebSocket the answer is an HTTP response to the upgrade (the ASGI
    `websocket.http.response` extension, which uvicorn implements), sent before any accept.
    """

    def __init__(self, app: ASGIApp, machines: Callable[[Scope], Machines | None]) -> None:
        self.app = app
        self._machines = machines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            machines = self._machines(scope)
            target = None
            if machines is not None:
                machine_id = machine_of(scope["path"], scope.get("query_string") or b"")
                target = await replay_target(machines, machine_id, scope)
            if target is not None and machines is not None:
                if scope["type"] == "websocket" and "websocket.http.response" not in scope.get(
                    "extensions", {}
                ):
                    # Without the extension only a bare 403 could be sent, which Fly would not
                    # replay: serving the stream here is the better of the two.
                    log.warning("fly_replay_unsupported", machine=target)
                else:
                    log.info("fly_replay", machine=target, kind=scope["type"])
                    machines.replayed()
                    await replay_response(target)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
