"""Strict validation of OpenAI Realtime (GA) events against the official `openai` package types.

The SDK's own union uses its private discriminator and its models accept unknown keys, so a
beta-shaped or misspelled event would parse without complaint. Here the union members get a real
pydantic discriminator on `type`, and every `model_extra` in the parsed tree is reported: an
unknown key anywhere is a violation (see docs PROTOCOLS.md section 1).
"""

from __future__ import annotations

import functools
import operator
from typing import Annotated, Any, get_args

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

__all__ = ["validate_client_event", "validate_server_event", "warm_up"]

_MAX_ERRORS = 8  # pydantic lists every failed union member; the first few say enough
_NOT_AN_OBJECT = frozenset({"dict_type", "model_type", "model_attributes_type"})


@functools.cache
def _adapter(side: str) -> TypeAdapter[Any]:
    """Build (once, lazily: it takes tens of milliseconds) the strict adapter for one side."""
    if side == "client":
        from openai.types.realtime import RealtimeClientEvent as union
    else:
        from openai.types.realtime import RealtimeServerEvent as union
    # RealtimeClientEvent is Annotated[Union[...], PropertyInfo(...)]: take the Union's members.
    members = get_args(get_args(union)[0])
    strict_union: Any = Annotated[
        functools.reduce(operator.or_, members), Field(discriminator="type")
    ]
    return TypeAdapter(strict_union)


def warm_up() -> None:
    """Build both validators now: the first validation otherwise stalls for a second or two
    (the SDK models defer building their pydantic schemas until first use)."""
    validate_client_event(b'{"type": "response.cancel"}')
    validate_server_event(b'{"type": "rate_limits.updated", "event_id": "e", "rate_limits": []}')


def validate_client_event(raw: str | bytes) -> list[str]:
    """Violations of one client -> server event as sent on the wire (empty list: valid)."""
    return _validate(raw, "client")


def validate_server_event(raw: str | bytes) -> list[str]:
    """Violations of one server -> client event as sent on the wire (empty list: valid)."""
    return _validate(raw, "server")


def _validate(raw: str | bytes, side: str) -> list[str]:
    try:
        event = _adapter(side).validate_json(raw, strict=True)
    except ValidationError as exc:
        return _describe(exc, raw)
    violations: list[str] = []
    _walk_extras(event, str(getattr(event, "type", "?")), violations)
    return violations


def _describe(exc: ValidationError, raw: str | bytes) -> list[str]:
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        return [f"invalid JSON: {errors[0]['msg']}"]
    if errors and not errors[0]["loc"] and errors[0]["type"] in _NOT_AN_OBJECT:
        return [f"event is not a JSON object: {errors[0]['msg']}"]
    errors = _drop_wrong_union_members(errors)
    event_type = _peek_type(raw)
    out: list[str] = []
    for error in errors[:_MAX_ERRORS]:
        parts = error["loc"]
        if parts and parts[0] == event_type:  # the discriminated member's tag: already said
            parts = parts[1:]
        loc = ".".join(str(part) for part in parts)
        if error["type"] == "union_tag_invalid":
            out.append(f"unknown event type {event_type!r}")
        elif error["type"] == "union_tag_not_found":
            out.append("event has no 'type'")
        else:
            out.append(f"{event_type}: {loc}: {error['msg']}")
    if len(errors) > _MAX_ERRORS:
        out.append(f"{event_type}: ... and {len(errors) - _MAX_ERRORS} more schema errors")
    return out


def _drop_wrong_union_members(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Keep the errors of the union member that was meant.

    The SDK's nested unions (sessions, conversation items, ...) are not discriminated for
    pydantic, so one bad field yields errors from every member. A member whose `type` or `role`
    literal does not match was not meant, if a sibling member does match: drop its errors.
    """
    wrong: set[tuple[int | str, ...]] = set()
    for error in errors:
        loc = error["loc"]
        if error["type"] == "literal_error" and len(loc) >= 2 and loc[-1] in {"type", "role"}:
            wrong.add(tuple(loc[:-1]))

    def under(error: ErrorDetails, prefix: tuple[int | str, ...]) -> bool:
        return tuple(error["loc"][: len(prefix)]) == prefix

    drop = set()
    for member in wrong:
        parent = member[:-1]
        if any(
            under(e, parent)
            and len(e["loc"]) > len(parent)
            and tuple(e["loc"][: len(member)]) not in wrong
            for e in errors
        ):
            drop.add(member)
    kept = [e for e in errors if not any(under(e, member) for member in drop)]
    return kept or errors


def _peek_type(raw: str | bytes) -> str:
    import orjson

    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "?"
    return str(parsed.get("type", "?")) if isinstance(parsed, dict) else "?"


def _walk_extras(value: object, path: str, out: list[str]) -> None:
    if isinstance(value, BaseModel):
        extra = value.model_extra
        if extra:
            out.extend(f"{path}.{key}: unknown key" for key in extra)
        for name in type(value).model_fields:
            _walk_extras(getattr(value, name), f"{path}.{name}", out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk_extras(item, f"{path}[{index}]", out)
    elif isinstance(value, dict):
        # Free-form fields (tool `parameters`, `metadata`) are plain dicts: nothing to check,
        # but a dict can hold models when a field is typed Dict[str, Model].
        for key, item in value.items():
            _walk_extras(item, f"{path}.{key}", out)
