"""The offline coder: what agents talk to. A generate-and-validate repair loop driven by the chat.

It keeps no memory between calls. Each call re-reads the conversation — the problem statement,
the files the agent has shown it, the test output, and its own earlier tool calls — and decides
the next step:

1. if the last tool result was an error (a failed tool, a budget message) → stop;
2. if it has not seen the source files → call a tool to look (and, if it can test, run the tests);
   when output comes back cut even for one file, read it in line ranges and reassemble it;
3. if the tests it ran after its latest edit pass → answer ``DONE``;
4. if it has edited and cannot test → stop (one shot);
5. if it has edited and the tests fail, or it has not edited yet → restore what it changed and
   apply the best untried candidate from :mod:`qdagents.offline._repair` with the finest edit
   tool offered, then run the tests if it can;
6. if no candidate is left, or it has failed ``PATIENCE`` times and nothing tells it to keep
   trying → stop.

When the user's messages hold explicit SEARCH/REPLACE edits, it carries those out instead (see
:func:`_carry_out`) and finishes.

"It can test" means a tool named like ``run_tests`` is offered, or a shell tool is offered and
the system prompt or the user's message asks for tests to be run. "Keep trying" means a test
tool is offered or the instructions say to retry until the tests pass: how long a model persists
depends on what the scaffold tells it and offers it, which is what makes scaffolds differ.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from qdagents.emitters._search_replace import find_edits
from qdagents.offline._repair import Candidate, Evidence, is_test_file, rank
from qdagents.offline._tools import Toolkit, ToolShape, recognise

#: A shell command that prints every Python file under the workspace with a ``==> path <==`` header.
LOOK_COMMAND = ("for f in $(find . -name '*.py' -not -path '*/.*' | sort); "
                "do echo \"==> $f <==\"; cat \"$f\"; done")
_HEADER = re.compile(r"^==> (.+?) <==$", re.M)
_FILE_BLOCK = re.compile(r"^### File: (\S+)\n```[\w-]*\n(.*?)^```\s*$", re.M | re.S)
#: Marks a tool's own truncation leaves in its output: a count of characters cut, a marker at the
#: end or on a line of its own. (Code that merely mentions such markers, like an agent's own
#: ``trim`` function, is not taken for a cut.)
_CUT = re.compile(r"\[\.\.\.\s*\d+ (characters|chars|lines|bytes) (cut|omitted|truncated)|"
                  r"\[trimmed\]\s*\Z|^\s*\[\.\.\.\]\s*$|^\s*[\[(]?(output )?(was )?truncated\b|"
                  r"\btruncated[\])]?\s*\Z|\(output cut", re.I | re.M)
_ASKS_FOR_TESTS = re.compile(
    r"\b(run|rerun|re-run|running|execute|check)\b[^.\n]{0,40}\btests?\b|\btest_\w+\.py\b", re.I)
_KEEP_TRYING = re.compile(r"\b(retry|re-try|keep trying|try again|until (they|the tests|all "
                          r"(the )?tests|tests) pass)", re.I)
#: Failed candidates after which the coder gives up when nothing tells it to keep trying.
PATIENCE = 2
_TEST_SUMMARY = re.compile(r"^Ran (\d+) tests? in|^=+ .*\b(passed|failed|error)", re.M)
_PIECE_COMMAND = re.compile(r"^\s*sed -n ['\"]?(\d+),(\d+)p['\"]?\s+(?:-- )?([\w./-]+)\s*$")
_CUT_COUNT = re.compile(r"\[\.\.\. (\d+) characters cut \.\.\.\]")
_NO_OUTPUT = re.compile(r"^\(no output\b")
#: Most rounds of piece-by-piece reading before the coder gives up on seeing a file.
PIECE_ROUNDS = 12
#: Most piece reads in one answer.
PIECES_PER_ANSWER = 8
_ERROR_RESULT = re.compile(r"^\s*(error\b|traceback \(most recent call last\))|budget_exceeded|"
                           r"budget exceeded", re.I)


@dataclass
class Reading:
    """What the conversation shows, replayed in order."""

    problem: str = ""  # the user's messages: the task, not the agent's own instructions
    originals: dict[str, str] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)
    partial: set[str] = field(default_factory=set)  # shown only in part (output was cut)
    looked_alone: set[str] = field(default_factory=set)  # asked to see on their own
    looks: int = 0  # rounds spent looking for files
    tried: set[tuple[str, int, str]] = field(default_factory=set)
    tests: list[tuple[str, bool]] = field(default_factory=list)  # (output, files untouched)
    tested_since_edit: bool = False
    edited: bool = False
    last_results: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)
    # pieces read with line ranges: path -> [(first line, lines asked, lines got, cut)]
    pieces: dict[str, list[tuple[int, int, list[str], bool]]] = field(default_factory=dict)
    piece_rounds: int = 0
    cut_sizes: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # shown, lines, all
    edit_results: list[tuple[str, dict, str]] = field(default_factory=list)  # (kind, args, result)
    messages: list[dict] = field(default_factory=list)

    def changed(self) -> dict[str, list[int]]:
        """Lines that differ from the originals now, per file (same line count assumed)."""
        out = {}
        for path, text in self.current.items():
            old, new = self.originals.get(path, text).splitlines(), text.splitlines()
            lines = [i + 1 for i in range(max(len(old), len(new)))
                     if i >= len(old) or i >= len(new) or old[i] != new[i]]
            if lines:
                out[path] = lines
        return out


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        content = "\n".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _norm(path: str) -> str:
    path = path.strip().strip("`'\"")
    while path.startswith("./"):
        path = path[2:]
    return path


def _strip_line_numbers(text: str) -> str:
    lines = text.splitlines(keepends=True)
    numbered = re.compile(r"^\s*\d+(: ?|\t|\| ?)")
    if lines and all(numbered.match(line) or not line.strip() for line in lines):
        return "".join(numbered.sub("", line, count=1) for line in lines)
    return text


def _is_test_output(text: str) -> bool:
    return bool(_TEST_SUMMARY.search(text))


def tests_passed(text: str) -> bool:
    """Whether a test run's output shows at least one test and no failure."""
    ran = re.search(r"^Ran (\d+) tests? in", text, re.M)
    if ran:
        return int(ran[1]) > 0 and bool(re.search(r"^OK\b", text, re.M))
    return bool(re.search(r"\d+ passed", text)) and not re.search(r"\d+ (failed|error)", text)


def _views(kind: str, args: dict, shape: ToolShape | None, result: str) -> dict[str, str | None]:
    """Files a tool result shows: path → content, or None when shown incompletely."""
    if kind == "read":
        path = _norm(str(args.get(shape.params.get("path", "path"), "")))
        return {path: None if _CUT.search(result) else _strip_line_numbers(result)} if path else {}
    if kind != "shell":
        return _file_blocks(result)
    command = str(args.get(shape.params.get("command", "command"), ""))
    headers = list(_HEADER.finditer(result))
    if headers:
        out = {}
        for i, header in enumerate(headers):
            end = headers[i + 1].start() if i + 1 < len(headers) else len(result)
            body = result[header.end() + 1:end]
            out[_norm(header[1])] = None if _CUT.search(body) else body
        return out
    single = re.fullmatch(r"\s*cat\s+(?:-- )?([\w./-]+)\s*", command)
    if single and not result.startswith("cat:"):
        return {_norm(single[1]): None if _CUT.search(result) else result}
    return {}


def _file_blocks(text: str) -> dict[str, str | None]:
    return {_norm(m[1]): m[2] for m in _FILE_BLOCK.finditer(text)}


def _apply_edit(reading: Reading, kind: str, args: dict, shape: ToolShape) -> None:
    """Replays one of the coder's own edits on what it knows of the file."""
    get = lambda role: args.get(shape.params.get(role, role))  # noqa: E731
    path = _norm(str(get("path") or ""))
    text = reading.current.get(path)
    if kind == "write":
        reading.current[path] = str(get("content") or "")
    elif text is not None and kind == "replace":
        old, new = str(get("old") or ""), str(get("new") or "")
        if old and text.count(old) == 1:
            reading.current[path] = text.replace(old, new, 1)
    elif text is not None and kind == "lines":
        lines = text.splitlines(keepends=True)
        start = int(get("start") or 0)
        end = int(get("end") or start)
        new = str(get("content") or "")
        if new and not new.endswith("\n"):
            new += "\n"
        if 1 <= start <= end <= len(lines):
            lines[start - 1:end] = [new]
            reading.current[path] = "".join(lines)
    reading.originals.setdefault(path, text if text is not None else reading.current.get(path, ""))
    reading.edited = True
    reading.tested_since_edit = False
    for changed_path, numbers in reading.changed().items():
        if len(numbers) == 1:
            line = reading.current[changed_path].splitlines()[numbers[0] - 1]
            reading.tried.add((changed_path, numbers[0], line))


def read_conversation(messages: list[dict], toolkit: Toolkit) -> Reading:
    """Replays the conversation to recover files, edits, test runs and the latest results."""
    reading = Reading(messages=messages)
    results = {m.get("tool_call_id"): _text(m) for m in messages if m.get("role") == "tool"}
    reading.problem = "\n".join(_text(m) for m in messages if m.get("role") == "user")
    for path, content in _file_blocks(reading.problem).items():
        reading.originals[path] = reading.current[path] = content
    for message in messages:
        if message.get("role") != "assistant" or not message.get("tool_calls"):
            continue
        reading.last_results = []
        if not reading.originals:
            reading.looks += 1
        for call in message["tool_calls"]:
            function = (call or {}).get("function") or {}
            name = str(function.get("name") or "")
            try:
                args = json.loads(function.get("arguments") or "{}")
            except ValueError:
                args = {}
            args = args if isinstance(args, dict) else {}
            shape = toolkit.by_name.get(name) or recognise(
                {"name": name, "parameters": {"properties": {k: {} for k in args}}})
            kind = shape.kind if shape else "unknown"
            result = results.get(call.get("id"), "")
            command = str(args.get(shape.params.get("command", ""), "")) if shape else ""
            piece = _piece_of(kind, args, shape, command)
            if piece and not _ERROR_RESULT.search(result):
                _record_piece(reading, piece, result)
                reading.last_results.append(("piece", result))
                continue
            if kind == "tests" or (kind == "shell" and _is_test_output(result)) or \
                    (kind == "shell" and re.search(r"unittest|pytest|test_\w*\.py", command)
                     and "cat " not in command):
                reading.tests.append((result, not reading.changed()))
                reading.tested_since_edit = True
                kind = "tests"
            elif kind in ("write", "replace", "lines"):
                reading.edit_results.append((name, args, result))
                if not _ERROR_RESULT.search(result):
                    _apply_edit(reading, kind, args, shape)
            elif kind == "list" or (kind == "shell" and re.match(r"\s*(ls|find)\b", command)):
                reading.listed |= {_norm(w) for w in re.findall(r"[\w./-]+\.py\b", result)}
            if shape and kind not in ("tests", "write", "replace", "lines") \
                    and not _ERROR_RESULT.search(result):
                views = _views(kind, args, shape, result)
                if len(views) == 1 and not _HEADER.search(result):
                    reading.looked_alone |= set(views)
                for path, content in views.items():
                    if content is None:
                        reading.partial.add(path)
                        _note_cut_size(reading, path, result)
                    else:
                        reading.current[path] = content
                        reading.originals.setdefault(path, content)
                        reading.partial.discard(path)
                    reading.listed.add(path)
            reading.last_results.append((kind, result))
        if any(_piece_of_call(call, toolkit) for call in message["tool_calls"]):
            reading.piece_rounds += 1
        for path in list(reading.pieces):
            whole = _assemble(reading.pieces[path])
            if whole is not None and path not in reading.current:
                reading.current[path] = whole
                reading.originals.setdefault(path, whole)
                reading.partial.discard(path)
                reading.listed.add(path)
    return reading


def _piece_of(kind: str, args: dict, shape: ToolShape | None,
              command: str) -> tuple[str, int, int] | None:
    """``(path, first line, last line)`` when a call reads a line range of one file."""
    if kind == "shell":
        match = _PIECE_COMMAND.match(command)
        return (_norm(match[3]), int(match[1]), int(match[2])) if match else None
    if kind == "read" and "start" in shape.params and shape.params["start"] in args:
        try:
            first = int(args[shape.params["start"]])
            last = int(args.get(shape.params.get("end", ""), first + 59))
        except (TypeError, ValueError):
            return None
        path = _norm(str(args.get(shape.params.get("path", "path"), "")))
        return (path, first, last) if path else None
    return None


def _piece_of_call(call: dict, toolkit: Toolkit) -> bool:
    function = (call or {}).get("function") or {}
    shape = toolkit.by_name.get(str(function.get("name") or ""))
    if not shape:
        return False
    try:
        args = json.loads(function.get("arguments") or "{}")
    except ValueError:
        return False
    if not isinstance(args, dict):
        return False
    command = str(args.get(shape.params.get("command", ""), ""))
    return _piece_of(shape.kind, args, shape, command) is not None


def _record_piece(reading: Reading, piece: tuple[str, int, int], result: str) -> None:
    path, first, last = piece
    cut = bool(_CUT.search(result))
    text = "" if _NO_OUTPUT.match(result) else _strip_line_numbers(result)
    reading.pieces.setdefault(path, []).append(
        (first, last - first + 1, text.splitlines(keepends=True), cut))
    if cut:
        reading.partial.add(path)


def _note_cut_size(reading: Reading, path: str, result: str) -> None:
    """Remembers how much of a cut output was shown, to size the pieces to read."""
    count = _CUT_COUNT.search(result)
    if count and len(_HEADER.findall(result)) <= 1:
        shown = _CUT_COUNT.sub("", result)
        reading.cut_sizes[path] = (len(shown), max(1, shown.count("\n")),
                                   len(shown) + int(count[1]))


def _assemble(pieces: list[tuple[int, int, list[str], bool]]) -> str | None:
    """The whole file when uncut pieces cover it from line 1 to its end, else None."""
    lines, at = [], 1
    while True:
        here = [p for p in pieces if p[0] == at and not p[3]]
        if not here:
            return None
        _, asked, got, _ = max(here, key=lambda p: len(p[2]))
        lines += got
        if len(got) < asked:
            return "".join(lines)
        at += len(got)


def _next_pieces(reading: Reading, path: str) -> list[tuple[int, int]] | None:
    """Line ranges still to read of a file whose output was cut; None when it cannot be done."""
    pieces = reading.pieces.get(path, [])
    at = 1
    while True:
        here = [p for p in pieces if p[0] == at and not p[3]]
        if not here:
            break
        _, asked, got, _ = max(here, key=lambda p: len(p[2]))
        if len(got) < asked:
            return []
        at += len(got)
    shown, shown_lines, total = reading.cut_sizes.get(path, (0, 0, 0))
    chunk = max(5, int(0.6 * shown_lines)) if shown_lines else 40
    cut_here = [p[1] for p in pieces if p[0] == at and p[3]]
    if cut_here:  # the piece itself was cut: read it in halves
        chunk = min(cut_here) // 2
        if chunk < 1:
            return None
        return [(at, at + chunk - 1)]
    estimate = int(1.15 * total * shown_lines / shown) if shown else at + 2 * chunk
    count = max(1, min(PIECES_PER_ANSWER, -(-(estimate - at + 1) // chunk)))
    return [(at + i * chunk, at + (i + 1) * chunk - 1) for i in range(count)]


def _piece_calls(toolkit: Toolkit, reading: Reading, paths: list[str]) -> list | None:
    """Calls that read the given cut files in line ranges; None when that is not possible."""
    shell, read = toolkit.get("shell"), toolkit.get("read")
    ranged = read if read and "start" in read.params else None
    if not (shell or ranged) or reading.piece_rounds >= PIECE_ROUNDS:
        return None
    calls = []
    for path in paths:
        ranges = _next_pieces(reading, path)
        if ranges is None:
            return None
        for first, last in ranges:
            if shell:
                calls.append(shell.call(command=f"sed -n '{first},{last}p' {shlex.quote(path)}"))
            else:
                calls.append(ranged.call(path=path, start=first, end=last))
    return calls[:PIECES_PER_ANSWER] or None


def can_test(toolkit: Toolkit, messages: list[dict]) -> bool:
    """A test tool is offered, or a shell is offered and the instructions ask for test runs."""
    if toolkit.get("tests"):
        return True
    asked = "\n".join(_text(m) for m in messages if m.get("role") in ("system", "user"))
    return bool(toolkit.get("shell") and _ASKS_FOR_TESTS.search(asked))


def keeps_trying(toolkit: Toolkit, messages: list[dict]) -> bool:
    """A test tool is offered, or the instructions say to retry until the tests pass."""
    asked = "\n".join(_text(m) for m in messages if m.get("role") in ("system", "user"))
    return bool(toolkit.get("tests") or _KEEP_TRYING.search(asked))


def _test_call(toolkit: Toolkit, reading: Reading) -> tuple[str, dict]:
    test_files = sorted(p for p in reading.current if is_test_file(p))
    if _pytest_style(reading, test_files):  # a repository's pytest suite: unittest finds nothing
        modules = [p for p in test_files if not p.endswith("conftest.py")]
        command = "python3 -m pytest -q -p no:cacheprovider " + " ".join(map(shlex.quote, modules))
    else:
        command = "python3 -m unittest -q " + " ".join(shlex.quote(p) for p in test_files)
    tool = toolkit.get("tests")
    if tool:
        return tool.call(path=test_files[0] if test_files and "path" in tool.required else None,
                         command=command.strip() if "command" in tool.params else None)
    return toolkit.get("shell").call(command=command.strip() + " 2>&1")


def _pytest_style(reading: Reading, test_files: list[str]) -> bool:
    """Whether the tests it has seen are pytest's (plain ``test_`` functions or ``import pytest``,
    no ``unittest``), as in most repositories, where ``python3 -m unittest`` runs none of them."""
    sources = [reading.current[p] for p in test_files if not p.endswith("conftest.py")]
    return bool(sources) and not any("unittest" in text for text in sources) and any(
        re.search(r"^(def test_\w*\(|import pytest|from pytest\b)", text, re.M)
        for text in sources)


def _look_calls(toolkit: Toolkit, reading: Reading) -> list[tuple[str, dict]]:
    """Tool calls that show the code: one shell command, or a listing then one read per file."""
    shell, read, listing = toolkit.get("shell"), toolkit.get("read"), toolkit.get("list")
    cut = sorted(p for p in reading.partial - reading.looked_alone if not is_test_file(p))
    still_cut = sorted(p for p in reading.partial & reading.looked_alone if not is_test_file(p))
    if still_cut and not cut:  # even shown one at a time they do not fit: read them in pieces
        return _piece_calls(toolkit, reading, still_cut) or []
    if reading.looks > 2:
        return []  # there is nothing to see
    if cut:
        if read:
            return [read.call(path=p) for p in cut[:8]]
        return [shell.call(command=f"cat {shlex.quote(p)}") for p in cut[:8]]
    if shell:
        return [shell.call(command=LOOK_COMMAND)]
    if not read:
        return []
    named = set(re.findall(r"\b[\w./-]+\.py\b", reading.problem)) | reading.listed
    unread = sorted(p for p in map(_norm, named) if p not in reading.current)
    if not reading.listed and listing:
        return [listing.call(path=".")]
    return [read.call(path=p) for p in unread[:8]]


def _unique_block(text: str, number: int, replacement: str | None = None) -> tuple[str, str]:
    """``(old, new)`` around line ``number``, widened with neighbours until ``old`` is unique."""
    lines = text.splitlines(keepends=True)
    first = last = number - 1
    while True:
        old = "".join(lines[first:last + 1])
        if text.count(old) == 1 or (first == 0 and last == len(lines) - 1):
            break
        first, last = max(0, first - 1), min(len(lines) - 1, last + 1)
    new_line = replacement + ("\n" if lines[number - 1].endswith("\n") else "")
    new = "".join(lines[first:number - 1]) + new_line + "".join(lines[number:last + 1])
    return old, new


def _edit_calls(tool: ToolShape, reading: Reading, target: dict[str, dict[int, str]]) -> list:
    """Calls that turn the current files into ``target`` (path → {line: new text})."""
    calls = []
    for path, lines in target.items():
        current = reading.current[path]
        if tool.kind == "write":
            text = current.splitlines(keepends=True)
            for number, new in lines.items():
                text[number - 1] = new + ("\n" if text[number - 1].endswith("\n") else "")
            calls.append(tool.call(path=path, content="".join(text)))
            continue
        for number, new in sorted(lines.items()):
            if tool.kind == "lines":
                calls.append(tool.call(path=path, start=number, end=number, content=new + "\n"))
            else:
                old, replacement = _unique_block(current, number, new)
                calls.append(tool.call(path=path, old=old, new=replacement))
                current = current.replace(old, replacement, 1)
    return calls


def _plan(task: str, testing: bool) -> str:
    files = sorted(set(re.findall(r"\b[\w./-]+\.py\b", task)))
    lines = [line.strip("# ").strip() for line in task.splitlines() if line.strip()] or ["the bug"]
    return ("Plan:\n1. Read the source files" + (f" ({', '.join(files)})" if files else "") + ".\n"
            f"2. Find the line responsible for: {lines[0][:160]}\n"
            "3. Change that one line, as little as possible.\n"
            + ("4. Run the tests after each change and keep trying until they pass."
               if testing else "4. Stop after the change."))


def code_reply(messages: list[dict], tools: list[dict], seed: int) -> tuple[str | None, list]:
    """The coder's next step: ``(text, [(tool name, arguments), ...])``."""
    toolkit = Toolkit(tools)
    reading = read_conversation(messages, toolkit)
    testing = can_test(toolkit, messages)
    users = [m for m in messages if m.get("role") == "user"]
    if messages and messages[-1].get("role") == "user" and len(users) > 1 \
            and "plan" in _text(messages[-1]).lower():
        return _plan(_text(users[0]), testing), []
    for kind, result in reading.last_results:
        if kind not in ("tests", "write", "replace", "lines") and _ERROR_RESULT.search(result):
            return f"Stopping: the last tool call failed ({result.strip()[:120]}).", []
    edits = [(_norm(e.path), e.search, e.replace) for e in find_edits(reading.problem)]
    if edits:
        return _carry_out(toolkit, reading, edits, testing)
    for kind, result in reading.last_results:
        if kind != "tests" and _ERROR_RESULT.search(result):
            return f"Stopping: the last tool call failed ({result.strip()[:120]}).", []
    sources = {p: t for p, t in reading.originals.items() if not is_test_file(p)}
    if not sources:
        calls = _look_calls(toolkit, reading)
        if not calls:
            return ("I cannot see the whole code with the tools I have (or their output is cut), "
                    "so I stop here."), []
        if testing and not reading.tests:
            calls.append(_test_call(toolkit, reading))
        return "Let me look at the code first.", calls
    if testing and not reading.tests:
        return "Let me run the tests to see what fails.", [_test_call(toolkit, reading)]
    if reading.edited and reading.tests and reading.tested_since_edit \
            and tests_passed(reading.tests[-1][0]):
        return "DONE: the tests pass.", []
    if reading.edited and not testing:
        return "DONE: I made the change.", []
    if reading.edited and testing and not reading.tested_since_edit and reading.changed():
        return "Let me run the tests.", [_test_call(toolkit, reading)]
    return _next_candidate(toolkit, reading, sources, testing, seed)


def _next_candidate(toolkit: Toolkit, reading: Reading, sources: dict[str, str], testing: bool,
                    seed: int) -> tuple[str | None, list]:
    baseline = [out for out, untouched in reading.tests if untouched]
    evidence = Evidence(reading.problem, baseline or [out for out, _ in reading.tests],
                        {p: t for p, t in reading.current.items() if is_test_file(p)})
    tried = reading.tried
    if testing and len(tried) >= PATIENCE and not keeps_trying(toolkit, reading.messages):
        return f"I tried {len(tried)} fixes and the tests still fail; I stop here.", []
    choice: Candidate | None = next(
        (c for c in rank(sources, evidence, seed) if (c.path, c.line, c.new) not in tried), None)
    restore = {path: {n: reading.originals[path].splitlines()[n - 1] for n in numbers
                      if n <= len(reading.originals[path].splitlines())}
               for path, numbers in reading.changed().items() if path in reading.originals}
    if any(len(reading.current[p].splitlines()) != len(reading.originals[p].splitlines())
           for p in restore):
        return "The files changed in a way I cannot follow; I stop here.", []
    tool = toolkit.finest_edit()
    if choice is None:
        if tool and restore:
            return "No candidate fix is left; restoring the original code.", _edit_calls(
                tool, reading, restore)
        return "I could not find a fix.", []
    target = {path: dict(lines) for path, lines in restore.items()}
    target.setdefault(choice.path, {})[choice.line] = choice.new
    note = f"Trying a fix in {choice.path} line {choice.line} ({choice.kind})."
    if tool is None:
        text = reading.current[choice.path].splitlines()
        text[choice.line - 1] = choice.new
        return (f"{note} Here is the new `{choice.path}`:\n\n```python\n" + "\n".join(text)
                + "\n```"), []
    calls = _edit_calls(tool, reading, target)
    if testing:
        calls.append(_test_call(toolkit, reading))
    return note, calls


def _finish_edits(toolkit: Toolkit, reading: Reading, edits: list, testing: bool,
                  skipped: list[str]) -> tuple[str | None, list]:
    """After carrying out the requested edits: run the tests once if it can, then report."""
    failed = [f"{_edit_path(toolkit, name, args)} ({res.strip()[:100]})"
              for name, args, res in reading.edit_results if _ERROR_RESULT.search(res)]
    applied = sum(1 for *_, res in reading.edit_results if not _ERROR_RESULT.search(res))
    test_files = {p for p in set(reading.current) | reading.listed if is_test_file(p)}
    if applied and testing and test_files and not reading.tested_since_edit:
        return "Let me run the tests after the edits.", [_test_call(toolkit, reading)]
    notes = skipped + [f"the edit to {f} failed" for f in failed]
    text = (f"DONE: I carried out the requested edits ({applied} edit call(s) applied)."
            if applied else "I could not carry out any of the requested edits; nothing changed.")
    if notes:
        text += " Skipped: " + "; ".join(notes) + "."
    if reading.tests and reading.tested_since_edit:
        output = reading.tests[-1][0]
        text += (" The tests pass." if tests_passed(output) else
                 " The test run found no test." if re.search(r"^Ran 0 tests", output, re.M) else
                 " The tests fail after the edits; I did not change anything else.")
    return text, []


def _edit_path(toolkit: Toolkit, name: str, args: dict) -> str:
    shape = toolkit.by_name.get(name)
    return str(args.get(shape.params.get("path", "path") if shape else "path", "?"))


def _skipped(edits: list, files: dict[str, str]) -> list[str]:
    """Why each edit cannot be applied to the files as seen (edits applied in order)."""
    texts, notes = dict(files), []
    for number, (path, search, replace) in enumerate(edits, 1):
        text = texts.get(path)
        if text is None:
            continue
        if not search.strip():
            notes.append(f"edit {number} to {path} (empty SEARCH text)")
        elif text.count(search) != 1:
            notes.append(f"edit {number} to {path} (its SEARCH text occurs {text.count(search)} "
                         "times in the file as I see it, not once)")
        else:
            texts[path] = text.replace(search, replace, 1)
    return notes


def _carry_out(toolkit: Toolkit, reading: Reading, edits: list, testing: bool
               ) -> tuple[str | None, list]:
    """Carries out explicit SEARCH/REPLACE edits from the problem statement with the finest tool.

    A ``str_replace``-style tool takes them as they are, without looking first. A line-range or
    whole-file tool needs the whole file: it is read (in line ranges when output is cut), the
    edits are applied to it, and the changed lines or the whole file are written back. An edit
    whose SEARCH text is not in the file as seen is skipped, and the answer says so.
    """
    seen = {p: reading.originals[p] for p, _, _ in edits if p in reading.originals
            and p in reading.current and p not in reading.partial}
    if reading.edit_results:
        return _finish_edits(toolkit, reading, edits, testing, _skipped(edits, seen))
    replace = toolkit.get("replace")
    if replace:
        skipped = _skipped(edits, seen)
        calls = [replace.call(path=path, old=search, new=new) for number, (path, search, new)
                 in enumerate(edits, 1) if search.strip()
                 and not any(n.startswith(f"edit {number} ") for n in skipped)]
        if not calls:
            return ("None of the requested edits applies; I changed nothing. Skipped: "
                    + "; ".join(skipped) + "."), []
        note = "Carrying out the requested edits with " + replace.name + "."
        if skipped:
            note += " Skipping " + "; ".join(skipped) + "."
        return note, calls
    paths = list(dict.fromkeys(p for p, _, _ in edits))
    unseen = [p for p in paths if p not in seen]
    if unseen:
        calls = _see_whole(toolkit, reading, unseen) if reading.looks <= PIECE_ROUNDS + 2 else []
        if not calls:
            return (f"The problem asks for edits to {', '.join(unseen)}, but I cannot see the "
                    "whole file with the tools I have, and I will not rewrite it blind; "
                    "I stop here."), []
        return f"Let me read {', '.join(unseen)} before editing.", calls
    skipped = _skipped(edits, seen)
    texts = dict(seen)
    lines_tool, write = toolkit.get("lines"), toolkit.get("write")
    calls, whole = [], set()
    for number, (path, search, new) in enumerate(edits, 1):
        if any(n.startswith(f"edit {number} ") for n in skipped):
            continue
        text = texts[path]
        start = text.find(search)
        end = start + len(search)
        aligned = (start == 0 or text[start - 1] == "\n") and \
            (end == len(text) or text[end] == "\n")
        texts[path] = text.replace(search, new, 1)
        if lines_tool and aligned and path not in whole:
            first = text.count("\n", 0, start) + 1
            calls.append(lines_tool.call(path=path, start=first, end=first + search.count("\n"),
                                         content=new + "\n" if new else ""))
        elif write:
            whole.add(path)
        else:
            skipped.append(f"edit {number} to {path} (no tool can make it)")
    calls += [write.call(path=path, content=texts[path]) for path in paths if path in whole]
    if not calls and not lines_tool and not write:
        changed = [p for p in paths if texts[p] != seen[p]]
        if changed:
            return "I have no edit tool; here are the edited files:\n\n" + "\n\n".join(
                f"`{p}`:\n```python\n{texts[p]}```" for p in changed), []
    if not calls:
        return ("None of the requested edits applies; I changed nothing. Skipped: "
                + "; ".join(skipped) + "."), []
    note = "Carrying out the requested edits."
    if skipped:
        note += " Skipping " + "; ".join(skipped) + "."
    return note, calls


def _see_whole(toolkit: Toolkit, reading: Reading, paths: list[str]) -> list:
    """Calls that show these files whole: one look each, then line ranges when output is cut."""
    shell, read = toolkit.get("shell"), toolkit.get("read")
    fresh = [p for p in paths if p not in reading.partial]
    if fresh:
        if read:
            return [read.call(path=p) for p in fresh]
        if shell:
            return [shell.call(command=f"cat {shlex.quote(p)}") for p in fresh]
        return []
    return _piece_calls(toolkit, reading, paths) or []
