"""OpenAI response and error bodies: checking what a provider answered, and shaping errors.

The gateway hands agents plain JSON; whatever litellm or a recording gives back is checked here
first, so an agent never receives something that merely looks like a chat completion.
"""

from __future__ import annotations

import json
from typing import Any


def error_body(kind: str, message: str, code: str | None = None) -> dict:
    """An OpenAI-style error body. ``kind`` is one of ``invalid_request_error``,
    ``budget_exceeded``, ``replay_miss``, ``provider_error``, ``malformed_response``."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class MalformedResponse(ValueError):
    """The provider answered with something that is not a chat completion."""


def token_usage(body: dict) -> tuple[int, int]:
    """``(prompt_tokens, completion_tokens)`` of a response body, 0 where missing."""
    usage = body.get("usage") or {}
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def check_body(body: Any) -> None:
    """Raises :class:`MalformedResponse` unless ``body`` is a chat completion with a message."""
    if not isinstance(body, dict):
        raise MalformedResponse("the response is not an object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse("the response has no choices")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise MalformedResponse("the first choice has no message")
    if message.get("content") is not None and not isinstance(message["content"], (str, list)):
        raise MalformedResponse("the message content is neither text nor parts")
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) \
                or not isinstance(function.get("arguments"), str):
            raise MalformedResponse("a tool call lacks a function name or arguments")
    usage = body.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise MalformedResponse("usage is not an object")


def to_body(response: Any) -> dict:
    """litellm's ``ModelResponse`` as a plain, JSON-serialisable OpenAI response body."""
    try:
        raw = response.model_dump() if hasattr(response, "model_dump") else response
        body = json.loads(json.dumps(raw, default=str))
    except (TypeError, ValueError) as exc:
        raise MalformedResponse(f"not serialisable: {exc}") from exc
    check_body(body)
    for choice in body["choices"]:
        if isinstance(choice, dict):
            choice.pop("provider_specific_fields", None)
            message = choice.get("message") or {}
            message.pop("provider_specific_fields", None)
            for key in ("function_call", "tool_calls"):
                if key in message and message[key] is None:
                    del message[key]
    return body
