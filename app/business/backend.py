"""The business backend the tools talk to: the owner's own (BUSINESS_API_BASE) or the built-in one."""

from __future__ import annotations

import secrets
from datetime import datetime

from app.business.hours import transfer_available
from app.business.profile import BusinessProfile
from app.config import Settings
from app.functions.business_client import BusinessClient, make_http_client


class BusinessBackend:
    def __init__(self, settings: Settings, profile: BusinessProfile) -> None:
        self.profile = profile
        self._settings = settings
        configured = settings.business_api_token
        self.token = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        self.builtin = settings.business_api_base is None
        base = settings.business_api_base or f"http://127.0.0.1:{settings.port}/business"
        # The built-in backend needs its token even when the operator set none: a random one.
        token = self.token if (self.builtin or configured) else None
        self.http = make_http_client(base, token, settings.tool_timeout_seconds)
        self.client = BusinessClient(self.http)

    def can_transfer(self, now: datetime) -> bool:
        """A person can take a transfer now: a number is set and it is within transfer hours."""
        return bool(self._settings.human_transfer_number) and transfer_available(self.profile, now)
