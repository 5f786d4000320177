"""The Realtime session config: instructions from prompts/system.md, voice, VAD, tools (GA)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from string import Template
from typing import Any

from app.config import Settings
from app.realtime.models import takes_reasoning
from app.wire.realtime import message


@dataclass(frozen=True)
class PromptContext:
    business_name: str
    business_facts: str
    now: datetime  # aware, in the business's timezone
    transfer_available: bool
    disclose_recording: bool


GREETING = "Thanks for calling {name}, this is the virtual assistant. How can I help you today?"
DISCLOSURE = (
    "Right after the greeting, say: \"Just so you know, this call is recorded and I'm an AI "
    'assistant."'
)


def render_instructions(template: str, ctx: PromptContext) -> str:
    transfer = (
        "A person is available for transfers right now."
        if ctx.transfer_available
        else "No person can take a transfer right now: offer to take a message instead."
    )
    return Template(template).safe_substitute(
        business_name=ctx.business_name,
        business_facts=ctx.business_facts,
        now=ctx.now.strftime("%A %d %B %Y, %H:%M (%Z)"),
        greeting=GREETING.format(name=ctx.business_name),
        disclosure=DISCLOSURE if ctx.disclose_recording else "",
        transfer_policy=transfer,
    )


def load_template(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def session_config(
    settings: Settings,
    instructions: str,
    tools: list[dict[str, Any]],
    model: str | None = None,
) -> dict[str, Any]:
    """The GA `session` object: G.711 mu-law both ways, so audio is relayed untouched.

    `model` is the session's model when it is not OPENAI_REALTIME_MODEL (the ladder's big rung).
    """
    model = model or settings.openai_realtime_model
    session: dict[str, Any] = {
        "type": "realtime",
        "model": model,
        "instructions": instructions,
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "transcription": {"model": settings.openai_transcription_model},
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "create_response": True,
                    # We interrupt ourselves on speech_started (clear, truncate at the heard
                    # position, cancel): letting the server cancel too would race our cancel.
                    "interrupt_response": False,
                },
                "noise_reduction": {"type": "near_field"},
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": settings.openai_voice},
        },
        "tools": tools,
        "tool_choice": "auto",
        # At the context limit, drop the oldest turns down to this share of it at once, rather
        # than a few every turn: fewer truncations, and the cached prefix stays the same longer.
        "truncation": {
            "type": "retention_ratio",
            "retention_ratio": settings.openai_truncation_retention_ratio,
        },
    }
    if takes_reasoning(model):
        # Only the reasoning (2.x) models take an effort; the others would refuse the field.
        session["reasoning"] = {"effort": settings.openai_reasoning_effort}
    return session


def history_items(history: list[tuple[str, str]], note: str | None = None) -> list[str]:
    """Conversation items that re-seed a new model session with what was said."""
    items = [message("user" if who == "caller" else "assistant", said) for who, said in history]
    if note:
        items.append(message("system", note))
    return items
