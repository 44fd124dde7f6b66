"""The offline mutator's catalogue: scaffold changes it can make to an agent's ``agent.py``.

Each mutation reads the code it is given and anchors on patterns of the seed agent's layout
(``MAX_STEPS = 8``, the ``TOOLS = [`` list of ``tool(...)`` lines, the ``DISPATCH = {`` dict, the
``SYSTEM_PROMPT`` string, the ``reply = chat(messages)`` call), so mutations compose: after any
sequence of them, the others still find their anchors or report that they do not apply. Each
returns SEARCH/REPLACE pairs whose SEARCH text occurs exactly once in the code.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable

Edits = list[tuple[str, str]]

TEST_SENTENCE = "Run the tests after each edit and retry until they pass."
GUIDANCE = ("Work step by step. Read the relevant code before you change it, and keep every\n"
            "change as small as possible. Do not rename functions or change their signatures.\n"
            "Think about edge cases such as empty inputs, boundaries and off-by-one errors\n"
            "before you finish.")

#: Source of the tools the mutator can add: (function source, schema line).
TOOL_SOURCES = {
    "run_tests": ('''def run_tests():
    """Runs the visible unit tests (pytest when unittest finds none, as in most repositories)
    and returns their trimmed output."""
    for command in ("python3 -m unittest -q", "python3 -m pytest -q -p no:cacheprovider"):
        try:
            done = subprocess.run(command + " 2>&1", shell=True, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            return "the tests timed out"
        if "Ran 0 tests" not in done.stdout:
            break
    return trim(done.stdout + done.stderr)''',
                  'tool("run_tests", "Run the visible unit tests and return their output."),'),
    "str_replace": ('''def str_replace(path, old, new):
    """Replaces one exact occurrence of `old` in a file: a small edit instead of a rewrite."""
    with open(path) as file:
        text = file.read()
    if text.count(old) != 1:
        return f"error: the old text occurs {text.count(old)} times in {path}; it must occur once"
    with open(path, "w") as file:
        file.write(text.replace(old, new, 1))
    return f"replaced {len(old.splitlines())} line(s) in {path}"''',
                    'tool("str_replace", "Replace one exact, unique piece of text in a file.", '
                    'path="file path", old="exact text to replace", new="replacement text"),'),
    "replace_lines": ('''def replace_lines(path, start, end, content):
    """Replaces lines start..end (1-based, inclusive) of a file with new content."""
    with open(path) as file:
        lines = file.readlines()
    start, end = int(start), int(end)
    if not 1 <= start <= end <= len(lines):
        return f"error: lines {start}..{end} are outside 1..{len(lines)}"
    lines[start - 1:end] = [content if content.endswith("\\n") or not content else content + "\\n"]
    with open(path, "w") as file:
        file.writelines(lines)
    return f"replaced lines {start}..{end} of {path}"''',
                      'tool("replace_lines", "Replace lines start..end (1-based, inclusive) of a '
                      'file.", path="file path", start="first line", end="last line", '
                      'content="new text for those lines"),'),
    "read_file": ('''def read_file(path):
    """Returns a file's content with line numbers."""
    with open(path) as file:
        return trim("".join(f"{number}: {line}" for number, line in enumerate(file, 1)))''',
                  'tool("read_file", "Show a file with line numbers.", path="file path"),'),
    "list_files": ('''def list_files(path):
    """Lists the files under a folder, skipping hidden ones and caches."""
    found = []
    for folder, dirs, files in os.walk(path or "."):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        found += [os.path.relpath(os.path.join(folder, f), path or ".") for f in files]
    return "\\n".join(sorted(found)) or "(no files)"''',
                   'tool("list_files", "List the files under a folder.", path="folder, e.g. ."),'),
    "write_file": ('''def write_file(path, content):
    """Writes a whole file, creating or replacing it."""
    with open(path, "w") as file:
        file.write(content)
    return f"wrote {len(content.splitlines())} lines to {path}"''',
                   'tool("write_file", "Write a whole file (replaces it).", path="path", '
                   'content="new content"),'),
}
FINE_EDIT_TOOLS = ("str_replace", "replace_lines")

TRIM_CONTEXT = '''KEEP_LAST = 3


def trim_context(messages):
    """Shortens old tool results (all but the first two and the last KEEP_LAST) to save tokens."""
    results = [i for i, m in enumerate(messages) if m["role"] == "tool"]
    keep = set(results[:2] + results[-max(1, KEEP_LAST):])
    return [dict(m, content=m["content"][:200] + " [trimmed]")
            if i in results and i not in keep and len(m["content"]) > 200 else m
            for i, m in enumerate(messages)]'''

MAKE_PLAN = '''PLAN_REQUEST = "Before using any tool, write a short numbered plan for this task."


def make_plan(messages):
    """Asks for a plan before the loop; the plan stays in the conversation to guide later steps."""
    reply = chat(messages + [{"role": "user", "content": PLAN_REQUEST}])
    if reply.get("choices"):
        plan = reply["choices"][0]["message"].get("content") or ""
        messages += [{"role": "user", "content": PLAN_REQUEST},
                     {"role": "assistant", "content": plan}]'''


@dataclass(frozen=True)
class ScaffoldMutation:
    """One kind of scaffold change: what it moves, how likely it is chosen, how to make it."""

    name: str
    moves: tuple[str, ...]  # the ``Target:`` phrases it serves
    weight: float  # preference without a target
    rationale: str
    make: Callable[[str, random.Random, str | None], Edits | None]


def unique(code: str, text: str) -> bool:
    return bool(text) and code.count(text) == 1


def tool_names(code: str) -> list[str]:
    """Names of the tools in the ``TOOLS = [...]`` list, in order."""
    block = re.search(r"^TOOLS = \[\n(.*?)^\]", code, re.M | re.S)
    return re.findall(r'^\s+tool\("(\w+)"', block[1], re.M) if block else []


def _line(code: str, pattern: str) -> str | None:
    match = re.search(pattern, code, re.M)
    return match[0] if match else None


def add_tool(name: str) -> Callable:
    def make(code: str, rng: random.Random, target: str | None) -> Edits | None:
        if name in tool_names(code) or not unique(code, "TOOLS = [") \
                or not unique(code, "DISPATCH = {") or "def tool(" not in code:
            return None
        function, schema = TOOL_SOURCES[name]
        head = "TOOLS = [\n    " + schema
        if f"def {name}(" not in code:
            head = function + "\n\n\n" + head
        return [("TOOLS = [", head), ("DISPATCH = {", f'DISPATCH = {{\n    "{name}": {name},')]
    return make


def remove_tool(code: str, rng: random.Random, target: str | None) -> Edits | None:
    names = tool_names(code)
    if len(names) < 2:
        return None
    fine = [n for n in names if n in FINE_EDIT_TOOLS]
    if target in ("finer edits", "coarser edits") and not (fine and "write_file" in names):
        return None  # removing a tool moves edit granularity only when both kinds are offered
    choices = {"finer edits": ["write_file"], "coarser edits": fine}.get(target, names)
    name = rng.choice(choices)
    edits = []
    for pattern in (rf'^[ \t]+tool\("{name}".*\n.*', rf'^[ \t]+"{name}": \w+,\n.*'):
        pair = _line(code, pattern)
        if pair is None or not unique(code, pair):
            return None
        edits.append((pair, pair.split("\n", 1)[1]))
    return edits


def scale_constant(name: str, factor: float, low: int, high: int) -> Callable:
    def make(code: str, rng: random.Random, target: str | None) -> Edits | None:
        line = _line(code, rf"^{name} = (\d+)$")
        if line is None:
            return None
        value = int(line.split("=")[1])
        new = value * factor * rng.uniform(0.9, 1.1)
        new = max(low, min(high, int(round(new, -2)) if new >= 1000 else round(new)))
        if new == value:
            return None
        return [(line, f"{name} = {new}")]
    return make


def _prompt(code: str) -> str | None:
    block = _line(code, r'^SYSTEM_PROMPT = """(?:.|\n)*?"""$')
    return block if block and unique(code, block) else None


def prompt_test_loop(code: str, rng: random.Random, target: str | None) -> Edits | None:
    block = _prompt(code)
    if block is None or re.search(r"\brun\b[^.\n]{0,20}\btests?\b", block, re.I):
        return None
    return [(block, block[:-3].rstrip() + "\n" + TEST_SENTENCE + '"""')]


def longer_prompt(code: str, rng: random.Random, target: str | None) -> Edits | None:
    block = _prompt(code)
    if block is None or GUIDANCE.splitlines()[0] in block:
        return None
    return [(block, block[:-3].rstrip() + "\n" + GUIDANCE + '"""')]


def shorter_prompt(code: str, rng: random.Random, target: str | None) -> Edits | None:
    block = _prompt(code)
    short = "Fix the problem the user describes; answer without a tool call when done."
    if block is None or len(block) < 200:
        return None
    keep = TEST_SENTENCE if TEST_SENTENCE in block else ""
    return [(block, f'SYSTEM_PROMPT = """{short}' + (f"\n{keep}" if keep else "") + '"""')]


def trim_context(code: str, rng: random.Random, target: str | None) -> Edits | None:
    if "def trim_context(" in code:
        line = _line(code, r"^KEEP_LAST = (\d+)$")
        if line is None or int(line.split("=")[1]) <= 1:
            return None
        return [(line, f"KEEP_LAST = {int(line.split('=')[1]) - 1}")]
    call = _line(code, r"^[ \t]+reply = chat\(messages\)$")
    if call is None or not unique(code, call) or not unique(code, "def chat(messages):"):
        return None
    return [("def chat(messages):", TRIM_CONTEXT + "\n\n\ndef chat(messages):"),
            (call, call.replace("chat(messages)", "chat(trim_context(messages))"))]


def plan_first(code: str, rng: random.Random, target: str | None) -> Edits | None:
    loop = _line(code, r"^    for step in range\(MAX_STEPS\):$")
    if "def make_plan(" in code or loop is None or not unique(code, loop) \
            or not unique(code, "def main():"):
        return None
    return [("def main():", MAKE_PLAN + "\n\n\ndef main():"),
            (loop, "    make_plan(messages)\n" + loop)]


CATALOGUE = [
    ScaffoldMutation("add run_tests tool", ("more tools", "more tokens"), 3.0,
                     "add a run_tests tool so the model can check each edit and retry",
                     add_tool("run_tests")),
    ScaffoldMutation("ask for a test loop", ("more tokens",), 3.0,
                     "tell the model to run the tests after each edit and retry until they pass",
                     prompt_test_loop),
    ScaffoldMutation("add str_replace tool", ("more tools", "finer edits"), 2.0,
                     "add a str_replace tool so fixes replace one line instead of a whole file",
                     add_tool("str_replace")),
    ScaffoldMutation("add replace_lines tool", ("more tools", "finer edits"), 1.5,
                     "add a replace_lines tool for precise line-range edits",
                     add_tool("replace_lines")),
    ScaffoldMutation("add read_file tool", ("more tools",), 1.0,
                     "add a read_file tool that shows files with line numbers",
                     add_tool("read_file")),
    ScaffoldMutation("add list_files tool", ("more tools",), 1.0,
                     "add a list_files tool to see the workspace layout", add_tool("list_files")),
    ScaffoldMutation("add write_file tool", ("more tools", "coarser edits"), 0.5,
                     "add a whole-file write tool for larger rewrites", add_tool("write_file")),
    ScaffoldMutation("remove a tool", ("fewer tools", "finer edits", "coarser edits"), 0.7,
                     "remove a tool to keep the tool list short and focused", remove_tool),
    ScaffoldMutation("raise MAX_STEPS", ("more tokens",), 2.0,
                     "allow more steps so the loop can try more fixes",
                     scale_constant("MAX_STEPS", 1.8, 2, 40)),
    ScaffoldMutation("lower MAX_STEPS", ("fewer tokens",), 0.7,
                     "allow fewer steps to spend fewer tokens per task",
                     scale_constant("MAX_STEPS", 0.55, 2, 40)),
    ScaffoldMutation("trim old tool results", ("fewer tokens",), 1.5,
                     "shorten old tool results before each call so the context stays small",
                     trim_context),
    ScaffoldMutation("lower OUTPUT_LIMIT", ("fewer tokens",), 0.7,
                     "cut tool output shorter to save tokens",
                     scale_constant("OUTPUT_LIMIT", 0.5, 200, 32000)),
    ScaffoldMutation("raise OUTPUT_LIMIT", ("more tokens",), 0.5,
                     "keep more tool output so the model sees whole files and tracebacks",
                     scale_constant("OUTPUT_LIMIT", 2.0, 200, 32000)),
    ScaffoldMutation("shorter system prompt", ("fewer tokens",), 1.0,
                     "shorten the system prompt, which is sent with every call", shorter_prompt),
    ScaffoldMutation("longer system prompt", ("more tokens",), 1.0,
                     "give the model more guidance in the system prompt", longer_prompt),
    ScaffoldMutation("plan first", ("more tokens",), 1.0,
                     "ask the model for a plan before it starts using tools", plan_first),
    ScaffoldMutation("change the command timeout", (), 0.3,
                     "adjust the shell command timeout",
                     scale_constant("COMMAND_TIMEOUT", 1.5, 2, 120)),
]
