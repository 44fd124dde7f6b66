"""Exercism and HumanEval loaders, load_suite, and the self-check on samples of both."""

import gzip
import json
import shutil

import pytest
from tasks_helpers import EXERCISM, HUMANEVAL

from qdagents.tasks import check_suite, load_exercism, load_humaneval, load_suite

needs_exercism = pytest.mark.skipif(not EXERCISM.is_dir(), reason="no exercism data")
needs_humaneval = pytest.mark.skipif(not HUMANEVAL.is_file(), reason="no HumanEval data")

EXERCISM_SAMPLE = ["acronym", "bank-account", "bob", "circular-buffer", "clock", "error-handling",
                   "isbn-verifier", "luhn", "matrix", "meetup", "robot-simulator",
                   "roman-numerals", "say", "two-fer", "yacht"]


@needs_exercism
def test_exercism_layout():
    suite = load_exercism(EXERCISM)
    assert suite.name == "exercism" and len(suite) > 100
    task = suite["two-fer"]
    assert task.kind == "implement"
    assert set(task.files) == {"two_fer.py"} and set(task.hidden_tests) == {"two_fer_test.py"}
    assert task.test_modules == ["two_fer_test.py"]
    assert "One for you, one for me." in task.problem and "`two_fer.py`" in task.problem
    example = (EXERCISM / "two-fer" / ".meta" / "example.py").read_text()
    assert task.reference == {"two_fer.py": example}


@needs_exercism
def test_exercism_never_exposes_meta():
    for task in load_exercism(EXERCISM):
        shown = "\n".join([task.problem, *task.files.values(), *task.hidden_tests.values()])
        for solution in task.reference.values():
            assert solution not in shown, task.id


@needs_exercism
def test_exercism_helpers_are_shown_and_restored():
    task = load_exercism(EXERCISM)["error-handling"]
    assert "test_utils.py" in task.files and "test_utils.py" in task.hidden_tests


@needs_exercism
def test_exercism_skips_with_reasons(tmp_path):
    for slug in ("two-fer", "ledger"):
        shutil.copytree(EXERCISM / slug, tmp_path / slug)
    pytest_style = tmp_path / "uses-pytest"
    shutil.copytree(EXERCISM / "two-fer", pytest_style)
    (pytest_style / ".meta" / "config.json").unlink()
    (pytest_style / "uses_pytest.py").write_text("def two_fer(name='you'):\n    pass\n")
    (pytest_style / "uses_pytest_test.py").write_text("import pytest\n\ndef test_x():\n    pass\n")
    clash = tmp_path / "random"
    shutil.copytree(EXERCISM / "two-fer", clash)
    (clash / ".meta" / "config.json").unlink()
    (clash / "random.py").write_text("")
    (clash / "random_test.py").write_text("")
    suite = load_exercism(tmp_path)
    assert suite.ids == ["two-fer"]
    assert "refactoring" in suite.skipped["ledger"]
    assert "pytest" in suite.skipped["uses-pytest"]
    assert "stdlib" in suite.skipped["random"]


@needs_exercism
def test_exercism_sample_passes_self_check(sandbox, limits):
    suite = load_suite({"kind": "exercism", "path": str(EXERCISM), "include": EXERCISM_SAMPLE})
    assert suite.ids == EXERCISM_SAMPLE
    results = check_suite(suite, sandbox=sandbox, limits=limits, workers=4)
    assert [(r.task_id, r.problems) for r in results if not r.ok] == []


@needs_humaneval
def test_humaneval_layout():
    suite = load_humaneval(HUMANEVAL)
    assert suite.name == "humaneval" and len(suite) == 164
    task = suite["HumanEval-0"]
    assert task.kind == "implement" and set(task.files) == {"solution.py"}
    assert task.files["solution.py"].rstrip().endswith("raise NotImplementedError")
    compile(task.files["solution.py"], "solution.py", "exec")
    assert "check(_solution_module.has_close_elements)" in task.hidden_tests["test_solution.py"]
    assert "has_close_elements" in task.problem


@needs_humaneval
def test_humaneval_plain_jsonl_and_ids(tmp_path):
    rows = [json.loads(line) for line in gzip.open(HUMANEVAL, "rt")][:3]
    plain = tmp_path / "problems.jsonl"
    plain.write_text("".join(json.dumps(row) + "\n" for row in rows))
    suite = load_suite(f"humaneval:{plain}")
    assert suite.ids == ["HumanEval-0", "HumanEval-1", "HumanEval-2"]
    assert load_suite({"kind": "humaneval", "path": str(plain),
                       "include": ["HumanEval/2", "HumanEval-0"]}).ids == ["HumanEval-0",
                                                                          "HumanEval-2"]


@needs_humaneval
def test_humaneval_sample_passes_self_check(sandbox, limits):
    suite = load_humaneval(HUMANEVAL)
    sample = suite.subset([t.id for t in suite.tasks[::8]] + ["HumanEval-32", "HumanEval-121"])
    assert len(sample) >= 20
    results = check_suite(sample, sandbox=sandbox, limits=limits, workers=4)
    assert [(r.task_id, r.problems) for r in results if not r.ok] == []


def test_load_suite_specs():
    assert load_suite("builtin").name == "builtin"
    assert len(load_suite({"kind": "builtin", "limit": 3})) == 3
    assert load_suite({"include": ["playlist", "inventory"]}).ids == ["inventory", "playlist"]
    with pytest.raises(ValueError):
        load_suite("nosuchkind:/x")
    with pytest.raises(ValueError):
        load_suite("exercism")
    with pytest.raises(KeyError):
        load_suite({"kind": "builtin", "include": ["no-such-task"]})
