"""Email through SMTP (aiosmtplib): smtps:// is TLS throughout, smtp:// uses STARTTLS if offered."""

from __future__ import annotations

import hashlib
import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from app.notify.addresses import SmtpTarget
from app.notify.channel import Delivery

_LOCAL_PART = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@")


class MailChannel:
    """One email per `send`; a 5xx answer fails it for good, anything else is retried."""

    def __init__(self, target: SmtpTarget, from_address: str, timeout: float = 15.0) -> None:
        self._target = target
        self._from = from_address
        self._timeout = timeout

    def _message(
        self, recipient: str, subject: str | None, body: str, key: str | None
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._from
        message["To"] = recipient
        message["Subject"] = subject or "Receptionist"
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = message_id(key, self._from.rsplit("@", 1)[1])
        message.set_content(body)
        return message

    async def send(
        self, recipient: str, subject: str | None, body: str, *, key: str | None = None
    ) -> Delivery:
        message = self._message(recipient, subject, body, key)
        target = self._target
        try:
            await aiosmtplib.send(
                message,
                hostname=target.host,
                port=target.port,
                username=target.username,
                password=target.password,
                use_tls=target.implicit_tls,
                start_tls=None if not target.implicit_tls else False,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are the operator's to fix: keep the mail until they do.
            return Delivery.retry(f"smtp {exc.code}: authentication failed")
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            reason = f"smtp {codes[0] if codes else '?'}: recipient refused"
            return _by_code(codes[0] if codes else 0, reason)
        except aiosmtplib.SMTPResponseException as exc:
            # Servers often quote the address back: keep its domain only (it is logged).
            said = _LOCAL_PART.sub("***@", exc.message[:200])
            return _by_code(exc.code, f"smtp {exc.code}: {said}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Delivery.retry(f"smtp unreachable: {type(exc).__name__}")
        return Delivery.ok(str(message["Message-ID"]))


def message_id(key: str | None, domain: str) -> str:
    """The same Message-ID for every attempt at one notification (RFC 5322 3.6.4: one message,
    one id), so a mail system that drops repeated ids drops a copy sent twice. The key holds a
    phone number or an address: only its hash goes into the header."""
    if key is None:
        return make_msgid(domain=domain)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<notify.{digest}@{domain}>"


def _by_code(code: int, reason: str) -> Delivery:
    # SMTP: 5yz is a permanent negative reply (RFC 5321 4.2.1); 4yz is transient.
    return Delivery.failed(reason) if 500 <= code < 600 else Delivery.retry(reason)
