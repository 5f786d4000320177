"""Short-lived stream tokens that bind a Media Stream to its call and carry the call's context.

The Machine that answers the webhook decides, once, what every model session of the call is told
(the recording disclosure, from the webhook's FromState) and signs it into the token it puts in
`<Stream><Parameter name="token">`. Whichever Machine the stream reaches reads the decision back
from the token, so a cold-started, reconnected or resumed session tells the caller the same.
Here a token is checked and used once per process; `app.db.stream_tokens` makes it single-use
across Machines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

VERSION = "2"


@dataclass(frozen=True)
class Redeemed:
    """A genuine, unexpired token seen for the first time by this process."""

    token_id: str  # unique per token: what the cross-Machine ledger records
    expires: int  # Unix seconds
    disclose_recording: bool | None  # None: a token from a release before the call context
    machine_id: str | None  # the Machine that issued it


class StreamTokens:
    """HMAC-SHA256 tokens `2.<expiry>.<flags>.<machine>.<mac>` over the CallSid and the rest.

    The key is derived from the Twilio auth token, so every Machine accepts a token any of them
    issued. Tokens of the previous form `<expiry>.<mac>` are still accepted, so streams of calls
    answered by the old release during a deploy are not refused.
    """

    def __init__(self, secret: bytes, ttl_seconds: float) -> None:
        self._key = hmac.new(secret, b"receptionist-stream-token", hashlib.sha256).digest()
        self._ttl = ttl_seconds
        self._used: dict[str, float] = {}

    def _mac(self, call_sid: str, payload: str) -> str:
        digest = hmac.new(self._key, f"{call_sid}.{payload}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(
        self,
        call_sid: str,
        *,
        disclose_recording: bool,
        machine_id: str | None = None,
        now: float | None = None,
    ) -> str:
        expires = int((now if now is not None else time.time()) + self._ttl)
        flags = "d" if disclose_recording else "-"
        payload = f"{VERSION}.{expires}.{flags}.{machine_id or '-'}"
        return f"{payload}.{self._mac(call_sid, payload)}"

    def _verify(self, call_sid: str, token: str) -> Redeemed | None:
        parts = token.split(".")
        if len(parts) == 2:  # the previous release's `<expiry>.<mac>`
            expires_text, mac = parts
            payload, disclose, machine = expires_text, None, None
        elif len(parts) == 5 and parts[0] == VERSION and parts[2] in ("d", "-"):
            expires_text, mac = parts[1], parts[4]
            payload = ".".join(parts[:4])
            disclose, machine = parts[2] == "d", (None if parts[3] == "-" else parts[3])
        else:
            return None
        if not expires_text.isdigit() or not mac or len(token) > 200:
            return None
        if not hmac.compare_digest(mac, self._mac(call_sid, payload)):
            return None
        return Redeemed(mac, int(expires_text), disclose, machine)

    def redeem(self, call_sid: str, token: str, now: float | None = None) -> Redeemed | None:
        """The token's call context, once for a genuine, unexpired token of this call."""
        now = now if now is not None else time.time()
        redeemed = self._verify(call_sid, token)
        if redeemed is None or redeemed.expires < now:
            return None
        self._forget_expired(now)
        if redeemed.token_id in self._used:
            return None
        self._used[redeemed.token_id] = redeemed.expires
        return redeemed

    def _forget_expired(self, now: float) -> None:
        for token_id, expires in list(self._used.items()):
            if expires < now:
                del self._used[token_id]
