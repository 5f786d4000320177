"""What every console handler needs: templates, the business time zone, cookie settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from app.config import Settings
from app.staff.sessions import COOKIE_PATH, Signer, StaffSession


@dataclass(frozen=True)
class Console:
    settings: Settings
    tz: ZoneInfo
    business_name: str
    templates: Jinja2Templates
    session_signer: Signer
    prelogin_signer: Signer

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.settings.staff_session_idle_minutes)

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies when the service is reached over https (they would not come back
        over plain http, e.g. `make run` on a laptop)."""
        base = self.settings.public_base_url
        return base is not None and urlsplit(base).scheme == "https"

    def set_cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=COOKIE_PATH,
            secure=self.secure_cookies,
            httponly=True,
            samesite="lax",
        )

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        staff: StaffSession | None = request.state.staff
        return self.templates.TemplateResponse(
            request,
            name,
            {
                "staff": staff,
                "csrf_token": staff.csrf_token if staff else "",
                "business_name": self.business_name,
                "now": datetime.now(self.tz),
                "page": "",
                **context,
            },
            status_code=status,
        )


def engine_of(request: HTTPConnection) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.runtime.engine
    return engine


def live_call_sids(request: Request) -> list[str]:
    """Calls this Machine is carrying right now (the runtime's live drivers)."""
    return list(request.app.state.runtime.active_calls)


def safe_next(value: str | None, default: str) -> str:
    """Only a path inside the console may be a redirect target (no open redirect)."""
    if value and value.startswith("/staff") and not value.startswith("//") and "\\" not in value:
        return value
    return default
