"""Random structural mutation: a non-LLM baseline emitter.

It never calls the LLM. It applies one mutation, drawn with the given rng (so it is deterministic
for a seed), from a small catalogue of structural changes to the agent's Python files, found by
AST and applied as text edits:

- ``int_constant``: a module-level ``UPPER_CASE = <int>`` constant (``MAX_STEPS``,
  ``OUTPUT_LIMIT``, ...) is halved or doubled (at least 1, always different);
- ``drop_tool``: one entry of a module-level ``TOOLS`` list is removed (when it has 2 or more);
- ``duplicate_tool``: one ``TOOLS`` entry is copied under a new name ``<name>_2`` and, when a
  ``DISPATCH`` dict maps the name, the copy is dispatched to the same function;
- ``trim_prompt``: the last line of a multi-line module-level ``*PROMPT*`` string is removed;
- ``extend_prompt``: a sentence from :data:`PROMPT_SENTENCES` is appended to that string.

A mutation is drawn uniformly among those with at least one site, then a site uniformly. Every
result must parse; a mutation whose result does not parse is not offered. This is the
“random variation” control that LLM emitters should beat (cf. the random-mutation baselines of
Lehman et al. 2022, “Evolution through Large Models”).
"""

from __future__ import annotations

import ast
import re
from typing import Callable

from qdagents._syntax import parse
from qdagents.emitters._base import Complete, EmitFailure, Parent, Proposal

PROMPT_SENTENCES = ("Read the relevant files before you change them.",
                    "Run the tests before you finish.",
                    "Change only the lines that need to change.",
                    "Keep your answers short.",
                    "If a command fails, read its error and try a different approach.")

OPERATORS = ("int_constant", "drop_tool", "duplicate_tool", "trim_prompt", "extend_prompt")

Site = Callable[[], tuple[str, str]]      # () -> (new text, description)


def _assignments(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            yield node.targets[0].id, node.value


def _replace_span(text: str, node: ast.AST, new: str) -> str:
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    start = offsets[node.lineno - 1] + len(
        lines[node.lineno - 1].encode()[:node.col_offset].decode())
    end = offsets[node.end_lineno - 1] + len(
        lines[node.end_lineno - 1].encode()[:node.end_col_offset].decode())
    return text[:start] + new + text[end:]


def _int_constant_sites(text, tree, rng) -> list[Site]:
    sites = []
    for name, value in _assignments(tree):
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", name) and isinstance(value, ast.Constant) \
                and type(value.value) is int:
            def site(name=name, value=value):
                old = value.value
                factor = (0.5, 2.0)[int(rng.integers(2))]
                new = max(1, int(round(old * factor)))
                if new == old:
                    new = old * 2 if old > 0 else 1
                return _replace_span(text, value, str(new)), f"{name} {old} -> {new}"
            sites.append(site)
    return sites


def _list_node(tree, name):
    for target, value in _assignments(tree):
        if target == name and isinstance(value, ast.List):
            return value
    return None


def _drop_tool_sites(text, tree, rng) -> list[Site]:
    tools = _list_node(tree, "TOOLS")
    if tools is None or len(tools.elts) < 2:
        return []
    sites = []
    for i, elt in enumerate(tools.elts):
        def site(i=i):
            kept = [ast.get_source_segment(text, e) for j, e in enumerate(tools.elts) if j != i]
            body = "[\n" + "".join(f"    {k},\n" for k in kept) + "]"
            return _replace_span(text, tools, body), f"dropped tool #{i + 1} of TOOLS"
        sites.append(site)
    return sites


def _tool_name(elt: ast.AST) -> str | None:
    """The first string constant in a tool entry: its name in both ``tool("bash", ...)`` and
    ``{"type": "function", "function": {"name": "bash", ...}}`` once "type"/"function" are skipped."""
    for node in ast.walk(elt):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value not in ("type", "function", "name"):
            return node.value
    return None


def _duplicate_tool_sites(text, tree, rng) -> list[Site]:
    tools = _list_node(tree, "TOOLS")
    if tools is None or not tools.elts:
        return []
    names = {_tool_name(e) for e in tools.elts}
    dispatch = None
    for target, value in _assignments(tree):
        if target == "DISPATCH" and isinstance(value, ast.Dict):
            dispatch = value
    sites = []
    for elt in tools.elts:
        name = _tool_name(elt)
        if not name or not re.fullmatch(r"\w+", name):
            continue
        new_name = next(f"{name}_{n}" for n in range(2, 99) if f"{name}_{n}" not in names)

        def site(elt=elt, name=name, new_name=new_name):
            source = ast.get_source_segment(text, elt)
            copy = re.sub(rf"(['\"]){re.escape(name)}\1", f'"{new_name}"', source, count=1)
            entries = [ast.get_source_segment(text, e) for e in tools.elts] + [copy]
            body = "[\n" + "".join(f"    {e},\n" for e in entries) + "]"
            edits = [(tools, body)]
            if dispatch is not None:
                for key, value in zip(dispatch.keys, dispatch.values):
                    if isinstance(key, ast.Constant) and key.value == name:
                        pairs = [(ast.get_source_segment(text, k), ast.get_source_segment(text, v))
                                 for k, v in zip(dispatch.keys, dispatch.values) if k is not None]
                        pairs.append((f'"{new_name}"', ast.get_source_segment(text, value)))
                        edits.append((dispatch, "{\n" + "".join(
                            f"    {k}: {v},\n" for k, v in pairs) + "}"))
                        break
            out = text
            for node, new in sorted(edits, key=lambda e: -e[0].lineno):   # bottom first
                out = _replace_span(out, node, new)
            return out, f"duplicated tool {name!r} as {new_name!r}"
        sites.append(site)
    return sites


def _prompt_nodes(tree):
    return [(name, value) for name, value in _assignments(tree)
            if "PROMPT" in name.upper() and isinstance(value, ast.Constant)
            and isinstance(value.value, str)]


def _render(string: str) -> str:
    if '"""' not in string and not string.endswith('"') and "\\" not in string:
        return '"""' + string + '"""'
    return repr(string)


def _trim_prompt_sites(text, tree, rng) -> list[Site]:
    sites = []
    for name, value in _prompt_nodes(tree):
        lines = value.value.rstrip("\n").split("\n")
        if len(lines) < 2:
            continue

        def site(name=name, value=value, lines=lines):
            return (_replace_span(text, value, _render("\n".join(lines[:-1]))),
                    f"trimmed the last line of {name}: {lines[-1][:60]!r}")
        sites.append(site)
    return sites


def _extend_prompt_sites(text, tree, rng) -> list[Site]:
    sites = []
    for name, value in _prompt_nodes(tree):
        fresh = [s for s in PROMPT_SENTENCES if s not in value.value]
        if not fresh:
            continue

        def site(name=name, value=value, fresh=fresh):
            sentence = fresh[int(rng.integers(len(fresh)))]
            return (_replace_span(text, value, _render(value.value.rstrip("\n") + "\n" + sentence)),
                    f"extended {name}: {sentence!r}")
        sites.append(site)
    return sites


_FINDERS = {"int_constant": _int_constant_sites, "drop_tool": _drop_tool_sites,
            "duplicate_tool": _duplicate_tool_sites, "trim_prompt": _trim_prompt_sites,
            "extend_prompt": _extend_prompt_sites}


class RandomStructural:
    """Applies one random structural mutation from :data:`OPERATORS`; never calls the LLM.

    Args:
        operators: The catalogue entries allowed (default: all of :data:`OPERATORS`).
    """

    parents_needed = 1
    directed = False
    needs_workshop = False

    def __init__(self, *, name: str = "random_structural", operators: list[str] | None = None):
        unknown = set(operators or ()) - set(OPERATORS)
        if unknown:
            raise ValueError(f"unknown structural operators {sorted(unknown)}; choose from "
                             f"{', '.join(OPERATORS)}")
        self.name = name
        self.operators = list(operators or OPERATORS)

    def sites(self, files: dict[str, str], rng) -> dict[str, list[tuple[str, Site]]]:
        """Every applicable site per operator, as ``(path, site)``."""
        found: dict[str, list[tuple[str, Site]]] = {}
        for path in sorted(files):
            if not path.endswith(".py"):
                continue
            try:
                tree = parse(files[path])
            except SyntaxError:
                continue
            for op in self.operators:
                found.setdefault(op, []).extend(
                    (path, s) for s in _FINDERS[op](files[path], tree, rng))
        return {op: s for op, s in found.items() if s}

    def propose(self, parents: list[Parent], *, complete: Complete | None = None, rng,
                target: str | None = None, workshop=None) -> Proposal:
        parent = parents[0]
        options = self.sites(parent.files, rng)
        while options:
            op = sorted(options)[int(rng.integers(len(options)))]
            path, site = options[op].pop(int(rng.integers(len(options[op]))))
            if not options[op]:
                del options[op]
            new_text, description = site()
            try:
                parse(new_text)
            except SyntaxError:
                continue
            if new_text == parent.files[path]:
                continue
            return Proposal(files={**parent.files, path: new_text},
                            message=f"{op}: {description}", target=None)
        raise EmitFailure("no structural mutation applies to this agent")
