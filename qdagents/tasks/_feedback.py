"""What an emitter may be told about a parent's failed tasks (``evaluation.feedback``).

An emitter that reads expected values can write them into the next agent; one that reads the
hidden tests' inputs can special-case them. So the default says only *which* hidden tests failed
and *how* (an assertion, an exception of some type, a timeout), never a message that could quote
them. Held-out tasks are never mentioned at all.

=========  ====================================================================================
mode       one line per failed task (held-out tasks left out), each test shown as
=========  ====================================================================================
names      its name and how it failed: ``assertion failed``, ``raised ValueError``, ``timed out``,
           ``the solution process ended``, ``refused by the boundary``, ``import failed: syntax
           error`` (or the import error's type). The agent's own failure (``agent exited with
           code 1``) too. No message at all: none of a test (inputs, expected values), none the
           solution wrote (it could address the emitter). (default)
errors     as ``names``, plus the message of each exception the *solution* raised and of import
           errors (they may quote an input the test passed; the solution never sees expected
           values). Assertion messages, which hold expected values, and errors of the test's own
           code stay out.
full       everything recorded, assertion messages included: ``T.test_x: AssertionError:
           1 != -3`` names the expected value. For debugging and ablations only.
=========  ====================================================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

__all__ = ["FEEDBACK_MODES", "task_feedback"]

FEEDBACK_MODES = ("names", "errors", "full")
LINE_CAP = 300
TESTS_SHOWN = 4


def _field(result, name: str, default=None):
    if isinstance(result, Mapping):
        return result.get(name, default)
    return getattr(result, name, default)


def _failures(result) -> list[dict]:
    failures = _field(result, "failures") or []
    if isinstance(failures, (str, bytes)):
        try:
            failures = json.loads(failures)
        except ValueError:
            failures = []
    return [f for f in failures if isinstance(f, Mapping)]


def _type_name(error: str) -> str:
    """The exception's type name at the head of an error line, as a plain identifier (the name
    of a solution's class is the solution's to choose: nothing else of it is shown)."""
    head = error.split(":", 1)[0].rsplit(".", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_]", "", head)[:60] or "an exception"


def _how(failure: Mapping, mode: str) -> str:
    kind, error = str(failure.get("kind") or ""), str(failure.get("error") or "")
    if mode == "full" or kind == "agent":
        return error or kind
    if kind == "import":
        if mode == "errors":
            return f"import failed: {error}"
        what = "syntax error" if error.startswith("syntax error") else _type_name(error)
        return f"import failed: {what}"
    if kind == "error":
        return f"raised {error}" if mode == "errors" else f"raised {_type_name(error)}"
    return {"assertion": "assertion failed", "timeout": "timed out",
            "died": "the solution process ended", "boundary": "refused by the boundary",
            "tampering": "tampering", "skipped": "skipped",
            "test": "the test's own code failed on the solution's result",
            "errored": "errored", "missing": "did not run"}.get(kind, "failed")


def task_feedback(results: Iterable, mode: str = "names") -> list[str]:
    """One line per failed task that was not held out, for an emitter's prompt.

    Args:
        results: A parent's task results: :class:`qdagents.evaluation.TaskResult` objects or
            rows of the run database's ``task_results`` (``failures`` as JSON text or a list).
        mode: ``names`` (default), ``errors`` or ``full``; see the module docstring.
    """
    if mode not in FEEDBACK_MODES:
        raise ValueError(f"evaluation.feedback: {mode!r} is not one of "
                         f"{', '.join(FEEDBACK_MODES)}")
    lines = []
    for result in results:
        if _field(result, "passed") or _field(result, "held_out"):
            continue
        failures = _failures(result)
        agent = [f for f in failures if f.get("kind") == "agent"]
        tests = [f for f in failures if f.get("kind") != "agent"]
        parts = [_how(f, mode) for f in agent]
        if tests:
            shown = "; ".join(f"{f.get('name')}: {_how(f, mode)}" for f in tests[:TESTS_SHOWN])
            more = f" (and {len(tests) - TESTS_SHOWN} more)" if len(tests) > TESTS_SHOWN else ""
            parts.append(f"{len(tests)} hidden test(s) failed: {shown}{more}")
        if not parts:
            reason = _field(result, "reason") if mode == "full" else None
            parts.append(str(reason or "failed"))
        line = f"- {_field(result, 'task_id')}: " + "; ".join(parts)
        lines.append(line if len(line) <= LINE_CAP else line[:LINE_CAP - 3] + "...")
    return lines
