"""What every emitter receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

#: Sends chat messages to the emitters' model through the gateway and returns the response body.
Complete = Callable[[list[dict]], dict]


@dataclass(frozen=True)
class Parent:
    """A parent agent as an emitter sees it: its code and what its evaluation measured."""

    id: str
    files: dict[str, str]
    fitness: float
    descriptors: dict[str, float]
    feedback: list[str] = field(default_factory=list)   # one line per failed task, trimmed


@dataclass(frozen=True)
class Proposal:
    """A child's code and the emitter's account of it (the commit message)."""

    files: dict[str, str]
    message: str
    target: str | None = None


class EmitFailure(Exception):
    """The emitter could not produce a child; recorded with this reason and the run goes on."""


class Emitter(Protocol):
    name: str
    parents_needed: int

    def propose(self, parents: list[Parent], *, complete: Complete, rng) -> Proposal:
        ...


def answer_text(response: dict) -> str:
    """The assistant's text from an OpenAI response body; EmitFailure on an error body."""
    if "error" in response:
        raise EmitFailure(f"LLM error: {response['error'].get('message', response['error'])}")
    try:
        return response["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError) as exc:
        raise EmitFailure(f"malformed LLM response: {exc!r}") from exc
