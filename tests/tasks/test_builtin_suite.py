"""The built-in suite: shape, single-token bugs, visible tests, speed, and the self-check."""

import ast
import difflib
import io
import subprocess
import sys
import tempfile
import tokenize
from pathlib import Path

import pytest

from qdagents.tasks import check_suite, load_builtin, run_hidden_tests, write_files

SUITE = load_builtin()
BUGFIX = [t for t in SUITE if t.kind == "bugfix"]

#: Single-token changes the offline model searches over, as (buggy tokens, fixed tokens).
COMPARISONS = ["<", "<=", ">", ">=", "==", "!="]
PAIRS = {(a, b) for a in COMPARISONS for b in COMPARISONS if a != b} | {
    ("+", "-"), ("-", "+"), ("*", "/"), ("/", "*"), ("and", "or"), ("or", "and"),
    ("0", "1"), ("1", "0"), ("min", "max"), ("max", "min"), ("True", "False"),
    ("False", "True"), ("-1", "0"), ("0", "-1")}


def module_of(task):
    (name,) = task.reference
    return name


def tokens(source: str) -> list[str]:
    """Token strings, with ``- 1`` in an index folded into ``-1`` like the model sees it."""
    kinds = (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT)
    found = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
             if t.type not in kinds]
    folded = []
    for token in found:
        if folded[-2:] == ["[", "-"] and token == "1":
            folded[-1] = "-1"
        else:
            folded.append(token)
    return folded


def bug_kind(buggy: str, fixed: str) -> str | None:
    """Describes the one small change from ``buggy`` to ``fixed``, or None if it is not one."""
    a, b = tokens(buggy), tokens(fixed)
    ops = [op for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
           if op[0] != "equal"]
    if len(ops) != 1:
        return None
    tag, i1, i2, j1, j2 = ops[0]
    removed, added = a[i1:i2], b[j1:j2]
    if tag == "replace" and (tuple(removed + added) in PAIRS):
        return f"{removed[0]} -> {added[0]}"
    if tag == "insert" and added in (["+", "1"], ["-", "1"]):
        return f"add {' '.join(added)}"
    if tag == "delete" and removed in (["+", "1"], ["-", "1"], ["not"]):
        return f"remove {' '.join(removed)}"
    return None


def test_suite_shape():
    assert SUITE.name == "builtin" and len(SUITE) >= 16
    kinds = [t.kind for t in SUITE]
    assert kinds.count("bugfix") >= 12 and kinds.count("implement") >= 3
    assert "implement" in kinds[:6]  # a cheap head(n) stage already mixes kinds
    modules = [module_of(t) for t in SUITE]
    assert len(set(modules)) == len(modules)
    for task in SUITE:
        assert set(task.files) == {module_of(task), "test_visible.py"}
        assert task.problem.startswith("# ")
        assert not set(task.hidden_tests) & set(task.files)
        assert 15 <= len(task.reference[module_of(task)].splitlines()) <= 40


@pytest.mark.parametrize("task", BUGFIX, ids=lambda t: t.id)
def test_bug_is_one_small_mutation(task):
    name = module_of(task)
    assert bug_kind(task.files[name], task.reference[name]) is not None


def test_bugs_vary_in_kind():
    kinds = {bug_kind(t.files[module_of(t)], t.reference[module_of(t)]).split()[0] for t in BUGFIX}
    assert len(kinds) >= 8, kinds


@pytest.mark.parametrize("task", [t for t in SUITE if t.kind == "implement"], ids=lambda t: t.id)
def test_implement_tasks_are_stubs(task):
    assert "raise NotImplementedError" in task.files[module_of(task)]


def run_visible(files: dict[str, str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as folder:
        write_files(files, Path(folder))
        return subprocess.run([sys.executable, "-B", "test_visible.py"], cwd=folder,
                              capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("task", SUITE.tasks, ids=lambda t: t.id)
def test_visible_test_fails_on_the_bug_and_passes_on_the_reference(task):
    buggy = run_visible(task.files)
    assert buggy.returncode != 0
    names = [node.name for node in ast.walk(ast.parse(task.files[module_of(task)]))
             if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert any(f"{name}(" in buggy.stderr for name in names)  # points at the module's code
    assert run_visible({**task.files, **task.reference}).returncode == 0


TIME_HIDDEN_TESTS = """
import os, sys, time, unittest
worst = 0.0
for root in sorted(os.listdir(".")):
    root = os.path.abspath(root)
    sys.path.insert(0, root)
    start = time.perf_counter()
    suite = unittest.TestLoader().discover(root, "test_*_hidden.py")
    assert unittest.TextTestRunner(stream=open(os.devnull, "w")).run(suite).wasSuccessful()
    worst = max(worst, time.perf_counter() - start)
print(worst)
"""


def test_hidden_tests_are_fast():
    with tempfile.TemporaryDirectory() as folder:
        for task in SUITE:
            write_files({**task.files, **task.reference, **task.hidden_tests},
                        Path(folder) / task.id)
        done = subprocess.run([sys.executable, "-B", "-c", TIME_HIDDEN_TESTS], cwd=folder,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 0.3


#: Wrong "fixes" that satisfy the visible test but not the hidden tests: (task, bug, decoy).
DECOYS = [
    ("inventory", "stock < reorder_level", "stock >= reorder_level"),
    ("inventory", "if not needs_reorder", "if needs_reorder"),
    ("calendar_math", "year % 4 == 0 and (", "year % 4 == 0 or ("),
    ("bank_ledger", "amount < self.balance", "amount == self.balance"),
    ("seat_booking", 'letter == "F"', 'letter != "F"'),
    ("playlist", "    return len(durations)\n", "    return len(durations) - 1\n"),
]


@pytest.mark.parametrize("task_id,bug,decoy", DECOYS, ids=lambda v: str(v)[:20])
def test_visible_only_fixes_fail_hidden_tests(task_id, bug, decoy, sandbox, limits, tmp_path):
    task = SUITE[task_id]
    name = module_of(task)
    assert task.files[name].count(bug) == 1
    files = {**task.files, name: task.files[name].replace(bug, decoy)}
    assert run_visible(files).returncode == 0
    write_files(files, tmp_path)
    outcome = run_hidden_tests(task, tmp_path, sandbox=sandbox, limits=limits)
    assert not outcome.passed and 0 < outcome.tests_failed < outcome.tests_run


def test_self_check_passes(sandbox, limits):
    results = check_suite(SUITE, sandbox=sandbox, limits=limits, workers=4)
    assert [r.task_id for r in results] == SUITE.ids
    assert [(r.task_id, r.problems) for r in results if not r.ok] == []
    for result in results:
        assert result.reference.tests_run >= 4
        assert result.untouched.tests_failed >= 1
