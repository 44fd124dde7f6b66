"""Helpers for the offline model tests: fixture tasks, agent variants, an in-process driver."""

from __future__ import annotations

import random
import types
from pathlib import Path

from qdagents.offline._model import OfflineModel
from qdagents.offline._catalogue import CATALOGUE
from qdagents.emitters import apply_edits, parse_edits
from qdagents.offline._mutator import render

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).with_name("fixtures")
SEED_AGENT = ROOT / "qdagents" / "seed_agent" / "agent.py"


def apply_answer(files: dict[str, str], text: str) -> dict[str, str]:
    """Applies a mutator answer the way the emitters do (EditError, a ValueError, if it can't)."""
    return apply_edits(files, parse_edits(text))


def variant(*names: str, seed: int = 0) -> str:
    """The seed agent with the named catalogue mutations applied through SEARCH/REPLACE text."""
    code = SEED_AGENT.read_text()
    by_name = {m.name: m for m in CATALOGUE}
    for i, name in enumerate(names):
        edits = by_name[name].make(code, random.Random(f"{seed}/{i}"), None)
        assert edits, f"{name} does not apply"
        code = apply_answer({"agent.py": code}, render("agent.py", edits))["agent.py"]
    return code


def load_agent(code: str) -> types.ModuleType:
    """An agent's code as a module (not run as __main__), to use its TOOLS and tools directly."""
    module = types.ModuleType("agent_under_test")
    exec(compile(code, "agent.py", "exec"), module.__dict__)
    return module


def drive(agent: types.ModuleType, problem: str, *, seed: int = 0, steps: int = 30) -> list[dict]:
    """Runs the coder against an agent's tools in the current directory; returns the messages."""
    model = OfflineModel()
    messages = [{"role": "system", "content": agent.SYSTEM_PROMPT},
                {"role": "user", "content": problem}]
    for _ in range(steps):
        message = model.respond("coder", messages, agent.TOOLS, seed)["message"]
        messages.append(message)
        if not message.get("tool_calls"):
            break
        for call in message["tool_calls"]:
            messages.append({"role": "tool", "tool_call_id": call["id"],
                             "content": agent.run_tool(call)})
    return messages
