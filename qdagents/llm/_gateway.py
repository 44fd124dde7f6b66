"""The gateway: the single place where LLM calls happen.

Agents (through :meth:`Gateway.serve`) and emitters (through :meth:`Gateway.complete`) hand it an
OpenAI chat-completions body. It decides the model, holds the call's worst-case cost against the
budgets, answers from recordings or calls litellm with retries, prices the call, meters it and
records it in ``llm_calls``. Whatever goes wrong comes back as an OpenAI-style error body
(``{"error": {"message", "type", "param", "code", "fault"}}``) and an ``error`` row, classified
by whose fault it is (:mod:`qdagents.llm._faults`): a provider fault is data about the run, never
an exception in it, and never an agent's fitness.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from qdagents.llm._faults import (AGENT, BUDGET, ERROR_TYPE, FATAL, PROVIDER, Diagnosis,
                                  diagnose, raise_for_fault)
from qdagents.llm._meter import Budget, Meter
from qdagents.llm._pricing import Pricing
from qdagents.llm._provider import PROVIDER as OFFLINE
from qdagents.llm._provider import load_litellm, register_offline_provider, warm_up
from qdagents.llm._recorder import (EXTRA_FIELDS, KEY_FIELDS, Recorder, canonical_json,
                                     request_hash)
from qdagents.llm._response import (MalformedResponse, check_body, error_body, to_body,
                                     token_usage)

log = logging.getLogger(__name__)

MODES = ("record", "replay", "off")
#: Completion tokens held for a call whose limit nobody knows (no ``max_tokens`` in the request
#: or the config, and a model missing from litellm's table).
DEFAULT_COMPLETION_RESERVE = 4096
#: What a probe asks: the smallest request any chat model answers.
PROBE_REQUEST = {"messages": [{"role": "user", "content": "Reply with the word OK."}],
                 "max_tokens": 16}
#: Seconds a successful probe vouches for a model (so a burst of errors probes it once).
PROBE_TTL = 30.0


class InvalidRequest(ValueError):
    """The request body is not a chat-completions request the gateway can serve."""


class EmbeddingError(RuntimeError):
    """An embedding that could not be had for a reason that is not an infrastructure fault
    (the caller's budget, a replay miss, a request the provider refused). Infrastructure faults
    raise :class:`~qdagents.llm.LLMFault` subclasses instead."""


@dataclass(frozen=True)
class Failure:
    """Why a provider call gave no answer: the error body's parts."""

    fault: str
    type: str
    message: str
    code: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    """The answer to :meth:`Gateway.probe`: does ``model`` answer a minimal request now?"""

    model: str
    ok: bool
    fault: str | None = None      # the class of the failure (see qdagents.llm._faults)
    reason: str | None = None     # "authentication failed (bad or missing key)", "rate limited", ...
    message: str | None = None    # the provider's own words
    seconds: float = 0.0


class Gateway:
    """Serves chat completions to agents and emitters, metered, budgeted and recorded.

    Args:
        model: the model used for every purpose not in ``purpose_models`` (litellm name, e.g.
            ``qdagents/coder`` or ``anthropic/claude-...``). Whatever model a request names, the
            gateway sends it to the configured one.
        db: where exchanges are recorded and looked up (a :class:`~qdagents.llm.Recorder`, e.g.
            the run's ``RunDatabase``); None records nothing.
        purpose_models: ``{"agent": ..., "emitter": ...}`` model per purpose; a list is an
            ensemble: its first model is the default, and a caller may pick any of them per call
            (``complete(..., model=...)``), never another.
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
        max_tokens: the most completion tokens one call may ask the provider for: a request
            asking more (or naming no limit) is sent with this one. It bounds what a call can
            cost, and so how far calls in flight can overshoot a USD budget. Not part of the
            record/replay key.
    """

    def __init__(self, *, model: str, db: Recorder | None = None,
                 purpose_models: dict[str, str | list[str]] | None = None, mode: str = "record",
                 api_base: str | None = None, timeout: float = 60, max_retries: int = 3,
                 prices: dict | None = None, run_budget: Budget | None = None,
                 seed: int | None = None, replay_source: Recorder | None = None,
                 retry_backoff: float = 1.0, max_tokens: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown gateway mode {mode!r}; choose one of {', '.join(MODES)}")
        self.model, self.db, self.mode = model, db, mode
        self.purpose_models = {purpose: [models] if isinstance(models, str) else list(models)
                               for purpose, models in (purpose_models or {}).items() if models}
        self.api_base, self.timeout, self.max_retries = api_base, timeout, max_retries
        self.pricing = Pricing(prices)
        self.run_budget, self.seed, self.replay_source = run_budget, seed, replay_source
        self.retry_backoff, self.max_tokens = retry_backoff, max_tokens
        self._occurrences: dict[str, int] = {}
        self._positions: dict[tuple[str, str], int] = {}
        self._unusable: dict[str, str] = {}        # model -> why it cannot work (confirmed)
        self._vouched: dict[str, float] = {}       # model -> until when a probe vouches for it
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: dict, *, db: Recorder | None = None,
                    run_budget: Budget | None = None) -> "Gateway":
        """The gateway a run's config describes (``cfg["llm"]``, ``cfg["seed"]``), recording into
        ``db``; registers the offline provider. Does not warm litellm up (:meth:`warm_up`)."""
        from qdagents.llm._ensemble import emitter_models

        llm = cfg["llm"]
        register_offline_provider(latency=float(llm.get("latency") or 0.0))
        replay_source = None
        if llm.get("replay_from"):
            from qdagents.store import RunDatabase

            replay_source = RunDatabase(llm["replay_from"])
        return cls(model=llm["agent_model"],
                   purpose_models={"agent": llm["agent_model"], "emitter": emitter_models(llm)},
                   db=db, mode=llm["mode"], api_base=llm.get("api_base"),
                   timeout=llm["timeout"], max_retries=llm["max_retries"],
                   prices=llm.get("prices"), run_budget=run_budget,
                   seed=None if cfg.get("seed") is None else int(cfg["seed"]),
                   replay_source=replay_source, max_tokens=llm.get("max_tokens"))

    def model_for(self, purpose: str) -> str:
        """The model a purpose's calls go to by default."""
        return self.models_for(purpose)[0]

    def models_for(self, purpose: str) -> list[str]:
        """Every model a purpose's calls may go to (more than one for an ensemble)."""
        return self.purpose_models.get(purpose) or [self.model]

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
                 agent_id: str | None = None, task_id: str | None = None,
                 model: str | None = None) -> dict:
        """Answers one chat-completions request body with a response body or an error body.

        ``model`` picks one of the purpose's ensemble (:meth:`models_for`); by default the first.
        """
        started = time.monotonic()
        row = {"purpose": purpose, "agent_id": agent_id, "task_id": task_id,
               "model": model or self.model_for(purpose), "request_hash": None,
               "occurrence": None}
        try:
            if model is not None and model not in self.models_for(purpose):
                raise InvalidRequest(f"model {model} is not configured for {purpose} calls "
                                     f"(configured: {', '.join(self.models_for(purpose))})")
            prepared = self._prepare(request, row["model"])
            row["request_hash"] = request_hash(prepared)
        except (TypeError, ValueError) as exc:  # InvalidRequest, or not JSON-serialisable
            return self._fail(meter, row, request, Failure(AGENT, "invalid_request_error",
                                                           str(exc)), started)
        if row["model"] in self._unusable and self.mode != "replay":
            return self._fail(meter, row, prepared, self._unusable_failure(row["model"]), started)
        hold = self._hold(meter, prepared, row["model"])
        if isinstance(hold, Failure):
            return self._fail(meter, row, prepared, hold, started)
        try:
            return self._answer(prepared, row, meter, hold, started)
        finally:
            hold.release()

    def complete_or_raise(self, request: dict, *, meter: Meter, purpose: str = "emitter",
                          agent_id: str | None = None, task_id: str | None = None,
                          model: str | None = None) -> dict:
        """:meth:`complete` for callers that are not agents (emitters): an infrastructure fault
        raises :class:`~qdagents.llm.ProviderFault`, :class:`~qdagents.llm.ProviderUnusable` or
        :class:`~qdagents.llm.RunBudgetExhausted` instead of coming back as a body, so the
        runner can tell a provider fault from a bad edit. Errors that are the request's own
        (context window, a refused request) still come back as error bodies."""
        body = self.complete(request, meter=meter, purpose=purpose, agent_id=agent_id,
                             task_id=task_id, model=model)
        return raise_for_fault(body, model=model or self.model_for(purpose))

    def _answer(self, prepared: dict, row: dict, meter: Meter, hold: "_Hold",
                started: float) -> dict:
        row["occurrence"] = self._next_occurrence(row["request_hash"])
        purpose, agent_id, task_id = row["purpose"], row["agent_id"], row["task_id"]
        found = None if self.mode == "off" else self._lookup(row["request_hash"], row["occurrence"])
        position = self._next_position(purpose, agent_id, task_id)
        if found is None and self.mode == "replay" and position is not None:
            found = self._lookup_position(agent_id, task_id, position)
        if found is not None:
            body, (prompt, completion), cached = found[0], found[1], True
        elif self.mode == "replay":
            return self._fail(meter, row, prepared, Failure(
                AGENT, "replay_miss", f"replay mode: no recording of this request (hash "
                f"{row['request_hash'][:12]}, occurrence {row['occurrence']}, model "
                f"{row['model']}); the run asked something the recorded run did not"), started)
        else:
            body, failure = self._call_provider(prepared, meter)
            if failure is not None:
                return self._fail(meter, row, prepared, failure, started)
            prompt, completion = token_usage(body)
            cached = False

        list_cost = self.pricing.cost(row["model"], prompt, completion)
        latency = time.monotonic() - started
        meter.offer(prepared)  # tools count only in requests that were served
        meter.add_response(message=body["choices"][0]["message"], prompt_tokens=prompt,
                           completion_tokens=completion, cost_usd=0.0 if cached else list_cost,
                           list_cost_usd=list_cost, cached=cached, latency=latency)
        hold.settle(tokens=prompt + completion, usd=list_cost)
        self._record(row, prepared, body, prompt_tokens=prompt, completion_tokens=completion,
                     cost_usd=0.0 if cached else list_cost, cached=int(cached), latency=latency,
                     error=None)
        return body

    def _prepare(self, request: Any, model: str) -> dict:
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
        prepared = {"model": model, "messages": messages}
        for name in KEY_FIELDS[2:] + EXTRA_FIELDS:
            if request.get(name) is not None:
                prepared[name] = request[name]
        if prepared.get("seed") is None and self.seed is not None:
            prepared["seed"] = self.seed
        return prepared

    # -- budgets: hold the worst case before the call, settle after ------------------------------

    def completion_limit(self, request: dict, model: str) -> int:
        """The most completion tokens a call can produce: the request's limit, the configured
        ``max_tokens`` and the model's own (litellm's table), whichever is least; else
        :data:`DEFAULT_COMPLETION_RESERVE`."""
        limits = [request.get(key) for key in ("max_completion_tokens", "max_tokens")]
        limits = [n for n in limits if isinstance(n, int) and not isinstance(n, bool) and n > 0]
        limits += [n for n in (self.max_tokens, self.pricing.max_output_tokens(model)) if n]
        return min(limits) if limits else DEFAULT_COMPLETION_RESERVE

    def _hold(self, meter: Meter, prepared: dict, model: str, *,
              completion: int | None = None) -> "_Hold | Failure":
        """Reserves the call's worst case on the meter's budget (and its parents) and the run's;
        a :class:`Failure` when one of them is used up (then nothing is held)."""
        prompt = prompt_token_bound(prepared)
        if completion is None:
            completion = self.completion_limit(prepared, model)
        rates = self.pricing.rates(model) or (0.0, 0.0)
        tokens, usd = prompt + completion, prompt * rates[0] + completion * rates[1]
        held: list[Budget] = []
        for budget, fault in ((meter.budget, AGENT), (self.run_budget, BUDGET)):
            if budget is None:
                continue
            reason = budget.reserve(tokens=tokens, usd=usd)
            if reason is not None:
                for other in held:
                    other.cancel(tokens=tokens, usd=usd)
                return Failure(fault, "budget_exceeded",
                               f"the run's {reason}" if fault == BUDGET else reason)
            held.append(budget)
        return _Hold(held, tokens, usd)

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

    # -- the provider ------------------------------------------------------------------------------

    def _provider_kwargs(self, request: dict, **extra) -> dict:
        kwargs = dict(request, timeout=self.timeout, **extra)
        if self.api_base and not request["model"].startswith(OFFLINE + "/"):
            kwargs["api_base"] = self.api_base
        if self.max_tokens and "input" not in request:   # completions only
            key = "max_completion_tokens" if "max_completion_tokens" in request else "max_tokens"
            asked = request.get(key)
            if not isinstance(asked, int) or isinstance(asked, bool) or asked > self.max_tokens:
                kwargs[key] = self.max_tokens
        return kwargs

    def _retrying(self, call, kwargs: dict, meter: Meter | None, *, embedding: bool = False,
                  retries: int | None = None) -> tuple[Any, Failure | None]:
        """Calls ``call(**kwargs)`` (a litellm function, its answer checked), retrying transient
        faults with backoff; returns ``(answer, None)`` or ``(None, Failure)``. An error that
        looks unhealable is confirmed with a probe before it is called ``fatal``."""
        model = kwargs["model"]
        retries = self.max_retries if retries is None else retries
        for attempt in range(retries + 1):
            if meter is not None:
                meter.add_provider_call()
            try:
                return call(**kwargs), None
            except Exception as exc:
                diagnosis = diagnose(exc)
                if diagnosis.retry and attempt < retries:
                    time.sleep(self._backoff(attempt))
                    continue
                return None, self._failure(model, diagnosis, exc, attempt + 1,
                                           embedding=embedding, confirm=meter is not None)
        raise AssertionError("unreachable")

    def _failure(self, model: str, diagnosis: Diagnosis, exc: Exception, attempts: int, *,
                 embedding: bool, confirm: bool) -> Failure:
        fault = diagnosis.fault
        if fault == FATAL and confirm:
            fault = self._confirm_unusable(model, diagnosis, embedding=embedding)
        tried = f" after {attempts} attempt(s)" if attempts > 1 or diagnosis.retry else ""
        said = str(exc) if str(exc).startswith("litellm.") else f"{type(exc).__name__}: {exc}"
        message = f"{model} failed{tried}: {diagnosis.reason}: {said}"
        kind = "malformed_response" if isinstance(exc, MalformedResponse) else ERROR_TYPE[fault]
        if fault == FATAL:
            with self._lock:
                self._unusable.setdefault(model, message)
        return Failure(fault, kind, message, type(exc).__name__)

    def _confirm_unusable(self, model: str, diagnosis: Diagnosis, *, embedding: bool) -> str:
        """``fatal`` if a minimal request of the gateway's own fails the same way; otherwise the
        error was the request's own (or passing): the diagnosis' fallback class."""
        with self._lock:
            if model in self._unusable:
                return FATAL
            vouched = self._vouched.get(model, 0.0) > time.monotonic()
        if not vouched:
            probe = self.probe(model, purpose="embedding" if embedding else "agent", retries=0)
            if not probe.ok and probe.fault == FATAL:
                return FATAL
        return diagnosis.fallback or PROVIDER

    def _unusable_failure(self, model: str) -> Failure:
        return Failure(FATAL, ERROR_TYPE[FATAL], f"{self._unusable[model]} (no call made: "
                       "this model was found unusable earlier in this run)")

    def _call_provider(self, prepared: dict, meter: Meter) -> tuple[dict | None, Failure | None]:
        """Calls litellm with retries; returns ``(response body, None)`` or ``(None, Failure)``."""
        litellm = load_litellm()
        return self._retrying(lambda **kw: to_body(litellm.completion(**kw)),
                              self._provider_kwargs(prepared, max_retries=0, num_retries=0,
                                                    drop_params=True), meter)

    def _backoff(self, attempt: int) -> float:
        return min(self.retry_backoff * 2 ** attempt, 30.0) * random.uniform(0.75, 1.0)

    def probe(self, model: str | None = None, *, purpose: str = "agent",
              retries: int | None = None) -> ProbeResult:
        """Does ``model`` (default: the purpose's) answer a minimal request now? For the
        preflight check, for confirming that an error cannot heal, and for a runner waiting for
        its provider to come back. Always asks the provider (never a recording; in replay mode
        it answers ok without a call). Recorded with purpose ``probe`` and charged to the run
        budget, outside its limit: a probe is a few tokens."""
        model = model or self.model_for(purpose)
        started = time.monotonic()
        if self.mode == "replay":
            return ProbeResult(model, True, reason="replay: answers come from recordings")
        litellm = load_litellm()
        if purpose == "embedding":
            request = {"model": model, "input": ["OK"]}
            call = lambda **kw: _embedding_body(litellm.embedding(**kw))  # noqa: E731
            kwargs = self._provider_kwargs(request)
        else:
            request = {"model": model, **PROBE_REQUEST}
            call = lambda **kw: to_body(litellm.completion(**kw))  # noqa: E731
            kwargs = self._provider_kwargs(request, max_retries=0, num_retries=0,
                                           drop_params=True)
        body, failure = self._retrying(call, kwargs, None, embedding=purpose == "embedding",
                                       retries=retries)
        seconds = time.monotonic() - started
        row = {"purpose": "probe", "agent_id": None, "task_id": None, "model": model,
               "request_hash": hashlib.sha256(canonical_json(request).encode()).hexdigest(),
               "occurrence": self._next_occurrence("probe:" + model)}
        if failure is not None:
            self._record(row, request, self._error_body(failure), prompt_tokens=0,
                         completion_tokens=0, cost_usd=0.0, cached=0, latency=seconds,
                         error=f"{failure.type} ({failure.fault}): {failure.message}")
            reason = failure.message.split(": ")[1] if ": " in failure.message else None
            return ProbeResult(model, False, failure.fault, reason, failure.message, seconds)
        prompt, completion = token_usage(body)
        cost = self.pricing.cost(model, prompt, completion)
        if self.run_budget is not None:
            self.run_budget.charge(tokens=prompt + completion, usd=cost)
        self._record(row, request, body, prompt_tokens=prompt, completion_tokens=completion,
                     cost_usd=cost, cached=0, latency=seconds, error=None)
        with self._lock:
            self._vouched[model] = time.monotonic() + PROBE_TTL
        return ProbeResult(model, True, seconds=seconds)

    # -- embeddings ------------------------------------------------------------------------------

    def embed(self, texts: list[str], *, model: str, meter: Meter,
              agent_id: str | None = None) -> list[list[float]]:
        """Embeds ``texts`` through litellm, metered, recorded and replayable like completions.

        Raises:
            ProviderFault, ProviderUnusable, RunBudgetExhausted: an infrastructure fault (see
                :mod:`qdagents.llm._faults`).
            EmbeddingError: anything else (the meter's budget, a replay miss, a refused request).
        """
        started = time.monotonic()
        request = {"model": model, "input": list(texts)}
        key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        row = {"purpose": "embedding", "agent_id": agent_id, "task_id": None, "model": model,
               "request_hash": key, "occurrence": self._next_occurrence(key)}
        if model in self._unusable and self.mode != "replay":
            self._raise(self._fail(meter, row, request, self._unusable_failure(model), started))
        hold = self._hold(meter, request, model, completion=0)
        if isinstance(hold, Failure):
            self._raise(self._fail(meter, row, request, hold, started))
        try:
            found = None
            if self.mode != "off":
                found = next((f for f in (src.find_recording(key, row["occurrence"])
                                          for src in (self.db, self.replay_source) if src) if f),
                             None)
            if found is not None:
                body, tokens, cached = found["response"], int(found["prompt_tokens"] or 0), True
                body = json.loads(body) if isinstance(body, (str, bytes)) else body
            elif self.mode == "replay":
                self._raise(self._fail(meter, row, request, Failure(
                    AGENT, "replay_miss", f"replay mode: no recording of this embedding "
                    f"request ({key[:12]})"), started))
            else:
                body, failure = self._retrying(
                    lambda **kw: _embedding_body(load_litellm().embedding(**kw)),
                    self._provider_kwargs(request), meter, embedding=True)
                if failure is not None:
                    self._raise(self._fail(meter, row, request, failure, started))
                tokens, cached = int((body.get("usage") or {}).get("prompt_tokens") or 0), False
            cost = self.pricing.cost(model, tokens, 0)
            meter.add_response(message={"content": None}, prompt_tokens=tokens,
                               completion_tokens=0, cost_usd=0.0 if cached else cost,
                               list_cost_usd=cost, cached=cached,
                               latency=time.monotonic() - started)
            hold.settle(tokens=tokens, usd=cost)
            self._record(row, request, body, prompt_tokens=tokens, completion_tokens=0,
                         cost_usd=0.0 if cached else cost, cached=int(cached),
                         latency=time.monotonic() - started, error=None)
            return [d["embedding"] for d in sorted(body["data"], key=lambda d: d["index"])]
        finally:
            hold.release()

    @staticmethod
    def _raise(body: dict) -> None:
        raise_for_fault(body)
        raise EmbeddingError(f"embedding failed: {body['error']['message']}")

    def record_error(self, request: Any, *, fault: str, kind: str, message: str, meter: Meter,
                     purpose: str = "agent", agent_id: str | None = None,
                     task_id: str | None = None) -> dict:
        """Records a call that failed on its way to or from the gateway (a Dask worker's relay
        that lost it) as an ``llm_calls`` error row of class ``fault``, counts it on ``meter``,
        and returns the error body."""
        row = {"purpose": purpose, "agent_id": agent_id, "task_id": task_id,
               "model": self.model_for(purpose), "request_hash": None, "occurrence": None}
        return self._fail(meter, row, request, Failure(fault, kind, message), time.monotonic())

    # -- failures and records --------------------------------------------------------------------

    @staticmethod
    def _error_body(failure: Failure) -> dict:
        body = error_body(failure.type, failure.message, failure.code)
        body["error"]["fault"] = failure.fault
        return body

    def _fail(self, meter: Meter, row: dict, request: Any, failure: Failure,
              started: float) -> dict:
        latency = time.monotonic() - started
        meter.add_error(latency=latency, fault=failure.fault, message=failure.message)
        body = self._error_body(failure)
        self._record(row, request, body, prompt_tokens=0, completion_tokens=0, cost_usd=0.0,
                     cached=0, latency=latency,
                     error=f"{failure.type} ({failure.fault}): {failure.message}")
        return body

    def _record(self, row: dict, request: Any, response: dict, **values: Any) -> None:
        if self.db is None:
            return
        try:
            self.db.record_llm_call(**row, request=json.dumps(request, default=repr),
                                    response=json.dumps(response), created=time.time(), **values)
        except Exception:
            log.exception("could not record an LLM call in the run database")


class _Hold:
    """What one call reserved on its budgets; settled once, released (if not settled) after."""

    def __init__(self, budgets: list[Budget], tokens: int, usd: float) -> None:
        self.budgets, self.tokens, self.usd = budgets, tokens, usd

    def settle(self, *, tokens: int = 0, usd: float = 0.0) -> None:
        budgets, self.budgets = self.budgets, []
        for budget in budgets:
            budget.settle(reserved_tokens=self.tokens, reserved_usd=self.usd, tokens=tokens,
                          usd=usd)

    def release(self) -> None:
        self.settle()


def prompt_token_bound(request: dict) -> int:
    """An upper bound on the prompt tokens of a request, without a tokenizer: the UTF-8 bytes of
    its messages and tools (a BPE token is at least one byte) plus a few tokens of framing per
    message. Used only to reserve budget before a call; the call is charged what it used."""
    parts = request.get("messages") or request.get("input") or []
    size = len(canonical_json([parts, request.get("tools")]).encode("utf-8"))
    return size + 8 * (len(parts) if isinstance(parts, list) else 1)


def _embedding_body(response: Any) -> dict:
    body = response.model_dump() if hasattr(response, "model_dump") else dict(response)
    if not body.get("data"):
        raise MalformedResponse("no embeddings in the answer")
    return body
