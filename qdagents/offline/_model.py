"""The offline model: a deterministic stand-in for a hosted LLM, for development, tests and demos.

It is not a language model. It answers two roles with hand-written policies that read only the
request (never files, hidden tests or reference solutions):

* ``coder`` (what agents talk to, :mod:`qdagents.offline._coder`): a small program-repair
  searcher that looks at the code, proposes single-line mutations ranked by the test output it
  was shown, and runs the tests when the agent lets it;
* ``mutator`` (what emitters talk to, :mod:`qdagents.offline._mutator`): proposes scaffold
  changes to an agent as SEARCH/REPLACE edits from a fixed catalogue.

Same ``(role, messages, tools, seed)`` → same answer: all randomness comes from a hash of the
request. Token usage is counted from the text with the rule in :func:`count_tokens`.
"""

from __future__ import annotations

import hashlib
import json
import random
import time

#: Characters per token in the usage rule (OpenAI's rule of thumb for English and code).
CHARS_PER_TOKEN = 4


def count_tokens(text: str) -> int:
    """Tokens in ``text``: one per 4 characters, rounded up (0 for empty text)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def message_text(message: dict) -> str:
    """All the text a message carries: its content plus its tool calls' names and arguments."""
    content = message.get("content")
    if isinstance(content, list):  # OpenAI content parts
        content = "\n".join(p.get("text") or "" for p in content if isinstance(p, dict))
    parts = [content if isinstance(content, str) else ""]
    for call in message.get("tool_calls") or []:
        function = (call or {}).get("function") or {}
        arguments = function.get("arguments")
        parts += [str(function.get("name") or ""),
                  arguments if isinstance(arguments, str) else json.dumps(arguments)]
    return "\n".join(p for p in parts if p)


def prompt_tokens(messages: list[dict], tools: list[dict] | None) -> int:
    """Prompt tokens: every message's text plus the tool schemas' JSON, at 4 characters a token."""
    text = "".join(message_text(m) for m in messages)
    if tools:
        text += json.dumps(tools, sort_keys=True)
    return count_tokens(text)


def request_rng(role: str, messages: list[dict], tools: list[dict] | None, seed: int | None,
                salt: str = "") -> random.Random:
    """A private random generator seeded by a hash of the request (never the global RNG)."""
    blob = json.dumps([role, messages, tools, seed, salt], sort_keys=True, default=str)
    return random.Random(int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "big"))


class OfflineModel:
    """A deterministic model served as the litellm provider ``qdagents`` (a stand-in, not an LLM).

    Args:
        latency: Seconds slept per call, to simulate a remote model.
    """

    def __init__(self, *, latency: float = 0.0):
        self.latency = latency

    def respond(self, role: str, messages: list[dict], tools: list[dict] | None,
                seed: int | None) -> dict:
        """Answers one chat request as ``{"message", "finish_reason", "usage"}``.

        Args:
            role: ``"coder"`` (agents) or ``"mutator"`` (emitters).
            messages: The OpenAI chat messages of the request.
            tools: The OpenAI tool schemas offered, or None.
            seed: The request's seed; None is the same as 0.
        """
        from qdagents.offline._coder import code_reply
        from qdagents.offline._mutator import mutation_reply

        if role not in ("coder", "mutator"):
            raise ValueError(f"unknown offline role {role!r}; use 'coder' or 'mutator'")
        if self.latency:
            time.sleep(self.latency)
        messages = [m if isinstance(m, dict) else m.model_dump() for m in messages or []]
        rng = request_rng(role, messages, tools, seed or 0)
        if role == "coder":
            content, calls = code_reply(messages, tools or [], int(seed or 0))
        else:
            content, calls = mutation_reply(messages, int(seed or 0)), []
        message = {"role": "assistant", "content": content}
        if calls:
            tag = f"{rng.getrandbits(48):012x}"
            message["tool_calls"] = [
                {"id": f"call_{tag}_{i}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(arguments)}}
                for i, (name, arguments) in enumerate(calls)]
        return {"message": message, "finish_reason": "tool_calls" if calls else "stop",
                "usage": {"prompt_tokens": prompt_tokens(messages, tools),
                          "completion_tokens": max(1, count_tokens(message_text(message)))}}
