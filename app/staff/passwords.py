"""Argon2id password hashes; hashing runs in a thread so the event loop (and audio) never waits."""

from __future__ import annotations

import asyncio
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10

# argon2-cffi's defaults (RFC 9106's second recommendation): 64 MiB, 3 passes, 4 lanes.
_hasher = PasswordHasher()


@functools.cache
def _dummy() -> str:
    """Verified against when the account does not exist, so a wrong email costs as long as a
    wrong password and the response time does not tell which accounts exist."""
    return _hasher.hash(secrets.token_urlsafe(16))


def weakness(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"use at least {MIN_LENGTH} characters"
    if len(password) > 1024:
        return "use at most 1024 characters"
    return None


def generate() -> str:
    """A password to hand to a new member of staff: 4 groups of 4 letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no l/1, o/0: read aloud or copied by hand
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; None (no such account) is checked, and fails."""
    return await asyncio.to_thread(_verify, stored, password)
