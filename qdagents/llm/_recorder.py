"""Where LLM exchanges are written and found again: the record/replay key and the store protocol.

Every exchange goes into the run database's ``llm_calls`` table. Replay looks a request up by
``(request_hash, occurrence)``: the hash says *what* was asked, the occurrence says *which time*
(the n-th identical request in this run), so a non-deterministic provider replays its answers in
the order it gave them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Protocol

#: Request fields that make up the record/replay key, always present (``None`` when absent).
KEY_FIELDS = ("model", "messages", "tools", "tool_choice", "temperature", "top_p", "max_tokens",
              "seed")
#: Further request fields forwarded to the provider; they join the key only when present, so
#: the key of an ordinary request is exactly the :data:`KEY_FIELDS`.
EXTRA_FIELDS = ("stop", "response_format", "max_completion_tokens", "parallel_tool_calls",
                "frequency_penalty", "presence_penalty")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_hash(request: dict) -> str:
    """The sha256 (hex) of the canonical JSON of the request's key fields.

    ``request`` is the request as the gateway sends it: its ``model`` is the configured model,
    not the one the agent asked for, and ``seed`` is the effective seed.
    """
    key = {name: request.get(name) for name in KEY_FIELDS}
    extra = {name: request[name] for name in EXTRA_FIELDS if request.get(name) is not None}
    if extra:
        key["extra"] = extra
    return hashlib.sha256(canonical_json(key).encode("utf-8")).hexdigest()


class Recorder(Protocol):
    """The part of the run database the gateway needs (``qdagents.store.RunDatabase`` has it).

    ``record_llm_call`` takes the ``llm_calls`` columns as keywords (all but ``id``).
    ``find_recording`` returns a successful (``error IS NULL``) row for the key as a dict with at
    least ``response`` (JSON text or dict), ``prompt_tokens`` and ``completion_tokens``, or None.
    Both are called from many threads at once.
    """

    def record_llm_call(self, **row: Any) -> None: ...

    def find_recording(self, request_hash: str, occurrence: int) -> dict | None: ...


class MemoryRecorder:
    """A :class:`Recorder` kept in memory: for tests and for gateways that need no database."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._lock = threading.Lock()

    def record_llm_call(self, **row: Any) -> None:
        with self._lock:
            self.rows.append({"id": len(self.rows) + 1, **row})

    def find_recording(self, request_hash: str, occurrence: int) -> dict | None:
        with self._lock:
            for row in self.rows:
                if (row["request_hash"] == request_hash and row["occurrence"] == occurrence
                        and not row.get("error")):
                    return dict(row)
        return None
