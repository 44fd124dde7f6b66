"""The gateway: the single place where LLM calls happen.

Agents (through :meth:`Gateway.serve`) and emitters (through :meth:`Gateway.complete`) hand it an
OpenAI chat-completions body. It decides the model, enforces budgets, answers from recordings or
calls litellm with retries, prices the call, meters it and records it in ``llm_calls``. Whatever
goes wrong comes back as an OpenAI-style error body (``{"error": {"message", "type", ...}}``) and
an ``error`` row: a provider fault is data about the run, never an exception in it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from typing import Any

from qdagents.llm._meter import Budget, Meter
from qdagents.llm._pricing import Pricing
from qdagents.llm._provider import PROVIDER, load_litellm, warm_up
from qdagents.llm._recorder import EXTRA_FIELDS, KEY_FIELDS, Recorder, request_hash
from qdagents.llm._response import (MalformedResponse, check_body, error_body, to_body,
                                     token_usage)

log = logging.getLogger(__name__)

MODES = ("record", "replay", "off")
#: litellm exceptions worth another attempt (after an exponential backoff).
RETRYABLE = ("RateLimitError", "APIConnectionError", "Timeout", "InternalServerError",
             "ServiceUnavailableError", "BadGatewayError")


class InvalidRequest(ValueError):
    """The request body is not a chat-completions request the gateway can serve."""


class EmbeddingError(RuntimeError):
    """An embedding that could not be had (budget, replay miss, provider failure)."""


class Gateway:
    """Serves chat completions to agents and emitters, metered, budgeted and recorded.

    Args:
        model: the model used for every purpose not in ``purpose_models`` (litellm name, e.g.
            ``qdagents/coder`` or ``anthropic/claude-...``). Whatever model a request names, the
            gateway sends it to the configured one.
        db: where exchanges are recorded and looked up (a :class:`~qdagents.llm.Recorder`, e.g.
            the run's ``RunDatabase``); None records nothing.
        purpose_models: ``{"agent": ..., "emitter": ...}`` model per purpose.
        mode: ``record`` answers from recordings when it can and calls the provider otherwise;
            ``replay`` answers only from recordings (a miss is an error, never a provider call);
            ``off`` always calls the provider (exchanges are still recorded).
        api_base: base URL for an OpenAI-compatible or self-hosted provider (not used for the
            offline ``qdagents/*`` models).
        timeout: seconds per provider attempt.
        max_retries: further attempts after a rate limit, connection error, timeout or 5xx.
        prices: ``{model: {"input_per_mtok", "output_per_mtok"}}`` overriding litellm's table.
        run_budget: a :class:`Budget` shared by every call of the run.
        seed: sent with every request that names none, so seeded providers are reproducible.
        replay_source: a second :class:`Recorder` (another run's database) to answer from.
        retry_backoff: seconds before the first retry; doubled for each further one.
    """

    def __init__(self, *, model: str, db: Recorder | None = None,
                 purpose_models: dict[str, str] | None = None, mode: str = "record",
                 api_base: str | None = None, timeout: float = 60, max_retries: int = 3,
                 prices: dict | None = None, run_budget: Budget | None = None,
                 seed: int | None = None, replay_source: Recorder | None = None,
                 retry_backoff: float = 1.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown gateway mode {mode!r}; choose one of {', '.join(MODES)}")
        self.model, self.db, self.mode = model, db, mode
        self.purpose_models = dict(purpose_models or {})
        self.api_base, self.timeout, self.max_retries = api_base, timeout, max_retries
        self.pricing = Pricing(prices)
        self.run_budget, self.seed, self.replay_source = run_budget, seed, replay_source
        self.retry_backoff = retry_backoff
        self._occurrences: dict[str, int] = {}
        self._positions: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def model_for(self, purpose: str) -> str:
        return self.purpose_models.get(purpose) or self.model

    def warm_up(self) -> None:
        """Imports litellm now (it takes seconds) rather than inside the first task's time."""
        warm_up()

    def serve(self, meter: Meter, *, agent_id: str | None = None, task_id: str | None = None,
              directory=None):
        """Starts an OpenAI-compatible server on a fresh unix socket for one task (in
        ``directory`` if given, else in a private temp folder)."""
        from qdagents.llm._server import GatewaySocket

        return GatewaySocket(self, meter, agent_id=agent_id, task_id=task_id, directory=directory)

    # -- one call -------------------------------------------------------------------------------

    def complete(self, request: dict, *, meter: Meter, purpose: str = "agent",
                 agent_id: str | None = None, task_id: str | None = None) -> dict:
        """Answers one chat-completions request body with a response body or an error body."""
        started = time.monotonic()
        row = {"purpose": purpose, "agent_id": agent_id, "task_id": task_id,
               "model": self.model_for(purpose), "request_hash": None, "occurrence": None}
        try:
            prepared = self._prepare(request, purpose)
            row["request_hash"] = request_hash(prepared)
        except (TypeError, ValueError) as exc:  # InvalidRequest, or not JSON-serialisable
            return self._fail(meter, row, request, error_body("invalid_request_error", str(exc)),
                              started)
        budgets = [b for b in (meter.budget, self.run_budget) if b is not None]
        for budget in budgets:
            reason = budget.exceeded()
            if reason:
                return self._fail(meter, row, prepared, error_body("budget_exceeded", reason),
                                  started)
        for budget in budgets:
            budget.charge(calls=1)
        row["occurrence"] = self._next_occurrence(row["request_hash"])

        found = None if self.mode == "off" else self._lookup(row["request_hash"], row["occurrence"])
        position = self._next_position(purpose, agent_id, task_id)
        if found is None and self.mode == "replay" and position is not None:
            found = self._lookup_position(agent_id, task_id, position)
        if found is not None:
            body, (prompt, completion), cached = found[0], found[1], True
        elif self.mode == "replay":
            return self._fail(meter, row, prepared, error_body(
                "replay_miss", f"replay mode: no recording of this request (hash "
                f"{row['request_hash'][:12]}, occurrence {row['occurrence']}, model "
                f"{row['model']}); the run asked something the recorded run did not"), started)
        else:
            body, error = self._call_provider(prepared, meter)
            if error is not None:
                return self._fail(meter, row, prepared, error, started)
            prompt, completion = token_usage(body)
            cached = False

        list_cost = self.pricing.cost(row["model"], prompt, completion)
        latency = time.monotonic() - started
        meter.offer(prepared)  # tools count only in requests that were served
        meter.add_response(message=body["choices"][0]["message"], prompt_tokens=prompt,
                           completion_tokens=completion, cost_usd=0.0 if cached else list_cost,
                           list_cost_usd=list_cost, cached=cached, latency=latency)
        for budget in budgets:
            budget.charge(tokens=prompt + completion, usd=list_cost)
        self._record(row, prepared, body, prompt_tokens=prompt, completion_tokens=completion,
                     cost_usd=0.0 if cached else list_cost, cached=int(cached), latency=latency,
                     error=None)
        return body

    def _prepare(self, request: Any, purpose: str) -> dict:
        if not isinstance(request, dict):
            raise InvalidRequest("the request body must be a JSON object")
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) for m in messages):
            raise InvalidRequest("'messages' must be a non-empty list of message objects")
        if request.get("stream"):
            raise InvalidRequest("'stream': true is not supported by the qdagents gateway; "
                                 "send the request without it")
        if request.get("n") not in (None, 1):
            raise InvalidRequest("'n' other than 1 is not supported by the qdagents gateway")
        if request.get("tools") is not None and not isinstance(request["tools"], list):
            raise InvalidRequest("'tools' must be a list")
        prepared = {"model": self.model_for(purpose), "messages": messages}
        for name in KEY_FIELDS[2:] + EXTRA_FIELDS:
            if request.get(name) is not None:
                prepared[name] = request[name]
        if prepared.get("seed") is None and self.seed is not None:
            prepared["seed"] = self.seed
        return prepared

    def _next_occurrence(self, key: str) -> int:
        with self._lock:
            occurrence = self._occurrences.get(key, 0)
            self._occurrences[key] = occurrence + 1
        return occurrence

    def _next_position(self, purpose: str, agent_id, task_id) -> int | None:
        """How many requests this agent made on this task before this one (agents only)."""
        if purpose != "agent" or agent_id is None or task_id is None:
            return None
        with self._lock:
            position = self._positions.get((agent_id, task_id), 0)
            self._positions[(agent_id, task_id)] = position + 1
        return position

    def _lookup_position(self, agent_id: str, task_id: str, position: int):
        """Replay fallback: the answer the recorded run gave at the same point of the same agent's
        conversation on the same task. Tool output that differs only in incidental text (a test
        runner's timing, a temp path) changes the request hash but not the conversation's shape,
        and a replay must not fail on it."""
        for source in (self.replay_source, self.db):
            finder = getattr(source, "find_recording_at", None)
            found = finder(agent_id, task_id, position) if finder else None
            if found:
                body = found["response"]
                body = json.loads(body) if isinstance(body, (str, bytes)) else body
                return body, (int(found["prompt_tokens"] or 0), int(found["completion_tokens"] or 0))
        return None

    def _lookup(self, key: str, occurrence: int) -> tuple[dict, tuple[int, int]] | None:
        for source in (self.db, self.replay_source):
            if source is None:
                continue
            try:
                found = source.find_recording(key, occurrence)
                if not found or found.get("error"):
                    continue
                body = found["response"]
                body = json.loads(body) if isinstance(body, (str, bytes)) else body
                check_body(body)
            except Exception:
                log.warning("unusable recording for %s/%s ignored", key[:12], occurrence,
                            exc_info=True)
                continue
            prompt, completion = token_usage(body)
            if found.get("prompt_tokens") is not None:
                prompt = int(found["prompt_tokens"])
            if found.get("completion_tokens") is not None:
                completion = int(found["completion_tokens"])
            return body, (prompt, completion)
        return None

    def _provider_kwargs(self, request: dict, **extra) -> dict:
        kwargs = dict(request, timeout=self.timeout, **extra)
        if self.api_base and not request["model"].startswith(PROVIDER + "/"):
            kwargs["api_base"] = self.api_base
        return kwargs

    def _retrying(self, call, kwargs: dict, meter: Meter) -> tuple[Any, dict | None]:
        """Calls a litellm function, retrying transient errors with backoff; returns
        ``(response, None)`` or ``(None, error body)``."""
        litellm = load_litellm()
        retryable = tuple(getattr(litellm, name) for name in RETRYABLE if hasattr(litellm, name))
        model = kwargs["model"]
        for attempt in range(self.max_retries + 1):
            meter.add_provider_call()
            try:
                return call(**kwargs), None
            except retryable as exc:
                if attempt < self.max_retries:
                    time.sleep(self._backoff(attempt))
                    continue
                return None, error_body(
                    "provider_error", f"{model} failed after {attempt + 1} "
                    f"attempt(s): {type(exc).__name__}: {exc}", type(exc).__name__)
            except Exception as exc:  # not worth retrying: bad request, auth, unknown model...
                return None, error_body("provider_error", f"{model}: "
                                        f"{type(exc).__name__}: {exc}", type(exc).__name__)
        raise AssertionError("unreachable")

    def _call_provider(self, prepared: dict, meter: Meter) -> tuple[dict | None, dict | None]:
        """Calls litellm with retries; returns ``(response body, None)`` or ``(None, error)``."""
        litellm = load_litellm()
        response, error = self._retrying(litellm.completion, self._provider_kwargs(
            prepared, max_retries=0, num_retries=0, drop_params=True), meter)
        if error is not None:
            return None, error
        try:
            return to_body(response), None
        except MalformedResponse as exc:
            return None, error_body("malformed_response",
                                    f"{prepared['model']} answered something that is not a "
                                    f"chat completion: {exc}")

    def _backoff(self, attempt: int) -> float:
        return min(self.retry_backoff * 2 ** attempt, 30.0) * random.uniform(0.75, 1.0)

    # -- embeddings ------------------------------------------------------------------------------

    def embed(self, texts: list[str], *, model: str, meter: Meter,
              agent_id: str | None = None) -> list[list[float]]:
        """Embeds ``texts`` through litellm, metered, recorded and replayable like completions.

        Raises:
            EmbeddingError: budget used up, replay miss, or the provider failed after retries.
        """
        started = time.monotonic()
        request = {"model": model, "input": list(texts)}
        key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        row = {"purpose": "embedding", "agent_id": agent_id, "task_id": None, "model": model,
               "request_hash": key, "occurrence": self._next_occurrence(key)}
        budgets = [b for b in (meter.budget, self.run_budget) if b is not None]
        reason = next((r for r in (b.exceeded() for b in budgets) if r), None)
        if reason:
            self._fail(meter, row, request, error_body("budget_exceeded", reason), started)
            raise EmbeddingError(reason)
        found = None
        if self.mode != "off":
            found = next((f for f in (src.find_recording(key, row["occurrence"])
                                      for src in (self.db, self.replay_source) if src) if f), None)
        if found is not None:
            body, tokens, cached = found["response"], int(found["prompt_tokens"] or 0), True
            body = json.loads(body) if isinstance(body, (str, bytes)) else body
        elif self.mode == "replay":
            message = f"replay mode: no recording of this embedding request ({key[:12]})"
            self._fail(meter, row, request, error_body("replay_miss", message), started)
            raise EmbeddingError(message)
        else:
            body, tokens, cached = self._embed_provider(request, meter, row, started), 0, False
            tokens = int((body.get("usage") or {}).get("prompt_tokens") or 0)
        cost = self.pricing.cost(model, tokens, 0)
        meter.add_response(message={"content": None}, prompt_tokens=tokens, completion_tokens=0,
                           cost_usd=0.0 if cached else cost, list_cost_usd=cost, cached=cached,
                           latency=time.monotonic() - started)
        for budget in budgets:
            budget.charge(tokens=tokens, usd=cost, calls=1)
        self._record(row, request, body, prompt_tokens=tokens, completion_tokens=0,
                     cost_usd=0.0 if cached else cost, cached=int(cached),
                     latency=time.monotonic() - started, error=None)
        return [d["embedding"] for d in sorted(body["data"], key=lambda d: d["index"])]

    def _embed_provider(self, request: dict, meter: Meter, row: dict, started: float) -> dict:
        response, error = self._retrying(load_litellm().embedding,
                                         self._provider_kwargs(request), meter)
        if error is None:
            body = response.model_dump() if hasattr(response, "model_dump") else dict(response)
            if body.get("data"):
                return body
            error = error_body("malformed_response", f"{request['model']}: no embeddings")
        self._fail(meter, row, request, error, started)
        raise EmbeddingError(f"embedding failed: {error['error']['message']}")

    def _fail(self, meter: Meter, row: dict, request: Any, body: dict, started: float) -> dict:
        latency = time.monotonic() - started
        meter.add_error(latency=latency)
        self._record(row, request, body, prompt_tokens=0, completion_tokens=0, cost_usd=0.0,
                     cached=0, latency=latency, error=f"{body['error']['type']}: "
                     f"{body['error']['message']}")
        return body

    def _record(self, row: dict, request: Any, response: dict, **values: Any) -> None:
        if self.db is None:
            return
        try:
            self.db.record_llm_call(**row, request=json.dumps(request, default=repr),
                                    response=json.dumps(response), created=time.time(), **values)
        except Exception:
            log.exception("could not record an LLM call in the run database")

