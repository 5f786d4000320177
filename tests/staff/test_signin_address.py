"""The sign-in throttle sees the address the platform vouches for, and slows an account guessed
at from many addresses; a header the client writes changes neither."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from console_kit import EMAIL, PASSWORD, Console, running_console, sign_in
from sqlalchemy import text

from app.config import ConfigError, load_settings
from app.db.embedded import EmbeddedPostgres
from app.staff.throttle import Limits

WRONG = "not the password"


async def attempt(console: Console, password: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=console.base, headers=headers) as http:
        return await sign_in(http, EMAIL, password)


async def failure_addresses(console: Console) -> list[str]:
    async with console.engine.connect() as conn:
        rows = await conn.execute(text("SELECT address FROM staff_login_failures ORDER BY id"))
        return [address for (address,) in rows]


def forged(n: int) -> str:
    return f"203.0.113.{n}"


async def test_a_forged_x_forwarded_for_neither_moves_the_address_nor_lifts_the_lock(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    """No FORWARDED_ALLOW_IPS: nobody's X-Forwarded-For is believed, loopback's neither."""
    async with running_console(postgres, tmp_path, "forged") as console:
        for n in range(5):
            failed = await attempt(console, WRONG, **{"X-Forwarded-For": forged(n)})
            assert failed.status_code == 401
        locked = await attempt(console, PASSWORD, **{"X-Forwarded-For": forged(99)})
        addresses = await failure_addresses(console)
    assert addresses == ["127.0.0.1"] * 5  # the socket's address, not the header's
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text


async def test_behind_a_named_proxy_its_forwarded_for_counts_and_rotating_it_slows_the_account(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    """FORWARDED_ALLOW_IPS names the proxy (here loopback): the address it forwards is believed,
    and five failures from five of them slow the account down."""
    async with running_console(
        postgres, tmp_path, "proxied", forwarded_allow_ips="127.0.0.1"
    ) as console:
        for n in range(5):
            failed = await attempt(console, WRONG, **{"X-Forwarded-For": forged(n)})
            assert failed.status_code == 401
        addresses = await failure_addresses(console)
        slowed = await attempt(console, PASSWORD, **{"X-Forwarded-For": forged(50)})
    assert addresses == [forged(n) for n in range(5)]
    assert slowed.status_code == 429 and "for this account" in slowed.text


async def test_on_fly_the_address_is_fly_client_ip_and_rotating_it_slows_the_account(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Five failures, each from another address Fly vouches for: no address is locked, but the
    account waits a few seconds, whatever the address, the right password included; then the
    owner gets in."""
    async with running_console(
        postgres, tmp_path, "fly", fly_app_name="receptionist-test"
    ) as console:
        for n in range(5):
            headers = {"Fly-Client-IP": f"198.51.100.{n}", "X-Forwarded-For": forged(n)}
            assert (await attempt(console, WRONG, **headers)).status_code == 401
        addresses = await failure_addresses(console)
        slowed = await attempt(console, PASSWORD, **{"Fly-Client-IP": "198.51.100.50"})
        wait = int(slowed.headers["Retry-After"])
        assert 1 <= wait <= 5
        await asyncio.sleep(wait + 0.5)
        owner = await attempt(console, PASSWORD, **{"Fly-Client-IP": "198.51.100.50"})
    assert addresses == [f"198.51.100.{n}" for n in range(5)]
    assert slowed.status_code == 429
    assert "for this account" in slowed.text
    assert owner.status_code == 303  # a stranger's failures kept the owner out for seconds


def test_the_account_delay_grows_with_each_failure_up_to_its_cap() -> None:
    limits = Limits(account_delay=timedelta(seconds=5), account_delay_max=timedelta(minutes=2))
    waits = [limits.account_wait(n) for n in range(4, 12)]
    assert waits == [0.0, 5.0, 10.0, 20.0, 40.0, 80.0, 120.0, 120.0]


@pytest.mark.parametrize("value", ["10.0.0.5", "10.0.0.0/8, fdaa::/16", "*"])
def test_forwarded_allow_ips_takes_addresses_and_networks(value: str) -> None:
    settings = load_settings(_env_file=None, forwarded_allow_ips=value)
    assert settings.forwarded_allow_ips == tuple(v.strip() for v in value.split(","))


def test_forwarded_allow_ips_refuses_a_name() -> None:
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS"):
        load_settings(_env_file=None, forwarded_allow_ips="proxy.example.com")
