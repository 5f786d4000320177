"""The errors of the fake Twilio caller."""

from __future__ import annotations

__all__ = ["CallerError", "StreamClosedError"]


class CallerError(Exception):
    """The service did something a real Twilio call could not go on with."""


class StreamClosedError(CallerError):
    """The Media Streams WebSocket closed before what was awaited happened."""
