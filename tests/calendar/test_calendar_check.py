"""The doctor's Calendar check (also on the front door and the Checks page): each state says
what is wrong and how to fix it, and a linked calendar is proven by a real read."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.calendar.links import LinkStore
from app.calendar.sealing import Sealer
from app.config import load_settings
from app.doctor import Patient, calendar_linked
from tests.calendar.radicale import PASSWORD, USER
from tests.calendar.stall import closed_port_url

PROFILE = Path(__file__).resolve().parents[1] / "fixtures" / "always_open.toml"
SECRET = "calendar-check-secret-" + "0" * 32


async def _check(engine: AsyncEngine, **settings: object) -> tuple[bool, str, str]:
    values = {"business_profile": PROFILE, "secret_key": SECRET, "_env_file": None} | settings
    async with httpx.AsyncClient() as http:
        found = await calendar_linked(Patient(load_settings(**values), http, engine))
    return found.ok, found.detail, found.fix


async def _link(engine: AsyncEngine, url: str, password: str = PASSWORD) -> None:
    links = LinkStore(engine, Sealer(SECRET.encode()))
    await links.link("caldav", {"calendar_url": url, "username": USER}, {"password": password})


async def test_no_calendar_is_fine(engine: AsyncEngine) -> None:
    assert (await _check(engine))[0] is True


async def test_not_linked_says_where_to_link_it(engine: AsyncEngine) -> None:
    ok, detail, fix = await _check(engine, calendar="caldav")
    assert not ok and "not linked yet" in detail and "/staff/calendar" in fix


async def test_linked_and_answering(engine: AsyncEngine, calendar_url: str) -> None:
    await _link(engine, calendar_url)
    assert await _check(engine, calendar="caldav") == (True, "caldav linked and answering.", "")


async def test_linked_but_down_or_revoked(engine: AsyncEngine, calendar_url: str) -> None:
    await _link(engine, closed_port_url() + "owner/cal/")
    ok, detail, _ = await _check(engine, calendar="caldav")
    assert not ok and "cannot be read (unreachable)" in detail
    await _link(engine, calendar_url, password="old-password")
    ok, detail, _ = await _check(engine, calendar="caldav")
    assert not ok and "(revoked)" in detail and "old-password" not in detail


async def test_credentials_sealed_with_another_secret_key_must_be_linked_again(
    engine: AsyncEngine, calendar_url: str
) -> None:
    await _link(engine, calendar_url)
    ok, detail, fix = await _check(engine, calendar="caldav", secret_key="another-" + "1" * 32)
    assert not ok and "SECRET_KEY changed" in detail and "Link it again" in fix
