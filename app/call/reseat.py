"""A call's next model session: after its socket dropped (reconnect), or up the model ladder.

Both are new sessions seeded with the conversation so far, with the call's instructions, tools
and disclosure decision; they differ in the model and in what the new session is told.
"""

from __future__ import annotations

from app.call.info import CallInfo
from app.call.ladder import TAKEOVER_NOTE
from app.call.ports import CallServices
from app.realtime.client import ModelSession
from app.realtime.session import history_items

CONNECT_WAIT_SECONDS = 2.0  # the caller is waiting: a session slower than this is given up


def seeded_session(
    services: CallServices,
    info: CallInfo,
    history: tuple[tuple[str, str], ...],
    *,
    model: str | None = None,
    escalate: bool = False,
) -> ModelSession:
    """A session connecting now, seeded with `history`, on `model` (default: the call's first),
    or on the ladder's big model, told it takes over, if `escalate`. The caller is waiting: wait
    for it at most CONNECT_WAIT_SECONDS."""
    return services.sessions.open(
        info.call_sid,
        greet=False,
        disclose_recording=info.disclose_recording,
        extra=history_items(list(history), TAKEOVER_NOTE if escalate else None),
        model=services.sessions.escalation_model if escalate else model,
    )
