"""The shape of a JSON value (keys and value types, lists by their first item), to hold a double's
answers against a provider's documented example without comparing made-up values."""

from __future__ import annotations

from typing import Any


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return "null"
    return type(value).__name__
