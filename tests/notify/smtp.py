"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives; it can go down and up."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.doubles.server import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    reject_data: str | None = None  # e.g. "554 5.7.1 ..." for every message
    # Runs once a message is kept, before the 250 goes back (a test stops the database there).
    on_accepted: Callable[[Received], Awaitable[None]] | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject_data is not None:
            return self.reject_data
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), parsed)
        self.received.append(received)
        if self.on_accepted is not None:
            await self.on_accepted(received)
        return "250 Message accepted for delivery"


class SmtpServer:
    """`start()` / `stop()` on one fixed port, so a sender sees it go away and come back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Handler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
