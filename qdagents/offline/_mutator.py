"""The offline mutator: what emitters talk to. Proposes scaffold changes as SEARCH/REPLACE edits.

It reads the emitter's user message — the parent's files as ``### File: <path>`` + a fenced
block, its fitness, descriptors, feedback and an optional ``Target: <phrase>`` line — picks one
applicable change from :data:`qdagents.offline._catalogue.CATALOGUE` (preferring those that
move the target; otherwise weighted towards the usually helpful ones) and answers with a one-
paragraph rationale and the edits::

    agent.py
    <<<<<<< SEARCH
    <exact lines from the current file>
    =======
    <replacement lines>
    >>>>>>> REPLACE

About one answer in twenty carries a SEARCH text that does not match (as real models do), so the
emitter's retry path runs in real runs; when the conversation already holds a failed-edit message
it answers with a correct edit. If the request asks for a full rewrite it returns the whole new
file in a fenced block instead.
"""

from __future__ import annotations

import hashlib
import json
import random
import re

from qdagents.emitters._search_replace import Edit, apply_edits
from qdagents.offline._catalogue import CATALOGUE, ScaffoldMutation

#: Share of answers whose first SEARCH text is deliberately wrong (no failure seen yet).
BAD_EDIT_RATE = 0.05
TARGETS = ("more tools", "fewer tools", "finer edits", "coarser edits", "fewer tokens",
           "more tokens")

_FILE = re.compile(r"^### File: (\S+)[ \t]*\n```[\w-]*\n(.*?)\n?^```[ \t]*$", re.M | re.S)
_TARGET = re.compile(r"^Target:\s*(.+?)\s*$", re.M)
_FAILED = re.compile(r"edit failed|did not apply|failed to apply|not found|does not match|"
                     r"no SEARCH/REPLACE|could not (apply|find)", re.I)
_FULL_REWRITE = re.compile(r"\bfull rewrite\b|\brewrite the (whole|entire|complete) file\b|"
                           r"\breturn the (whole|entire|complete|full) (new )?file\b", re.I)


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        content = "\n".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def shown_files(text: str) -> dict[str, str]:
    """The files in a message, from ``### File: <path>`` headers and their fenced blocks."""
    files: dict[str, str] = {}
    for match in _FILE.finditer(text):
        files.setdefault(match[1], match[2] + "\n")
    return files


def choose(code: str, target: str | None, rng: random.Random) -> tuple[ScaffoldMutation, list]:
    """Picks an applicable mutation (preferring ones that move ``target``) and makes its edits."""
    made = []
    for mutation in CATALOGUE:
        edits = mutation.make(code, random.Random(rng.random()), target)
        if edits and all(code.count(search) == 1 for search, _ in edits):
            made.append((mutation, edits))
    if not made:
        return _fallback(code)
    towards = [(m, e) for m, e in made if target in m.moves]
    pool = towards or made
    weights = [m.weight for m, _ in pool]
    return pool[rng.choices(range(len(pool)), weights=weights)[0]]


def _fallback(code: str) -> tuple[ScaffoldMutation, list]:
    """A harmless documented change for code the catalogue does not recognise."""
    first = next((line for line in code.splitlines() if line.strip()), "")
    note = ScaffoldMutation("add a note", (), 0.0, "add a comment; the layout is not one I know",
                            lambda *_: None)
    if not first or code.count(first) != 1:
        return note, [("", "# offline mutator: no known anchor in this file")]
    return note, [(first, "# offline mutator: no known anchor in this file\n" + first)]


def _corrupt(search: str, code: str) -> str:
    """A SEARCH text that looks right but does not occur in the code (a misremembered line)."""
    lines = search.split("\n")
    for candidate in (re.sub(r"\d+", lambda m: str(int(m[0]) + 2), lines[0]),
                      "    " + lines[0], lines[0] + "  # updated"):
        wrong = "\n".join([candidate] + lines[1:])
        if candidate != lines[0] and wrong not in code:
            return wrong
    return search + "\n# (missing line)"


def render(path: str, edits: list[tuple[str, str]]) -> str:
    """SEARCH/REPLACE blocks in the format the emitters parse."""
    return "\n\n".join(f"{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE"
                       for search, replace in edits)


def mutation_reply(messages: list[dict], seed: int) -> str:
    """The mutator's answer to an emitter's request."""
    users = [_text(m) for m in messages if m.get("role") == "user"]
    request = users[0] if users else ""
    files = shown_files(request)
    path = "agent.py" if "agent.py" in files else next(iter(sorted(files)), None)
    if path is None:
        return ("I need the agent's files (as `### File: <path>` followed by a fenced block) "
                "to propose a change.")
    target_match = _TARGET.search(request)
    target = target_match[1].lower().rstrip(".") if target_match else None
    target = target if target in TARGETS else None
    # The choice depends on the first request only, so a retry after a failed edit makes the
    # same change again, correctly this time.
    systems = [_text(m) for m in messages if m.get("role") == "system"]
    basis = json.dumps([systems, request, seed])
    rng = random.Random(int.from_bytes(hashlib.sha256(basis.encode()).digest()[:8], "big"))
    mutation, edits = choose(files[path], target, rng)
    retrying = any(_FAILED.search(text) for text in users[1:])
    fitness = re.search(r"^Fitness:\s*([\d.]+)", request, re.M)
    rationale = (f"I will {mutation.rationale} ({mutation.name}"
                 + (f"; aiming at {target}" if target else "")
                 + (f"; the parent solves {float(fitness[1]):.0%} of its tasks" if fitness else "")
                 + ")." + (" My previous edit did not match the file; this one quotes it exactly."
                           if retrying else ""))
    if any(_FULL_REWRITE.search(_text(m)) for m in messages if m.get("role") in ("system", "user")):
        new = apply_edits({path: files[path]}, [Edit(path, search, replace)
                                                for search, replace in edits])[path]
        return f"{rationale}\n\n{path}\n```python\n{new.rstrip()}\n```\n"
    if not retrying and rng.random() < BAD_EDIT_RATE:
        edits = [(_corrupt(edits[0][0], files[path]), edits[0][1])] + edits[1:]
    return f"{rationale}\n\n{render(path, edits)}\n"
