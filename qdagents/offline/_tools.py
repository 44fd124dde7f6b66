"""How the offline coder recognises the tools an agent offers, by name and parameter names.

Recognised shapes (first match wins, parameter names case-insensitive):

* **tests** — a tool whose name contains ``test`` (``run_tests``); parameters are filled when
  they look like a path (the visible test file) or a command (the test command).
* **lines** — ``path`` + a start line (``start``, ``start_line``, ``line``, ...) + new text
  (``content``, ``text``, ``new``, ...), optionally an end line: replaces a line range.
* **replace** — ``path`` + old text (``old``, ``old_str``, ``search``, ...) + new text (``new``,
  ``new_str``, ``replace``, ...): replaces one exact occurrence (``str_replace``-style).
* **write** — ``path`` + ``content`` (or ``contents``, ``text``, ``file_text``, ...): whole file.
* **shell** — a ``command`` (or ``cmd``, ``script``) parameter: runs a shell command.
* **read** — a ``path`` (optionally a line range: ``start``/``end``, ...), and a name with
  ``read``/``view``/``open``/``cat``/``show``.
* **list** — a name with ``list``/``ls``/``tree``/``find``/``glob`` and no required parameter
  other than a folder path.

A path parameter is any of ``path``, ``file``, ``filename``, ``file_path``, ``filepath``,
``target_file``. Tools that fit none of these are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PATH_KEYS = ("path", "file", "filename", "file_path", "filepath", "target_file", "file_name")
OLD_KEYS = ("old", "old_str", "old_string", "old_text", "search", "find", "before", "original")
NEW_KEYS = ("new", "new_str", "new_string", "new_text", "replace", "replacement", "after")
CONTENT_KEYS = ("content", "contents", "text", "file_text", "data", "code", "new_content",
                "body", "lines", "new_lines")
START_KEYS = ("start", "start_line", "line_start", "first_line", "from_line", "line", "lineno",
              "line_number", "begin")
END_KEYS = ("end", "end_line", "line_end", "last_line", "to_line", "stop")
COMMAND_KEYS = ("command", "cmd", "script", "shell_command", "code_to_run")
DIR_KEYS = ("path", "dir", "directory", "folder", "root")


@dataclass
class ToolShape:
    """A recognised tool: its name, what it does, and which of its parameters play which role."""

    name: str
    kind: str  # tests | lines | replace | write | shell | read | list
    params: dict[str, str] = field(default_factory=dict)  # role -> parameter name
    types: dict[str, str] = field(default_factory=dict)  # parameter name -> JSON type
    required: list[str] = field(default_factory=list)

    def call(self, **values) -> tuple[str, dict]:
        """A ``(name, arguments)`` tool call, arguments keyed by this tool's own parameter names."""
        arguments = {}
        for role, value in values.items():
            key = self.params.get(role)
            if key is None or value is None:
                continue
            arguments[key] = str(value) if self.types.get(key) == "string" else value
        return self.name, arguments


def _pick(keys: tuple[str, ...], names: dict[str, str]) -> str | None:
    for key in keys:
        if key in names:
            return names[key]
    return None


def recognise(schema: dict) -> ToolShape | None:
    """The shape of one OpenAI tool schema, or None when it is not one the coder can use."""
    function = schema.get("function") if isinstance(schema.get("function"), dict) else schema
    name = function.get("name")
    if not isinstance(name, str):
        return None
    parameters = function.get("parameters") or {}
    properties = parameters.get("properties") or {}
    names = {key.lower(): key for key in properties}
    types = {key: (spec or {}).get("type", "string") if isinstance(spec, dict) else "string"
             for key, spec in properties.items()}
    required = [r for r in parameters.get("required") or [] if r in properties]
    lower = name.lower()
    path, old, new = _pick(PATH_KEYS, names), _pick(OLD_KEYS, names), _pick(NEW_KEYS, names)
    content, start = _pick(CONTENT_KEYS, names) or new, _pick(START_KEYS, names)
    command = _pick(COMMAND_KEYS, names)

    def shape(kind: str, **params: str | None) -> ToolShape:
        return ToolShape(name, kind, {k: v for k, v in params.items() if v}, types, required)

    words = re.split(r"[\W_]+", lower)
    named = lambda *options: any(w in words or lower.startswith(w) for w in options)  # noqa: E731
    if "test" in lower:
        return shape("tests", path=path, command=command)
    if named("insert", "append", "prepend", "delete", "remove"):
        return None  # not a replacement: using it as one would corrupt files
    if path and start and content and not old:
        return shape("lines", path=path, start=start, end=_pick(END_KEYS, names), content=content)
    if path and old and new:
        return shape("replace", path=path, old=old, new=new)
    if path and content and not start:
        return shape("write", path=path, content=content)
    if command:
        return shape("shell", command=command)
    end = _pick(END_KEYS, names)
    if path and not set(required) - {path, start, end} \
            and named("read", "view", "open", "cat", "show"):
        return shape("read", path=path, start=start, end=end)  # line range, when offered
    if named("list", "ls", "tree", "find", "glob"):
        folder = _pick(DIR_KEYS, names)
        if not set(required) - {folder}:
            return shape("list", path=folder)
    return None


class Toolkit:
    """The recognised tools of one request, by kind (first of each kind wins)."""

    #: Edit kinds from finest to coarsest; the coder uses the first one offered.
    EDIT_ORDER = ("lines", "replace", "write")

    def __init__(self, tools: list[dict]):
        self.by_name: dict[str, ToolShape] = {}
        self.by_kind: dict[str, ToolShape] = {}
        for schema in tools or []:
            if not isinstance(schema, dict):
                continue
            shape = recognise(schema)
            if shape:
                self.by_name[shape.name] = shape
                self.by_kind.setdefault(shape.kind, shape)

    def get(self, kind: str) -> ToolShape | None:
        return self.by_kind.get(kind)

    def finest_edit(self) -> ToolShape | None:
        """The finest edit tool offered (line range, then str_replace, then whole file)."""
        for kind in self.EDIT_ORDER:
            if kind in self.by_kind:
                return self.by_kind[kind]
        return None
