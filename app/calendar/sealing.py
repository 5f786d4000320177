"""Calendar credentials sealed at rest with SECRET_KEY (Fernet: AES-128-CBC + HMAC-SHA256).

The key is derived from SECRET_KEY with HKDF under a label of its own, so the console's cookie
signatures and these ciphertexts never share a key. A changed SECRET_KEY cannot open what the
old one sealed: the link then reads as disconnected and the owner links the calendar again.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_LABEL = b"receptionist calendar credentials v1"


class SealBroken(Exception):
    """The sealed credentials cannot be opened (another SECRET_KEY, or damaged)."""


class Sealer:
    def __init__(self, secret_key: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
            secret_key
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(orjson.dumps(secret))

    def seal_text(self, text: str) -> str:
        """A secret as a token a form may carry back (e.g. while the owner picks a calendar)."""
        return self._fernet.encrypt(text.encode()).decode()

    def open_text(self, token: str, max_age: int) -> str | None:
        """The secret of a `seal_text` token no older than `max_age` seconds, else None."""
        try:
            return self._fernet.decrypt(token.encode(), ttl=max_age).decode()
        except (InvalidToken, ValueError):
            return None

    def open(self, sealed: bytes) -> dict[str, Any]:
        try:
            value = orjson.loads(self._fernet.decrypt(sealed))
        except (InvalidToken, orjson.JSONDecodeError) as exc:
            raise SealBroken(
                "the calendar credentials cannot be opened with this SECRET_KEY"
            ) from exc
        if not isinstance(value, dict):
            raise SealBroken("the calendar credentials are damaged")
        return value
