"""Whose fault a failed LLM call is: the agent's, the provider's, or a provider that cannot work.

A provider fault must never become an agent's fitness. Every error the gateway answers with is
put in one of four classes, and the class decides what the run does with it:

========== ====================================================== =================================
class      when                                                   what the run does
========== ====================================================== =================================
``agent``  the agent's own doing: its request exceeds the model's  the agent's failure, as today
           context window or is malformed (the provider, or the
           gateway, refused it), its per-task or per-evaluation
           budget is used up, or a replay has no recording of it
``provider`` rate limits past the retries, 5xx answers, timeouts,  infrastructure failure: the
           the provider unreachable or dying mid-call, an answer   evaluation never enters the
           that is not a chat completion                          archive and is retried later
``fatal``  cannot heal: authentication (bad or missing key), no    stop the run at once, naming the
           credit, an unknown model, no permission                model and the provider's message
``budget`` the run's own token or USD budget is used up            the evaluation is unfinished, not
                                                                  failed; the run stops
========== ====================================================== =================================

``fatal`` is *confirmed* before it stops anything: an error only looks unhealable until a minimal
request the gateway builds itself (:meth:`Gateway.probe`) fails the same way. Provider error
messages often echo the request, so an agent could otherwise craft a request whose error reads
"invalid API key" and stop the run; if the probe is answered, the error was the request's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AGENT, PROVIDER, FATAL, BUDGET = "agent", "provider", "fatal", "budget"
FAULTS = (AGENT, PROVIDER, FATAL, BUDGET)
#: Faults that spoil an evaluation: it says nothing about the agent.
INFRASTRUCTURE = (FATAL, PROVIDER, BUDGET)
#: How an infrastructure failure is named in ``Evaluation.failure`` (the text starts with it).
FAILURE_PREFIX = {FATAL: "provider unusable", PROVIDER: "provider fault",
                  BUDGET: "run budget used up"}
#: The OpenAI-style error ``type`` the gateway answers with for a fault of the provider's call.
ERROR_TYPE = {AGENT: "invalid_request_error", PROVIDER: "provider_error",
              FATAL: "provider_unusable", BUDGET: "budget_exceeded"}
#: The fault of each error type the gateway answers with, when the body does not say.
FAULT_OF_TYPE = {"invalid_request_error": AGENT, "replay_miss": AGENT, "budget_exceeded": AGENT,
                 "provider_error": PROVIDER, "malformed_response": PROVIDER,
                 "gateway_error": PROVIDER, "provider_unusable": FATAL}

_NO_CREDIT = ("insufficient_quota", "exceeded your current quota", "credit balance",
              "insufficient credit", "insufficient funds", "out of credits", "payment required",
              "billing")
_BAD_KEY = ("missing credentials", "api key", "api_key", "apikey", "x-api-key",
            "authentication", "unauthorized", "unauthenticated")
_UNKNOWN_MODEL = ("model not found", "model_not_found", "does not exist", "not a valid model",
                  "unknown model", "no such model", "invalid model", "llm provider not provided",
                  "model isn't mapped")
_UNREACHABLE = ("connection error", "connection refused", "connection reset", "connecterror",
                "name or service not known", "failed to establish", "server disconnected",
                "remote end closed", "remotedisconnected")
_CONTEXT = ("context length", "context_length", "context window", "maximum context",
            "prompt is too long", "input is too long", "too many tokens", "reduce the length",
            "maximum number of tokens", "exceeds the context")


@dataclass(frozen=True)
class Diagnosis:
    """What an exception from litellm means for the run.

    Attributes:
        fault: one of :data:`FAULTS`.
        retry: worth another attempt after a backoff (transient).
        reason: a short label ("rate limited", "no credit", ...), shown with the provider's message.
        fallback: for a ``fatal`` diagnosis, the class to use when a probe shows the model works
            after all (then the error was the request's own, or passing).
    """

    fault: str
    retry: bool
    reason: str
    fallback: str | None = None

    @property
    def needs_confirmation(self) -> bool:
        return self.fault == FATAL


def _has(text: str, needles: tuple[str, ...]) -> bool:
    return any(n in text for n in needles)


def diagnose(exc: BaseException) -> Diagnosis:
    """Classifies an exception raised by ``litellm.completion``/``embedding`` (or by the gateway
    checking what came back). Uses the exception's class, its HTTP ``status_code`` and, for the
    few cases providers only say in words (no credit, a missing key), its message."""
    from qdagents.llm._response import MalformedResponse

    names = {cls.__name__ for cls in type(exc).__mro__}
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    text = str(exc).lower()
    body = getattr(exc, "body", None)     # the provider's error object, when litellm kept it
    codes = {str(body.get(k)).lower() for k in ("code", "type")} if isinstance(body, dict) else set()
    server_side = status is not None and status >= 500
    if isinstance(exc, MalformedResponse):
        return Diagnosis(PROVIDER, True, "malformed response")
    if "ContextWindowExceededError" in names or (
            status in (400, 413, None) and "BadRequestError" in names and _has(text, _CONTEXT)):
        return Diagnosis(AGENT, False, "context window exceeded")
    if "ContentPolicyViolationError" in names:
        return Diagnosis(AGENT, False, "refused by the provider's content policy")
    if status in (401, 403) or names & {"AuthenticationError", "PermissionDeniedError"}:
        reason = "permission denied" if status == 403 else "authentication failed (bad or missing key)"
        return Diagnosis(FATAL, False, reason, fallback=PROVIDER)
    if status == 402 or "PaymentRequiredError" in names or "insufficient_quota" in codes or (
            status not in (429, 408) and not server_side and _has(text, _NO_CREDIT)):
        # a 429 is no credit only when it says so in its code (OpenAI's insufficient_quota):
        # Gemini words its per-minute rate limits "You exceeded your current quota ..."
        return Diagnosis(FATAL, False, "no credit", fallback=AGENT if status == 400 else PROVIDER)
    if status == 404 or "NotFoundError" in names:
        return Diagnosis(FATAL, False, "unknown model", fallback=PROVIDER)
    if _has(text, _BAD_KEY) and (status in (None, 400) or "Missing credentials" in str(exc)):
        # litellm's OpenAI client reports a missing key as an InternalServerError
        return Diagnosis(FATAL, False, "authentication failed (bad or missing key)",
                         fallback=AGENT if status == 400 else PROVIDER)
    if status in (400, None) and "BadRequestError" in names and _has(text, _UNKNOWN_MODEL):
        return Diagnosis(FATAL, False, "unknown model", fallback=AGENT)
    if status == 429 or "RateLimitError" in names:
        return Diagnosis(PROVIDER, True, "rate limited")
    if status == 408 or "Timeout" in names:
        return Diagnosis(PROVIDER, True, "timed out")
    if "APIConnectionError" in names or (status in (None, 500) and _has(text, _UNREACHABLE)):
        # litellm's OpenAI client reports a hang-up or a refused connection as a 500
        return Diagnosis(PROVIDER, True, "unreachable")
    if server_side or names & {"InternalServerError", "ServiceUnavailableError",
                               "BadGatewayError"}:
        return Diagnosis(PROVIDER, True, "server error")
    if status in (400, 409, 413, 422) or names & {
            "BadRequestError", "UnprocessableEntityError", "UnsupportedParamsError",
            "JSONSchemaValidationError", "InvalidRequestError"}:
        return Diagnosis(AGENT, False, "request rejected by the provider")
    # an error litellm could not map, or a bug below us: not the agent's doing
    return Diagnosis(PROVIDER, False, "unexpected error")


def fault_of_body(body: dict) -> str | None:
    """The fault class of a gateway answer: None for a response, else one of :data:`FAULTS`."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    fault = error.get("fault")
    return fault if fault in FAULTS else FAULT_OF_TYPE.get(error.get("type"), PROVIDER)


_ERROR_TEXT = re.compile(r"^[\w-]+ \((agent|provider|fatal|budget)\): ")


def fault_of_error(error: str | None) -> str | None:
    """The fault class of an ``llm_calls.error`` text (``"<type> (<fault>): <message>"``); rows
    recorded before faults were classified fall back on their error type."""
    if not error:
        return None
    match = _ERROR_TEXT.match(error)
    if match:
        return match.group(1)
    return FAULT_OF_TYPE.get(error.split(":", 1)[0].strip(), PROVIDER)


def infrastructure_fault(failure: str | None) -> str | None:
    """The infrastructure class of an ``Evaluation.failure`` text, or None when the failure (if
    any) is the agent's own. The runner uses it on resume to retry what the provider spoiled."""
    for fault, prefix in FAILURE_PREFIX.items():
        if failure and failure.startswith(prefix):
            return fault
    return None


class LLMFault(Exception):
    """A call the provider (not the caller) spoiled. Raised by :meth:`Gateway.complete_or_raise`,
    so that an emitter's bad edit (:class:`~qdagents.emitters.EmitFailure`) and a provider fault
    are different things to the runner.

    Attributes:
        fault: one of :data:`INFRASTRUCTURE`.
        model: the model called.
        body: the gateway's error body.
    """

    fault = PROVIDER

    def __init__(self, message: str, *, model: str | None = None, body: dict | None = None):
        super().__init__(message)
        self.model, self.body = model, body


class ProviderFault(LLMFault):
    """Transient: rate limits past the retries, 5xx, timeouts, the provider unreachable. The
    work is an infrastructure failure; retry it later."""

    fault = PROVIDER


class ProviderUnusable(LLMFault):
    """Cannot heal by waiting: authentication, no credit, an unknown model. Stop the run."""

    fault = FATAL


class RunBudgetExhausted(LLMFault):
    """The run's token or USD budget is used up; no call was made."""

    fault = BUDGET


EXCEPTION_OF_FAULT = {PROVIDER: ProviderFault, FATAL: ProviderUnusable, BUDGET: RunBudgetExhausted}


def raise_for_fault(body: dict, *, model: str | None = None) -> dict:
    """Returns ``body`` unless it is an infrastructure error, which it raises as the matching
    :class:`LLMFault`. Errors that are the caller's own (``agent``) are returned as bodies."""
    fault = fault_of_body(body)
    if fault in EXCEPTION_OF_FAULT:
        raise EXCEPTION_OF_FAULT[fault](body["error"].get("message") or str(body["error"]),
                                        model=model, body=body)
    return body
