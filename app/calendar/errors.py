"""The one way a calendar fails: `CalendarUnavailable`, with a kind the callers act on."""

from __future__ import annotations

from typing import Literal

UnavailableKind = Literal[
    "not_connected",  # CALENDAR is set but nothing is linked (or it was disconnected)
    "unreachable",  # the request did not get through (refused, reset, DNS, TLS)
    "slow",  # no complete answer within CALENDAR_TIMEOUT_SECONDS
    "rate_limited",  # 429 (or Google's 403 rateLimitExceeded)
    "server_error",  # 5xx
    "revoked",  # 401 / invalid_grant: the owner must link it again
    "rejected",  # the provider refused this request (4xx other than the above)
    "bad_response",  # a success status with a body we cannot read
]

# Kinds worth trying again later (the outbox retries them with backoff); the others need a person.
RETRYABLE: frozenset[str] = frozenset({"unreachable", "slow", "rate_limited", "server_error"})


class CalendarUnavailable(Exception):
    """The calendar could not answer this request. `message` is safe to show to staff: it never
    holds a credential, token or full URL with secrets in it."""

    def __init__(self, kind: UnavailableKind, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: UnavailableKind = kind
        self.message = message
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    @property
    def revoked(self) -> bool:
        return self.kind == "revoked"


class SlotTaken(Exception):
    """An authority calendar (Cal.com) refused a booking because the time is no longer free."""
