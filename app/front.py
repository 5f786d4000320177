"""The front door (/): what this service is and whether it is set up, with the next steps.

The checks are the doctor's (app/doctor.py), run at most every FRONT_DOOR_MAX_AGE seconds: the
page is public and each run asks OpenAI and Twilio. They name settings, never their values; the
page shows no call data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response

from app.business.profile import BusinessProfile
from app.config import Settings
from app.logging import get_logger
from app.staff.headers import SecurityHeaders
from app.staff.render import make_templates

if TYPE_CHECKING:
    from app.runtime import Runtime

log = get_logger(__name__)

FRONT_DOOR_MAX_AGE = 60.0


def front_door_route(settings: Settings, profile: BusinessProfile) -> Route:
    templates = make_templates(ZoneInfo(profile.timezone))

    async def front_door(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        checks = await runtime.checkup.results(FRONT_DOOR_MAX_AGE)
        return templates.TemplateResponse(
            request,
            "front.html",
            {
                "business_name": profile.name,
                "checks": checks,
                "ready": all(c.ok for c in checks),
                "staff": None,
                "page": "",
                "csrf_token": "",
            },
        )

    return Route(
        "/", SecurityHeaders(request_response(front_door)), methods=["GET", "HEAD"], name="front"
    )
