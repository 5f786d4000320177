"""Short-lived, single-use stream tokens that bind a Media Stream to the call that asked for it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class StreamTokens:
    """HMAC-SHA256 tokens `<expiry>.<mac>` over the CallSid.

    The key is derived from the Twilio auth token, so every instance of the service accepts a
    token that any of them issued; each token is accepted once per instance.
    """

    def __init__(self, secret: bytes, ttl_seconds: float) -> None:
        self._key = hmac.new(secret, b"receptionist-stream-token", hashlib.sha256).digest()
        self._ttl = ttl_seconds
        self._used: dict[str, float] = {}

    def _mac(self, call_sid: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{call_sid}.{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, call_sid: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + self._ttl)
        return f"{expires}.{self._mac(call_sid, expires)}"

    def redeem(self, call_sid: str, token: str, now: float | None = None) -> bool:
        """True once for a genuine, unexpired token of this call; False otherwise."""
        now = now if now is not None else time.time()
        expires_text, _, mac = token.partition(".")
        if not expires_text.isdigit() or not mac:
            return False
        expires = int(expires_text)
        if expires < now:
            return False
        if not hmac.compare_digest(mac, self._mac(call_sid, expires)):
            return False
        self._forget_expired(now)
        if token in self._used:
            return False
        self._used[token] = expires
        return True

    def _forget_expired(self, now: float) -> None:
        for token, expires in list(self._used.items()):
            if expires < now:
                del self._used[token]
