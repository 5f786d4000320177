"""TwiML as the fake caller reads it: the verbs of <Response> and its <Connect><Stream>."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from tests.doubles.twilio_caller.errors import CallerError

__all__ = ["Twiml", "parse_twiml"]


@dataclass(frozen=True)
class Twiml:
    """A TwiML document as the caller understood it."""

    xml: str
    verbs: tuple[str, ...]  # the top-level verbs of <Response>, in order
    stream_url: str | None = None  # <Connect><Stream url>
    connect_action: str | None = None  # <Connect action>
    parameters: dict[str, str] = field(default_factory=dict)  # <Stream><Parameter name value>
    root: ET.Element | None = field(default=None, repr=False, compare=False)


def parse_twiml(xml: str) -> Twiml:
    """Parse a TwiML document; raises CallerError unless it is a <Response>."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise CallerError(f"TwiML is not well-formed XML: {exc}") from None
    if root.tag != "Response":
        raise CallerError(f"TwiML root is <{root.tag}>, not <Response>")
    stream_url = action = None
    parameters: dict[str, str] = {}
    connect_el = root.find("Connect")
    if connect_el is not None:
        action = connect_el.get("action")
        stream_el = connect_el.find("Stream")
        if stream_el is not None:
            stream_url = stream_el.get("url")
            for param in stream_el.findall("Parameter"):
                parameters[param.get("name", "")] = param.get("value", "")
    return Twiml(
        xml=xml,
        verbs=tuple(child.tag for child in root),
        stream_url=stream_url,
        connect_action=action,
        parameters=parameters,
        root=root,
    )
