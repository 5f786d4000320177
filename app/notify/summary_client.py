"""A call's summary from OpenAI's Chat Completions API (a text model, after the call), and its cost.

Why not an out-of-band response in the call's Realtime session: that session must stay open
after the caller's audio is done (billed per second, with the audio model's prices), and a call
that ended by a dropped socket or a crash would get no summary at all. A text model called from
the database afterwards leaves the audio path untouched, works for every call that ended however
it ended, and costs a fraction of a cent.

Why Chat Completions and not the Responses API, which OpenAI recommends for new work: a summary
is one stateless request with a strict JSON schema and no tools, which Chat Completions serves
fully; the Responses API's gains (server-side conversation state, built-in tools) buy nothing
here, and it stores every response by default (`store: true`), which would keep callers'
transcripts with OpenAI unless every request remembered to opt out. Moving is one URL and body
away if that changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import httpx
import orjson

INSTRUCTIONS = (
    "You summarise phone calls to a small business's AI receptionist for the owner. From the "
    "transcript, write: `summary`, one or two plain sentences saying who called and what "
    "happened; `reason`, the caller's reason for calling in a few words; `callback_needed`, "
    "true if someone from the business must call the caller back; `callback_reason`, why "
    "(empty when no call back is needed). Use only what the transcript says."
)
SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "reason": {"type": "string"},
        "callback_needed": {"type": "boolean"},
        "callback_reason": {"type": "string"},
    },
    "required": ["summary", "reason", "callback_needed", "callback_reason"],
    "additionalProperties": False,
}
# USD per 1M tokens (input, cached input, output), list prices. Unknown models are priced like
# the full-size model, so the estimate errs on the high side.
PRICES = {
    # The default. Its $0.75 input is confirmed by the quick comparison on OpenAI's gpt-5-mini
    # page (https://developers.openai.com/api/docs/models/gpt-5-mini, which also marks gpt-5-mini
    # for deprecation); the $0.075 cached and $4.50 output could not be confirmed from OpenAI's
    # own pages in the stored sources and are those several resellers' pages list.
    "gpt-5.4-mini": (Decimal("0.75"), Decimal("0.075"), Decimal("4.50")),
    "gpt-4.1-mini": (Decimal("0.40"), Decimal("0.10"), Decimal("1.60")),
    "gpt-4.1-nano": (Decimal("0.10"), Decimal("0.025"), Decimal("0.40")),
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.075"), Decimal("0.60")),
    # https://developers.openai.com/api/docs/models/gpt-5-mini
    "gpt-5-mini": (Decimal("0.25"), Decimal("0.025"), Decimal("2.00")),
    "gpt-5-nano": (Decimal("0.05"), Decimal("0.005"), Decimal("0.40")),
}
_DEFAULT_PRICE = (Decimal("2.00"), Decimal("0.50"), Decimal("8.00"))
# Reasoning models count their thinking against max_completion_tokens: little thought is needed
# to summarise a call, and the answer must not be cut off by it.
_REASONING_PREFIXES = ("gpt-5", "o1", "o3", "o4")


class SummaryError(Exception):
    """No usable summary came back (HTTP error, timeout, refusal, malformed answer)."""


@dataclass(frozen=True)
class Summary:
    summary: str
    reason: str
    callback_needed: bool
    callback_reason: str
    cost_usd: Decimal


def estimate_cost(model: str, prompt: int, cached: int, completion: int) -> Decimal:
    price_in, price_cached, price_out = next(
        (p for name, p in PRICES.items() if model == name or model.startswith(name + "-")),
        _DEFAULT_PRICE,
    )
    total = max(0, prompt - cached) * price_in + cached * price_cached + completion * price_out
    return (total / Decimal(1_000_000)).quantize(Decimal("0.000001"))


class SummaryClient:
    """POST {OPENAI_API_BASE}/chat/completions with a strict JSON schema for the answer."""

    def __init__(
        self, http: httpx.AsyncClient, base: str, api_key: str, model: str, timeout: float = 20.0
    ) -> None:
        self._http = http
        self._url = f"{base}/chat/completions"
        self._key = api_key
        self.model = model
        self._timeout = timeout

    def request_body(self, transcript: str) -> dict[str, object]:
        body: dict[str, object] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": transcript},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "call_summary", "strict": True, "schema": SCHEMA},
            },
            "max_completion_tokens": 400,
        }
        if self.model.startswith(_REASONING_PREFIXES):
            body["reasoning_effort"] = "low"
            body["max_completion_tokens"] = 2000
        return body

    async def summarise(self, transcript: str) -> Summary:
        try:
            response = await self._http.post(
                self._url,
                json=self.request_body(transcript),
                headers={"Authorization": f"Bearer {self._key}"},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise SummaryError(f"unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise SummaryError(f"HTTP {response.status_code}: {_error_code(response.content)}")
        return self._parse(response.content)

    def _parse(self, raw: bytes) -> Summary:
        try:
            body = orjson.loads(raw)
            choice = body["choices"][0]
            message = choice["message"]
            if message.get("refusal") or choice.get("finish_reason") != "stop":
                raise SummaryError(f"no summary: {choice.get('finish_reason')}")
            answer = orjson.loads(message["content"])
            usage = body.get("usage") or {}
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            cost = estimate_cost(
                body.get("model") or self.model,
                int(usage.get("prompt_tokens") or 0),
                int(cached),
                int(usage.get("completion_tokens") or 0),
            )
            return Summary(
                summary=str(answer["summary"]).strip()[:600],
                reason=str(answer["reason"]).strip()[:200],
                callback_needed=bool(answer["callback_needed"]),
                callback_reason=str(answer["callback_reason"]).strip()[:300],
                cost_usd=cost,
            )
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise SummaryError(f"malformed answer: {type(exc).__name__}") from None


def _error_code(raw: bytes) -> str:
    try:
        error = orjson.loads(raw)["error"]
        return str(error.get("code") or error.get("type") or "error")[:80]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return "error"
