"""SEARCH/REPLACE edits: the diff format LLM mutation emitters ask for.

The format is Aider's, as used by OpenEvolve and ShinkaEvolve: a file path on its own line, then

    <<<<<<< SEARCH
    exact lines of the current file
    =======
    replacement lines
    >>>>>>> REPLACE

An edit whose SEARCH text is not found exactly once is an :class:`EditError` that names the file
and the missing text, so the emitter can show it to the model and ask again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BLOCK = re.compile(
    r"^(?P<path>[^\n<>=]+?)\s*\n(?:```[^\n]*\n)?<<<<<<< SEARCH\n(?P<search>.*?)\n?=======\n"
    r"(?P<replace>.*?)\n?>>>>>>> REPLACE", re.DOTALL | re.MULTILINE)


class EditError(ValueError):
    """An edit that cannot be applied; the message is meant for the model."""


@dataclass(frozen=True)
class Edit:
    path: str
    search: str
    replace: str


def find_edits(text: str) -> list[Edit]:
    """Every SEARCH/REPLACE block in a text, possibly none."""
    return [Edit(m["path"].strip().strip("`*# "), m["search"], m["replace"])
            for m in _BLOCK.finditer(text)]


def parse_edits(text: str) -> list[Edit]:
    """Finds every SEARCH/REPLACE block in a model's answer; an answer without one is an error."""
    edits = find_edits(text)
    if not edits:
        raise EditError("no SEARCH/REPLACE block found; answer with blocks in the format shown")
    return edits


def apply_edits(files: dict[str, str], edits: list[Edit]) -> dict[str, str]:
    """Applies edits in order to a copy of ``files``; an empty SEARCH creates or appends."""
    out = dict(files)
    for edit in edits:
        if edit.path.startswith("/") or ".." in edit.path.split("/"):
            raise EditError(f"{edit.path}: paths must stay inside the agent folder")
        current = out.get(edit.path)
        if not edit.search.strip():
            out[edit.path] = (current or "") + edit.replace + "\n"
            continue
        if current is None:
            raise EditError(f"{edit.path}: no such file; existing files: {', '.join(sorted(out))}")
        count = current.count(edit.search)
        if count != 1:
            where = "not found" if count == 0 else f"found {count} times"
            raise EditError(f"{edit.path}: SEARCH text {where}; it must match exactly one place:\n"
                            f"{edit.search[:400]}")
        out[edit.path] = current.replace(edit.search, edit.replace, 1)
    return out


_REWRITE = re.compile(r"^(?:#+\s*File:\s*)?(?P<path>[\w./-]+\.\w+)\s*\n```[\w+-]*\n(?P<body>.*?)\n```",
                      re.DOTALL | re.MULTILINE)


def parse_rewrites(text: str) -> dict[str, str]:
    """Whole files in an answer: a path on its own line, then the file in a fenced block."""
    files = {m["path"]: m["body"] + "\n" for m in _REWRITE.finditer(text)}
    if not files:
        raise EditError("no rewritten file found; give each file's path on its own line, then "
                        "its complete new content in a fenced block")
    for path in files:
        if path.startswith("/") or ".." in path.split("/"):
            raise EditError(f"{path}: paths must stay inside the agent folder")
    return files
