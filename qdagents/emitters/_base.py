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


class Workshop(Protocol):
    """Runs an agent in the sandbox on a workspace, metered like an evaluation; provided by the
    runner to emitters that set ``needs_workshop`` (DGM self-modification)."""

    seed_files: dict[str, str]

    def run(self, agent_files: dict[str, str], workspace: dict[str, str], problem: str, *,
            label: str) -> dict[str, str]:
        """Returns the workspace's files after the agent finished."""


class Emitter(Protocol):
    """What the runner needs of an emitter: everything it reads and everything it passes.

    Attributes:
        name: The emitter's name in the run (its key under ``emitters`` in config).
        parents_needed: How many parents :meth:`propose` takes (the scheduler selects them).
        directed: True to be handed a descriptor-directed ``target`` (toward an empty cell next
            to the first parent's); False and ``target`` is None.
        needs_workshop: True to be handed a :class:`Workshop` (to run agents in the sandbox);
            False and ``workshop`` is None.
    """

    name: str
    parents_needed: int
    directed: bool
    needs_workshop: bool

    def propose(self, parents: list[Parent], *, complete: Complete, rng,
                target: str | None = None, workshop: Workshop | None = None) -> Proposal:
        """Makes one child's code, or raises :class:`EmitFailure` with the reason.

        Args:
            parents: ``parents_needed`` parents, as :class:`Parent`.
            complete: Sends chat messages to the emitters' model (metered and recorded).
            rng: A numpy Generator for this step (deterministic for the run's seed and step).
            target: A descriptor target phrase ("more tools"), or None.
            workshop: See ``needs_workshop``.
        """


def answer_text(response: dict) -> str:
    """The assistant's text from an OpenAI response body; EmitFailure on an error body."""
    if "error" in response:
        raise EmitFailure(f"LLM error: {response['error'].get('message', response['error'])}")
    try:
        return response["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError) as exc:
        raise EmitFailure(f"malformed LLM response: {exc!r}") from exc
