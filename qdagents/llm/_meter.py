"""Metering and budgets: what one evaluation-task (or one emitter call) used of the LLM.

The descriptors are computed from these numbers, never from what an agent says about itself:
token cost from the tokens the gateway saw, tool count from the tools the agent offered the model,
edit granularity from the lines the model emitted.
"""

from __future__ import annotations

import json
import threading
from typing import Any


class Budget:
    """Limits on tokens, list-price USD and calls; thread-safe, so one can be shared by a run.

    A limit of ``None`` is no limit. Each call *reserves* its worst case before it starts (the
    prompt's size plus its completion limit, priced) and *settles* to what it really used when it
    ends. A call is admitted while what is used plus what calls in flight have reserved is below
    the limit, so whatever the number of calls in flight, the budget is overshot by at most one
    call's reservation (see docs/llm.md, "Budgets"). Cached and replayed calls are charged their
    list price, so a replayed run meets its budgets at the same points as the recorded one.

    Args:
        tokens: most prompt + completion tokens.
        usd: most cost in USD (list price, see :attr:`Meter.list_cost_usd`).
        calls: most requests admitted.
        parent: a larger budget this one is part of (a task's budget inside its evaluation's):
            charged along with this one, and exceeded when it is.
    """

    def __init__(self, *, tokens: int | None = None, usd: float | None = None,
                 calls: int | None = None, parent: "Budget | None" = None) -> None:
        self.tokens, self.usd, self.calls = tokens, usd, calls
        self.parent = parent
        self.used_tokens, self.used_usd, self.used_calls = 0, 0.0, 0
        self.reserved_tokens, self.reserved_usd = 0, 0.0
        self._lock = threading.Lock()

    def _refusal(self) -> str | None:   # holding self._lock
        if self.calls is not None and self.used_calls >= self.calls:
            return f"call budget of {self.calls} calls used up"
        if self.tokens is not None and self.used_tokens + self.reserved_tokens >= self.tokens:
            held = f", {self.reserved_tokens} held by calls in flight" if self.reserved_tokens else ""
            return f"token budget of {self.tokens} tokens used up ({self.used_tokens} used{held})"
        if self.usd is not None and self.used_usd + self.reserved_usd >= self.usd:
            held = (f", {self.reserved_usd:.6f} held by calls in flight" if self.reserved_usd
                    else "")
            return f"USD budget of {self.usd:g} used up ({self.used_usd:.6f} used{held})"
        return None

    def exceeded(self) -> str | None:
        """Why no further call may start, or None while the budget lasts."""
        if self.parent is not None:
            reason = self.parent.exceeded()
            if reason:
                return reason
        with self._lock:
            return self._refusal()

    def reserve(self, *, tokens: int = 0, usd: float = 0.0) -> str | None:
        """Admits one call holding ``tokens`` and ``usd`` (its worst case) until :meth:`settle`;
        returns why not instead (nothing is held then). Counts the call."""
        with self._lock:
            reason = self._refusal()
            if reason is None:
                self.used_calls += 1
                self.reserved_tokens += tokens
                self.reserved_usd += usd
        if reason is None and self.parent is not None:
            reason = self.parent.reserve(tokens=tokens, usd=usd)
            if reason is not None:
                self._unreserve(tokens, usd)
        return reason

    def _unreserve(self, tokens: int, usd: float) -> None:
        with self._lock:
            self.used_calls -= 1
            self.reserved_tokens -= tokens
            self.reserved_usd -= usd

    def cancel(self, *, tokens: int = 0, usd: float = 0.0) -> None:
        """Undoes a :meth:`reserve` whose call will not be made (another budget refused it)."""
        self._unreserve(tokens, usd)
        if self.parent is not None:
            self.parent.cancel(tokens=tokens, usd=usd)

    def settle(self, *, reserved_tokens: int = 0, reserved_usd: float = 0.0, tokens: int = 0,
               usd: float = 0.0) -> None:
        """Ends a reservation: releases what it held and charges what the call used."""
        with self._lock:
            self.reserved_tokens -= reserved_tokens
            self.reserved_usd -= reserved_usd
            self.used_tokens += tokens
            self.used_usd += usd
        if self.parent is not None:
            self.parent.settle(reserved_tokens=reserved_tokens, reserved_usd=reserved_usd,
                               tokens=tokens, usd=usd)

    def charge(self, *, tokens: int = 0, usd: float = 0.0, calls: int = 0) -> None:
        with self._lock:
            self.used_tokens += tokens
            self.used_usd += usd
            self.used_calls += calls
        if self.parent is not None:
            self.parent.charge(tokens=tokens, usd=usd, calls=calls)

    def __repr__(self) -> str:
        return (f"Budget(tokens={self.used_tokens}+{self.reserved_tokens}/{self.tokens}, "
                f"usd={self.used_usd:.6f}+{self.reserved_usd:.6f}/{self.usd}, "
                f"calls={self.used_calls}/{self.calls})")


def count_lines(text: str | None) -> int:
    return len(text.splitlines()) if text else 0


def _string_lines(value: Any) -> int:
    if isinstance(value, str):
        return count_lines(value)
    if isinstance(value, dict):
        return sum(_string_lines(v) for v in value.values())
    if isinstance(value, list):
        return sum(_string_lines(v) for v in value)
    return 0


def lines_emitted(message: dict) -> int:
    """Lines of text the model produced in one assistant message.

    The assistant ``content`` counts line by line. Tool-call ``arguments`` are JSON text, where a
    file's newlines are escaped: they are decoded and every string in them counts line by line
    (a whole-file write of 40 lines counts about 40; a one-line replace counts a few). Arguments
    that are not JSON count as raw text.
    """
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "\n".join(p.get("text") or "" for p in content if isinstance(p, dict))
    total = count_lines(content if isinstance(content, str) else None)
    for call in message.get("tool_calls") or []:
        arguments = ((call or {}).get("function") or {}).get("arguments")
        if not isinstance(arguments, str):
            total += _string_lines(arguments)
            continue
        try:
            total += _string_lines(json.loads(arguments))
        except ValueError:
            total += count_lines(arguments)
    return total


def tool_names(request: dict) -> set[str]:
    """Names of the tools a request offers (``tools`` and the legacy ``functions``)."""
    names = set()
    for tool in request.get("tools") or []:
        if isinstance(tool, dict):
            name = (tool.get("function") or {}).get("name") or tool.get("name")
            if isinstance(name, str):
                names.add(name)
    for function in request.get("functions") or []:
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
    return names


class Meter:
    """What one evaluation-task, or one emitter call, used of the LLM. Thread-safe.

    Attributes:
        calls: requests answered with a model response (provider or recording).
        prompt_tokens, completion_tokens: token usage of those responses, cached ones included.
        cost_usd: money actually spent (0 for answers from recordings).
        list_cost_usd: what the responses cost at list price, cached or not. Descriptors and
            budgets use this, so a replayed run measures the same as the recorded one.
        cache_hits: responses that came from recordings.
        provider_calls: calls made to the provider, retries included.
        tools_offered: union of the tool names offered in the requests that were served (not
            in refused or failed ones: the gateway calls :meth:`offer` only with an answer).
        lines_emitted: lines in the assistant content and tool-call arguments of all responses.
        latency: total seconds spent answering.
        errors: requests answered with an error body.
        faults: those errors by class (``agent``, ``provider``, ``fatal``, ``budget``: see
            :mod:`qdagents.llm._faults`); :meth:`infrastructure_fault` says whether the provider,
            not the agent, spoiled what this meter measured.
        budget: an optional per-meter :class:`Budget`.
    """

    def __init__(self, *, budget: Budget | None = None) -> None:
        self.budget = budget
        self.calls = self.prompt_tokens = self.completion_tokens = 0
        self.cost_usd = self.list_cost_usd = 0.0
        self.cache_hits = self.provider_calls = self.lines_emitted = self.errors = 0
        self.tools_offered: set[str] = set()
        self.latency = 0.0
        self.faults: dict[str, int] = {}
        self._fault_messages: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def offer(self, request: dict) -> None:
        names = tool_names(request)
        with self._lock:
            self.tools_offered |= names

    def add_provider_call(self) -> None:
        with self._lock:
            self.provider_calls += 1

    def add_response(self, *, message: dict, prompt_tokens: int, completion_tokens: int,
                     cost_usd: float, list_cost_usd: float, cached: bool, latency: float) -> None:
        lines = lines_emitted(message)
        with self._lock:
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.cost_usd += cost_usd
            self.list_cost_usd += list_cost_usd
            self.cache_hits += int(cached)
            self.lines_emitted += lines
            self.latency += latency

    def add_error(self, *, latency: float = 0.0, fault: str = "agent",
                  message: str | None = None) -> None:
        """Counts a request answered with an error body of class ``fault``."""
        with self._lock:
            self.errors += 1
            self.latency += latency
            self.faults[fault] = self.faults.get(fault, 0) + 1
            self._fault_messages.setdefault(fault, message or "")

    def infrastructure_fault(self) -> tuple[str, str] | None:
        """``(class, first message)`` of the worst infrastructure fault seen (``fatal``, then
        ``provider``, then ``budget``), or None when every error was the agent's own."""
        from qdagents.llm._faults import INFRASTRUCTURE

        with self._lock:
            for fault in INFRASTRUCTURE:
                if self.faults.get(fault):
                    return fault, self._fault_messages[fault]
        return None

    def snapshot(self) -> dict:
        """The counts as a JSON-serialisable dict (``tools_offered`` sorted)."""
        with self._lock:
            return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": self.completion_tokens, "tokens": self.tokens,
                    "cost_usd": self.cost_usd, "list_cost_usd": self.list_cost_usd,
                    "cache_hits": self.cache_hits, "provider_calls": self.provider_calls,
                    "tools_offered": sorted(self.tools_offered),
                    "lines_emitted": self.lines_emitted, "latency": self.latency,
                    "errors": self.errors, "faults": dict(self.faults)}

    def __repr__(self) -> str:
        return f"Meter({self.snapshot()})"
