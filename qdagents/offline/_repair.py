"""Candidate fixes for the offline coder: single-line mutations ranked by fault localisation.

This is classic generate-and-validate program repair (GenProg / mutation-based repair), kept
deliberately simple: every candidate changes one token-level thing on one line of a non-test
source file the model has been shown, and candidates are ordered by how suspicious their line is
(lines in the latest tracebacks first, then the functions the failing tests call, then functions
named in the problem statement) and by a fixed prior over mutation kinds. Nothing here reads a
file: it works on the texts it is given.
"""

from __future__ import annotations

import ast
import hashlib
import io
import keyword
import re
import tokenize
from dataclasses import dataclass

from qdagents._syntax import compile_source, parse

#: Prior weight of each mutation kind: how often that kind of slip is the bug in small programs.
PRIORS = {
    "boundary comparison": 3.0, "drop +/- constant": 2.6, "index/slice/range off by one": 2.2,
    "first/last element": 2.2, "min/max": 2.2, "and/or": 2.0, "==/!=": 2.0, "True/False": 2.0,
    "drop not": 1.6, "+/-": 2.0, "augmented +=/-=": 1.8, "*, /, //, %": 1.5,
    "reverse comparison": 1.4, "value off by one": 1.3, "integer constant": 1.2, "add not": 1.0,
    "break/continue": 1.0, "stub guess": 0.5,
}
#: What the coder tries in place of a ``raise NotImplementedError`` stub: it cannot write code.
STUB_GUESSES = ("None", "0", "[]", '""', "{}", "False")
#: Mutation kinds a failing assertion between two integers one apart points at.
OFF_BY_ONE = {"boundary comparison", "drop +/- constant", "index/slice/range off by one",
              "integer constant", "+/-", "augmented +=/-=", "value off by one"}
#: Mutation kinds a failing assertion between booleans points at.
BOOLEAN = {"and/or", "==/!=", "True/False", "drop not", "add not", "boundary comparison",
           "reverse comparison"}

#: Words of a problem statement and the mutation kinds they point at, the way a reader of a bug
#: report guesses what kind of slip to look for ("exactly at the limit" → a boundary comparison).
CUES = [
    (r"exactly|sharp|or (below|above|more|less|fewer|later|earlier)|at (least|most)|inclusive|"
     r"included|both ends|boundar", {"boundary comparison", "index/slice/range off by one",
                                    "value off by one", "drop +/- constant"}),
    (r"\b(first|last|latest|earliest|oldest|newest|most recent|front|back)\b",
     {"first/last element", "min/max"}),
    (r"\b(never|always|accepted|refused|rejected|allowed|treated as|counted as)\b",
     {"drop not", "add not", "True/False", "and/or", "==/!=", "reverse comparison"}),
    (r"\b(average|mean|decimals?|fraction|half|rounded|per cent|percent|ratio)\b",
     {"*, /, //, %"}),
    (r"\b(smallest|largest|highest|lowest|minimum|maximum|cap|capped|clamp\w*)\b", {"min/max"}),
    (r"\b(one too (many|few)|off by one|one (day|more|less|fewer))\b", OFF_BY_ONE),
    (r"\b(discount\w*|subtract\w*|minus|deduct\w*|refund\w*|difference)\b",
     {"+/-", "augmented +=/-="}),
]
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ([^\n]+)\n(?:[ \t]+([^\n]*)\n)?')
_COMPARE = re.compile(r"(?<![<>=!\-])(<=|>=|==|!=|<|>)(?![<>=])")
_COMPARE_SWAPS = {"<": [("<=", "boundary comparison"), (">", "reverse comparison")],
                  "<=": [("<", "boundary comparison"), (">=", "reverse comparison")],
                  ">": [(">=", "boundary comparison"), ("<", "reverse comparison")],
                  ">=": [(">", "boundary comparison"), ("<=", "reverse comparison")],
                  "==": [("!=", "==/!=")], "!=": [("==", "==/!=")]}
_MULTIPLY = re.compile(r"(?<![*/])(\*|//|/|%)(?![*/=])")
_MULTIPLY_SWAPS = {"*": ["//", "/"], "//": ["*", "/", "%"], "/": ["//", "*"], "%": ["//"]}
_WORD_SWAPS = [(r"\b(and|or)\b", {"and": "or", "or": "and"}, "and/or"),
               (r"\b(True|False)\b", {"True": "False", "False": "True"}, "True/False"),
               (r"\b(min|max)(?=\s*\()", {"min": "max", "max": "min"}, "min/max"),
               (r"\b(break|continue)\b", {"break": "continue", "continue": "break"},
                "break/continue"),
               (r"\[(0|-1)\]", {"0": "-1", "-1": "0"}, "first/last element")]
_UNARY_BEFORE = set(keyword.kwlist) | {"print"}




@dataclass(frozen=True)
class Candidate:
    """One single-line change to a source file."""

    path: str
    line: int  # 1-based
    old: str
    new: str
    kind: str


def is_test_file(path: str) -> bool:
    """Test files are never mutated: ``test_*.py``, ``*_test.py``, ``tests.py``, ``tests/``."""
    name = path.replace("\\", "/").split("/")[-1]
    return (name.startswith("test") or name.endswith("_test.py") or name == "conftest.py"
            or "/tests/" in "/" + path)


def masked_lines(source: str) -> list[str]:
    """The file's lines with string literals and comments blanked to ``_``, columns preserved."""
    lines = source.splitlines()
    masked = [list(line) for line in lines]
    hide = {tokenize.STRING, tokenize.COMMENT}
    hide |= {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
             if hasattr(tokenize, n)}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return [re.sub(r"#.*$", "", re.sub(r"(['\"]).*?\1", lambda m: "_" * len(m[0]), line))
                .ljust(len(line), "_") for line in lines]
    for token in tokens:
        if token.type not in hide:
            continue
        (row, col), (end_row, end_col) = token.start, token.end
        for r in range(row, end_row + 1):
            if r - 1 >= len(masked):
                break
            start = col if r == row else 0
            stop = end_col if r == end_row else len(masked[r - 1])
            for c in range(start, min(stop, len(masked[r - 1]))):
                masked[r - 1][c] = "_"
    return ["".join(chars) for chars in masked]


def _binary(masked: str, position: int) -> bool:
    """Whether the operator at ``position`` is binary (it follows an operand, not a keyword)."""
    before = masked[:position].rstrip()
    if not before or before[-1] not in ")]_'\"" and not before[-1].isalnum():
        return False
    word = re.search(r"(\w+)$", before)
    return not (word and word[1] in _UNARY_BEFORE)


def _closing(masked: str, opening: int) -> int | None:
    """Index of the bracket closing the one at ``opening`` on the same line, or None."""
    depth = 0
    for i in range(opening, len(masked)):
        if masked[i] in "([{":
            depth += 1
        elif masked[i] in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _top_level_parts(masked: str, start: int, end: int, separator: str) -> list[tuple[int, int]]:
    """Spans of ``masked[start:end]`` split on ``separator`` outside nested brackets."""
    parts, depth, begin = [], 0, start
    for i in range(start, end):
        if masked[i] in "([{":
            depth += 1
        elif masked[i] in ")]}":
            depth -= 1
        elif masked[i] == separator and depth == 0:
            parts.append((begin, i))
            begin = i + 1
    return parts + [(begin, end)]


def line_mutations(line: str, masked: str) -> list[tuple[str, str]]:
    """Every single mutation of a line as ``(kind, new line)``; strings and comments untouched."""
    out: list[tuple[str, str]] = []

    def put(start: int, end: int, text: str, kind: str) -> None:
        out.append((kind, line[:start] + text + line[end:]))

    stub = re.match(r"^(\s*)raise NotImplementedError\b", masked)
    if stub:
        return [("stub guess", f"{stub[1]}return {value}") for value in STUB_GUESSES]
    for m in _COMPARE.finditer(masked):
        for text, kind in _COMPARE_SWAPS[m[1]]:
            put(m.start(1), m.end(1), text, kind)
    for pattern, swaps, kind in _WORD_SWAPS:
        for m in re.finditer(pattern, masked):
            put(m.start(1), m.end(1), swaps[m[1]], kind)
    for m in re.finditer(r"\bnot\s+", masked):
        put(m.start(), m.end(), "", "drop not")
    condition = re.match(r"^(\s*(?:if|elif|while)\s+)(.+?)(\s*:\s*)$", masked)
    if condition and not condition[2].startswith("not "):
        inner = line[condition.start(2):condition.end(2)]
        put(condition.start(2), condition.end(2),
            f"not ({inner})" if " " in inner else f"not {inner}", "add not")
    for m in re.finditer(r"([+\-])=", masked):
        put(m.start(1), m.end(1), "-" if m[1] == "+" else "+", "augmented +=/-=")
    for m in re.finditer(r"[+\-](?!=)", masked):
        if _binary(masked, m.start()):
            put(m.start(), m.end(), "-" if m[0] == "+" else "+", "+/-")
    for m in re.finditer(r"\s*[+\-]\s*\d+(?![\w.])", masked):
        if _binary(masked, m.start() + len(m[0]) - len(m[0].lstrip())):
            put(m.start(), m.end(), "", "drop +/- constant")
    for m in _MULTIPLY.finditer(masked):
        if _binary(masked, m.start()):
            for text in _MULTIPLY_SWAPS[m[1]]:
                put(m.start(1), m.end(1), text, "*, /, //, %")
    for m in re.finditer(r"(?<![\w.])(\d+)(?![\w.])", masked):
        if masked[:m.start()].endswith("-") and not _binary(masked, m.start() - 1):
            continue  # -1 and friends: "first/last element" covers them
        value = int(m[1])
        after_sign = re.search(r"[+\-]\s*$", masked[:m.start()])
        for other in sorted({value + 1, max(0, value - 1), 1 - value if value < 2 else value}):
            if other != value and not (other == 0 and after_sign):  # "x - 0": see drop
                put(m.start(1), m.end(1), str(other), "integer constant")
    for end, kind in _off_by_one_spots(masked):
        for delta in (" + 1", " - 1"):
            put(end, end, delta, kind)
    return out


def _off_by_one_spots(masked: str) -> list[tuple[int, str]]:
    """``(end, kind)`` of expressions where off-by-one bugs live: range() arguments, indexes,
    slices and len() calls; then returned values and arithmetic assignments."""
    spots = []
    for m in re.finditer(r"\brange\s*\(", masked):
        close = _closing(masked, m.end() - 1)
        if close is not None:
            spots += _top_level_parts(masked, m.end(), close, ",")
    for m in re.finditer(r"(?<=[\w)\]])\[", masked):
        close = _closing(masked, m.start())
        if close is not None:
            spots += _top_level_parts(masked, m.start() + 1, close, ":")
    for m in re.finditer(r"\blen\s*\(", masked):
        close = _closing(masked, m.end() - 1)
        if close is not None:
            spots.append((m.start(), close + 1))
    kinds = ["index/slice/range off by one"] * len(spots)
    value = re.match(r"^\s*(?:return\s+|[A-Za-z_][\w.]*\s*=\s*)(.+?)\s*$", masked)
    if value and not re.search(r"[<>=!]=|[<>]|\b(and|or|not|if|lambda|for)\b|^[\[{(_]", value[1]):
        if value[0].lstrip().startswith("return") or re.search(r"\w\s*[+\-]\s*\w", value[1]):
            spots.append((value.start(1), value.end(1)))
            kinds.append("value off by one")
    kept = []
    for (start, end), kind in zip(spots, kinds):
        text = masked[start:end].strip()
        if text and not re.fullmatch(r"-?\d+|None|True|False|_+", text) \
                and not re.search(r"[+\-]\s*\d+$", text) \
                and not re.match(r"\s*[+\-]\s*\d", masked[end:]):
            kept.append((len(masked[:end].rstrip()), kind))
    return kept


def candidates(path: str, source: str) -> list[Candidate]:
    """All distinct single-line mutations of a source file that still compile."""
    lines, masked = source.splitlines(), masked_lines(source)
    seen, found = set(), []
    for number, (line, mask) in enumerate(zip(lines, masked), 1):
        if not line.strip() or line.lstrip().startswith(("#", "import ", "from ")):
            continue
        for kind, new in line_mutations(line, mask):
            if new == line or (number, new) in seen:
                continue
            seen.add((number, new))
            trial = lines[:number - 1] + [new] + lines[number:]
            try:
                compile_source("\n".join(trial) + "\n", path)
            except (SyntaxError, ValueError):
                continue
            found.append(Candidate(path, number, line, new, kind))
    return found


def function_spans(source: str) -> dict[str, list[tuple[int, int]]]:
    """Function name → its ``(first line, last line)`` spans (several if redefined or methods)."""
    try:
        tree = parse(source)
    except (SyntaxError, ValueError):
        return {}
    spans: dict[str, list[tuple[int, int]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            spans.setdefault(node.name, []).append((node.lineno, node.end_lineno or node.lineno))
    return spans


def _called_names(text: str) -> set[str]:
    return set(re.findall(r"\b([A-Za-z_]\w*)\s*\(", text))


@dataclass
class Evidence:
    """What the model has been shown that points at the bug."""

    problem: str
    test_outputs: list[str]
    test_sources: dict[str, str]


def suspiciousness(sources: dict[str, str], evidence: Evidence) -> dict[tuple[str, int], float]:
    """Score per ``(path, line)``: how strongly what was shown points at that line (0 to 10)."""
    score: dict[tuple[str, int], float] = {}

    def raise_to(path: str, first: int, last: int, value: float) -> None:
        for number in range(first, last + 1):
            key = (path, number)
            score[key] = max(score.get(key, 0.0), value)

    spans = {path: function_spans(text) for path, text in sources.items()}

    def mark_functions(names: set[str], value: float) -> None:
        for path, table in spans.items():
            for name in names & set(table):
                for first, last in table[name]:
                    raise_to(path, first, last, value)
                    body = "\n".join(sources[path].splitlines()[first - 1:last])
                    callees = (_called_names(body) - {name}) & set(table)
                    for callee in callees:  # one level down the call graph
                        for f, l in table[callee]:
                            raise_to(path, f, l, value - 1.5)

    problem_words = set(re.findall(r"[A-Za-z_]\w*", evidence.problem))
    mark_functions(problem_words, 2.5)
    for text in evidence.test_sources.values():
        mark_functions(_called_names(text), 1.0)
    for output in evidence.test_outputs:
        frames = _FRAME.findall(output)
        failing_calls: set[str] = set()
        deepest = True
        for file, number, _function, code in reversed(frames):
            path = _match_source(file, sources)
            if path is None:
                if is_test_file(file):
                    failing_calls |= _called_names(code or "")
                    test_path = _match_source(file, evidence.test_sources)
                    if test_path and not code:
                        text_lines = evidence.test_sources[test_path].splitlines()
                        if 0 < int(number) <= len(text_lines):
                            failing_calls |= _called_names(text_lines[int(number) - 1])
                continue
            line = int(number)
            for name, ranges in spans[path].items():
                for first, last in ranges:
                    if first <= line <= last:
                        raise_to(path, first, last, 5.0)
                        raise_to(path, max(first, line - 3), min(last, line + 3), 6.0)
            raise_to(path, line, line, 10.0 if deepest else 8.0)
            deepest = False
        mark_functions(failing_calls, 4.0)
    return score


def _match_source(file: str, files: dict[str, str]) -> str | None:
    """The known file a traceback path refers to (by path suffix), or None."""
    file = file.replace("\\", "/")
    for path in files:
        if file == path or file.endswith("/" + path.lstrip("./")):
            return path
    return None


def assertion_hints(outputs: list[str]) -> set[str]:
    """Mutation kinds suggested by the failing assertions' messages (numbers one apart, ...)."""
    hints: set[str] = set()
    for output in outputs:
        for a, b in re.findall(r"AssertionError: (-?\d+) != (-?\d+)", output):
            if abs(int(a) - int(b)) == 1:
                hints |= OFF_BY_ONE
        if re.search(r"AssertionError: (True|False) (is not|!=) (True|False)", output):
            hints |= BOOLEAN
        if "IndexError" in output:
            hints |= OFF_BY_ONE | {"first/last element"}
    return hints


def problem_hints(problem: str) -> set[str]:
    """Mutation kinds the wording of the problem statement points at."""
    return {kind for pattern, kinds in CUES if re.search(pattern, problem, re.I) for kind in kinds}


def rank(sources: dict[str, str], evidence: Evidence, seed: int) -> list[Candidate]:
    """All candidates of the non-test sources, most promising first; ties broken by the seed."""
    score = suspiciousness(sources, evidence)
    hints = assertion_hints(evidence.test_outputs)
    cues = problem_hints(evidence.problem)
    ranked = []
    for path, text in sources.items():
        for c in candidates(path, text):
            jitter = hashlib.sha256(f"{seed}|{c.path}|{c.line}|{c.new}".encode()).digest()[0] / 512
            value = (2.0 * score.get((path, c.line), 0.0) + PRIORS.get(c.kind, 1.0)
                     + (1.5 if c.kind in hints else 0.0) + (0.8 if c.kind in cues else 0.0)
                     + jitter)
            if c.old.lstrip().startswith(("def ", "class ", "async def ")):
                value -= 2.0
            ranked.append((-value, c.path, c.line, c.new, c))
    ranked.sort(key=lambda item: item[:4])
    return [item[-1] for item in ranked]
