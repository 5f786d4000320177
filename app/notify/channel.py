"""What a sender channel (SMS, email) reports for one delivery attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Delivery:
    """sent; or not, and then either worth retrying (`permanent` False) or failed for good."""

    sent: bool
    permanent: bool = False
    error: str | None = None
    provider_id: str | None = None  # Twilio's SM... sid, or the email's Message-ID

    @classmethod
    def ok(cls, provider_id: str | None) -> Delivery:
        return cls(True, provider_id=provider_id)

    @classmethod
    def retry(cls, error: str) -> Delivery:
        return cls(False, False, error[:500])

    @classmethod
    def failed(cls, error: str) -> Delivery:
        return cls(False, True, error[:500])


class Channel(Protocol):
    """Sends one notification; never raises (every failure is a `Delivery`).

    `key` names the notification (its outbox row's idempotency key): the same key on every
    attempt, so a channel whose provider can drop a repeated message gives it to the provider.
    """

    async def send(
        self, recipient: str, subject: str | None, body: str, *, key: str | None = None
    ) -> Delivery: ...
