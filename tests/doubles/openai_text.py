"""A fake OpenAI Chat Completions API (`POST /v1/chat/completions`) for call summaries, and the
Models API (`GET /v1/models`, `GET /v1/models/{model}`) the doctor asks which models a key has.

Requests are checked against the `openai` package's own types (CompletionCreateParams and the
message and response-format params it names; unknown keys are violations) and with Bearer auth;
answers are built as the package's `ChatCompletion` model, validated before they are sent.
Errors use OpenAI's shape `{"error": {"message", "type", "param", "code"}}`. Modes: ok, error
(500), unauthorized (401), stall (no answer until stopped), refusal, malformed (content not JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Self, get_type_hints

import orjson
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.chat import completion_create_params as params
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.doubles.server import RunningServer, serve_app

TextMode = Literal["ok", "error", "unauthorized", "stall", "refusal", "malformed"]

_KEYS = frozenset(get_type_hints(params.CompletionCreateParamsNonStreaming))
_MESSAGES: TypeAdapter[list[ChatCompletionMessageParam]] = TypeAdapter(
    list[ChatCompletionMessageParam]
)
_FORMAT: TypeAdapter[params.ResponseFormat] = TypeAdapter(params.ResponseFormat)
_MESSAGE_KEYS = frozenset({"role", "content", "name"})


def _error(status: int, message: str, type_: str, code: str | None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


@dataclass
class FakeOpenAIText:
    """`async with FakeOpenAIText() as api`: base_url is the value for OPENAI_API_BASE."""

    api_key: str = "sk-test-not-a-real-key"
    mode: TextMode = "ok"
    reply: dict[str, Any] = field(
        default_factory=lambda: {
            "summary": "A caller left a message.",
            "reason": "left a message",
            "callback_needed": True,
            "callback_reason": "They asked to be called back.",
        }
    )
    delay: float = 0.0
    # What GET /v1/models lists for the key: the service's default models, and others.
    models: list[str] = field(
        default_factory=lambda: [
            "gpt-realtime-2.1",
            "gpt-realtime-2.1-mini",
            "gpt-realtime-2",
            "gpt-4o-mini-transcribe",
            "gpt-5.4-mini",
            "gpt-4.1-mini",
            "gpt-4o-realtime-preview",
        ]
    )
    requests: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    # Runs before a completion is answered (it is paid for from then on): a test causes a fault
    # there, e.g. stops the database the summary is to be stored in.
    before_answer: Callable[[], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._create, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/v1/models/{model:path}", self._retrieve_model, methods=["GET"]),
            ]
        )
        self._stack: contextlib.AsyncExitStack | None = None
        self._running: RunningServer | None = None
        self._release = asyncio.Event()

    async def __aenter__(self) -> Self:
        self._stack = contextlib.AsyncExitStack()
        self._running = await self._stack.enter_async_context(serve_app(self.app, None))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()
        if self._stack is not None:
            await self._stack.aclose()

    @property
    def base_url(self) -> str:
        assert self._running is not None
        return self._running.http_url + "/v1"

    def check(self, body: Any) -> list[str]:
        """What the real API would refuse in this request body (empty: nothing)."""
        if not isinstance(body, dict):
            return ["body is not a JSON object"]
        problems = [f"unknown parameter {k!r}" for k in body if k not in _KEYS]
        if not isinstance(body.get("model"), str):
            problems.append("model is required")
        try:
            messages = _MESSAGES.validate_python(body.get("messages"))
            for message in messages:
                problems += [
                    f"unknown message key {k!r}" for k in message if k not in _MESSAGE_KEYS
                ]
        except ValidationError as exc:
            problems.append(f"messages: {exc.errors()[0]['msg']}")
        if "response_format" in body:
            try:
                _FORMAT.validate_python(body["response_format"])
            except ValidationError as exc:
                problems.append(f"response_format: {exc.errors()[0]['msg']}")
        return problems

    def _refused(self, request: Request) -> Response | None:
        if (
            request.headers.get("authorization") != f"Bearer {self.api_key}"
            or self.mode == "unauthorized"
        ):
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if self.mode == "error":
            return _error(
                500, "The server had an error while processing your request.", "server_error", None
            )
        return None

    @staticmethod
    def _model(name: str) -> dict[str, Any]:
        # Checked against the openai package's own type before it is sent.
        model = Model(id=name, object="model", created=1_700_000_000, owned_by="system")
        return model.model_dump()

    async def _list_models(self, request: Request) -> Response:
        self.requests.append({"GET": "/v1/models"})
        refused = self._refused(request)
        if refused is not None:
            return refused
        return JSONResponse({"object": "list", "data": [self._model(m) for m in self.models]})

    async def _retrieve_model(self, request: Request) -> Response:
        name = request.path_params["model"]
        self.requests.append({"GET": f"/v1/models/{name}"})
        refused = self._refused(request)
        if refused is not None:
            return refused
        if name not in self.models:
            message = f"The model '{name}' does not exist or you do not have access to it."
            return _error(404, message, "invalid_request_error", "model_not_found")
        return JSONResponse(self._model(name))

    async def _create(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(
                400,
                "We could not parse the JSON body of your request.",
                "invalid_request_error",
                None,
            )
        self.requests.append(body)
        if (
            request.headers.get("authorization") != f"Bearer {self.api_key}"
            or self.mode == "unauthorized"
        ):
            return _error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        problems = self.check(body)
        if problems:
            self.violations += problems
            return _error(400, problems[0], "invalid_request_error", None)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "stall":
            await self._release.wait()
        if self.before_answer is not None:
            await self.before_answer()
        if self.mode == "error":
            return _error(
                500, "The server had an error while processing your request.", "server_error", None
            )
        return JSONResponse(self._completion(body))

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        refusal = self.mode == "refusal"
        content = None if refusal else orjson.dumps(self.reply).decode()
        if self.mode == "malformed":
            content = "Sure! Here is the summary: a caller called."
        prompt = sum(len(str(m.get("content", ""))) // 4 for m in body["messages"])
        completion = 0 if content is None else len(content) // 4
        payload = {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"] + "-2025-04-14"
            if body["model"] == "gpt-4.1-mini"
            else body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": "I can't help with that." if refusal else None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_" + secrets.token_hex(5),
        }
        ChatCompletion.model_validate(payload)  # what the official client would accept
        return payload
