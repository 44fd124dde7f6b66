"""SWE-bench instances end to end on docker, with an instance and image built here (offline).

The instance (``swebench_fixture``) is a small repository with a one-token bug; its image is built
FROM the sandbox image with the repository at /testbed. Checked: the self-check (gold patch
solves, no patch does not), unavailable tasks, the verdict's defences (each attack is shown to
work when its defence is switched off, and to fail with it), `qdagents tasks check`,
`qdagents evaluate` with the seed agent and the offline model, and a short `qdagents run`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import swebench_fixture as fixture
from sandbox_support import require_backend

from qdagents.evaluation import Evaluator
from qdagents.sandbox import DEFAULT_IMAGE, Limits, Mount, make_sandbox
from qdagents.tasks import TaskSuite, check_suite, load_swebench
from qdagents.tasks import _repository

pytestmark = pytest.mark.docker
LIMITS = Limits(seconds=60)
FORGE_HOOK = '''
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
'''


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    require_backend("docker")
    sandbox = make_sandbox("docker")
    image = fixture.build_image(sandbox.client, DEFAULT_IMAGE)
    root = tmp_path_factory.mktemp("swebench")
    row = fixture.make_instance(root / "repo")
    path = fixture.write_instances(root / "instances.jsonl", [row])
    suite = load_swebench(path)
    return SimpleNamespace(path=path, row=row, image=image, suite=suite,
                           task=suite[fixture.INSTANCE_ID], sandbox=sandbox)


def workspace(instance, tmp_path, *, fixed: bool, files: dict[str, str] | None = None) -> Path:
    """The repository as an agent might leave it: fixed or not, with ``files`` written over."""
    root = tmp_path / "workspace"
    root.mkdir()
    instance.task.prepare(root, sandbox=instance.sandbox, solved=fixed)
    fixture.write(root, files or {})
    return root


def judge(instance, root: Path):
    return instance.task.judge(root, sandbox=instance.sandbox, limits=LIMITS)


def test_image_and_workspace(instance, tmp_path):
    assert instance.task.image == instance.image
    assert instance.task.unavailable(instance.sandbox) is None
    root = workspace(instance, tmp_path, fixed=False)
    assert (root / "ratelimit" / "window.py").read_text() == fixture.FILES["ratelimit/window.py"]
    assert (root / ".git" / "HEAD").is_file()        # the agent may use git on its repository
    assert "test_event_exactly_span_old_has_left" not in (root / "tests/test_window.py").read_text()


def test_self_check_gold_solves_and_no_patch_does_not(instance):
    [result] = check_suite(instance.suite, sandbox=instance.sandbox, limits=LIMITS)
    assert result.ok, result.problems
    assert result.reference.passed and result.reference.tests_run == 6
    assert not result.untouched.passed and result.untouched.tests_failed == 2
    assert "FAIL_TO_PASS tests/test_window.py::test_event_exactly_span_old_has_left: failed" \
        in result.untouched.reason
    # per-test outcomes are in the log, like other tasks' hidden tests
    assert "PASSED   PASS_TO_PASS  tests/test_limiter.py::test_allows_up_to_the_limit" \
        in result.untouched.log


def test_missing_image_makes_the_task_unavailable(instance, tmp_path):
    path = fixture.write_instances(tmp_path / "other.jsonl", [
        instance.row, {**instance.row, "instance_id": "acme__ratelimit-999"}])
    suite = load_swebench(path)
    missing = suite["acme__ratelimit-999"]
    why = missing.unavailable(instance.sandbox)
    assert why == ("image swebench/sweb.eval.x86_64.acme_1776_ratelimit-999:latest is missing; get "
                   "it with: docker pull swebench/sweb.eval.x86_64.acme_1776_ratelimit-999:latest")
    evaluator = Evaluator(suite=suite, sandbox=instance.sandbox, gateway=None, descriptors=[])
    assert evaluator.suite.ids == [fixture.INSTANCE_ID]          # left out, not scored 0
    assert evaluator.unavailable == {"acme__ratelimit-999": why}
    with pytest.raises(RuntimeError, match="no task of suite other can run here"):
        Evaluator(suite=suite.subset(["acme__ratelimit-999"]), sandbox=instance.sandbox,
                  gateway=None, descriptors=[])
    with pytest.raises(RuntimeError, match="not found"):
        instance.sandbox.with_image("qdagents-no-such-image:latest")   # never pulled


def test_needs_the_docker_sandbox(instance):
    why = instance.task.unavailable(make_sandbox("process", warn=False))
    assert "use sandbox=docker, not 'process'" in why


# --- the verdict's defences: each attack works without its defence and fails with it ---------


def stale_bytecode(root: Path, instance) -> None:
    """The fixed module compiled, by the image's own Python, to a bytecode file Python trusts
    without checking the source (PEP 552 unchecked hash)."""
    (root / "fixed_window.py").write_text(fixture.GOLD_FILES["ratelimit/window.py"])
    compile_it = ("import py_compile; py_compile.compile('fixed_window.py', "
                  "cfile='ratelimit/__pycache__/window.cpython-311.pyc', "
                  "invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)")
    done = instance.sandbox.with_image(instance.image).run(
        ["python3", "-c", compile_it], workdir="/testbed",
        mounts=[Mount(root, "/testbed", writable=True)], env={}, limits=LIMITS)
    assert done.exit_code == 0, done
    (root / "fixed_window.py").unlink()


ATTACKS = {
    "a conftest.py forging every report": (
        lambda root, _: fixture.write(root, {"conftest.py": FORGE_HOOK}), "is_runner_hook"),
    "the repository's conftest.py forging reports": (
        lambda root, _: fixture.write(root, {"tests/conftest.py": fixture.FILES["tests/conftest.py"]
                                          + FORGE_HOOK}), "is_runner_hook"),
    "pytest.ini loading a forging plugin": (
        lambda root, _: fixture.write(root, {"pytest.ini": "[pytest]\npythonpath = .\n"
                                                        "addopts = -p forge_plugin\n",
                                          "forge_plugin.py": FORGE_HOOK}), "is_runner_hook"),
    "stale bytecode of a fixed module": (stale_bytecode, "is_cache"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_fails(instance, tmp_path, monkeypatch, attack):
    plant, defence = ATTACKS[attack]
    root = workspace(instance, tmp_path, fixed=False)
    plant(root, instance)
    assert (root / "ratelimit/window.py").read_text() == fixture.FILES["ratelimit/window.py"]
    outcome = judge(instance, root)
    assert not outcome.passed and outcome.tests_failed == 2, outcome
    # the same attack with its defence switched off forges the verdict: the defence is what
    # stops it
    if defence == "is_cache":
        monkeypatch.setattr(_repository, "is_cache", lambda name: False)
    else:
        monkeypatch.setattr(_repository, "is_runner_hook", lambda name: False)
        monkeypatch.setattr(_repository, "runner_hooks", lambda base: [])
    assert judge(instance, root).passed


def test_edited_tests_are_replaced_by_the_test_patch(instance, tmp_path):
    trivial = "def test_event_exactly_span_old_has_left():\n    pass\n\n" \
              "def test_allows_again_once_the_oldest_request_has_left():\n    pass\n"
    root = workspace(instance, tmp_path, fixed=False, files={
        "tests/test_window.py": trivial, "tests/test_limiter.py": trivial})
    assert not judge(instance, root).passed


def test_a_missing_test_fails(instance, tmp_path):
    root = workspace(instance, tmp_path, fixed=True)
    assert judge(instance, root).passed
    # a listed test the run does not report (deleted, renamed, never collected) is a failure
    task = dataclasses.replace(instance.task, pass_to_pass=instance.task.pass_to_pass + (
        "tests/test_window.py::test_not_there",))
    outcome = task.judge(root, sandbox=instance.sandbox, limits=LIMITS)
    assert not outcome.passed and outcome.tests_failed == 1
    assert "PASS_TO_PASS tests/test_window.py::test_not_there: missing" in outcome.reason


def test_symlinks_never_redirect_host_writes(instance, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "test_window.py").write_text("host file")
    (victim / "conftest.py").write_text("host file")
    (victim / "target.txt").write_text("host file")
    root = workspace(instance, tmp_path, fixed=True)
    os.rename(root / "tests", tmp_path / "old-tests")
    os.symlink(victim, root / "tests")                       # tests/ -> a host folder
    os.symlink(victim / "target.txt", root / "ratelimit" / "notes.txt")
    outcome = judge(instance, root)
    assert outcome.passed, outcome                            # the tests came back as real files
    assert {p.name: p.read_text() for p in victim.iterdir()} == {
        "test_window.py": "host file", "conftest.py": "host file", "target.txt": "host file"}


@pytest.mark.xfail(strict=True, reason="known limitation (docs/tasks.md): the code under test "
                   "runs in the repository's test runner's process and can rewrite its reports")
def test_in_process_forgery_is_not_prevented(instance, tmp_path):
    root = workspace(instance, tmp_path, fixed=False)
    init = root / "ratelimit" / "__init__.py"
    init.write_text(init.read_text() + "\nimport _pytest.reports as _r\n"
                    "_r.TestReport.outcome = property(lambda self: 'passed', lambda s, v: None)\n")
    assert not judge(instance, root).passed


# --- the command line -------------------------------------------------------------------------


def cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qdagents.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_tasks_check_cli(instance, tmp_path):
    result = cli("tasks", "check", f"swebench:{instance.path}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "images: 1 of 1 present" in result.stdout
    assert "1/1 tasks pass the self-check (gold patch solves, no patch does not)" in result.stdout
    path = fixture.write_instances(tmp_path / "missing.jsonl", [
        {**instance.row, "instance_id": "acme__ratelimit-999"}])
    result = cli("tasks", "check", f"swebench:{path}")
    assert result.returncode == 1
    assert "acme__ratelimit-999: unavailable: image swebench/sweb.eval.x86_64." in result.stdout
    assert "images: 0 of 1 present" in result.stdout


@pytest.mark.slow
def test_evaluate_seed_agent_solves_it(instance):
    result = cli("evaluate", str(Path("qdagents/seed_agent").resolve()), "tasks=swebench",
                 f"tasks.path={instance.path}", "sandbox=docker", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    evaluation = json.loads(result.stdout)
    [task] = evaluation["tasks"]
    assert task["passed"] and evaluation["fitness"] == 1.0, task
    assert task["exit_code"] == 0 and task["tokens"] > 0 and task["lines_changed"] == 2
    assert evaluation["unavailable"] == {}


def variant(*names: str) -> str:
    """The seed agent with the offline mutator's named scaffold changes."""
    import random

    from qdagents.emitters import apply_edits, parse_edits
    from qdagents.offline._catalogue import CATALOGUE
    from qdagents.offline._mutator import render

    code = (Path(__file__).resolve().parents[2] / "qdagents/seed_agent/agent.py").read_text()
    by_name = {m.name: m for m in CATALOGUE}
    for i, name in enumerate(names):
        edits = by_name[name].make(code, random.Random(i), None)
        code = apply_edits({"agent.py": code}, parse_edits(render("agent.py", edits)))["agent.py"]
    return code


@pytest.mark.slow
def test_agents_that_run_the_tests_solve_it_too(instance, tmp_path):
    """A repository's pytest suite, which ``python3 -m unittest`` does not find, is what
    test-running scaffolds (and the offline model driving them) run."""
    from qdagents import compose
    from qdagents.components import build_evaluator, build_gateway
    from qdagents.store import RunDatabase

    cfg = compose(["tasks=swebench", f"tasks.path={instance.path}", "sandbox=docker"])
    evaluator = build_evaluator(cfg, gateway=build_gateway(cfg, db=RunDatabase(
        tmp_path / "e.sqlite")))
    for names in (["add run_tests tool", "add str_replace tool"], ["ask for a test loop"]):
        agent = tmp_path / "-".join(names).replace(" ", "_")
        agent.mkdir()
        (agent / "agent.py").write_text(variant(*names))
        evaluation = evaluator.evaluate(agent.name, agent)
        [task] = evaluation.tasks
        assert task.passed, (names, task.reason, task.log)
        assert "DONE: the tests pass." in task.log    # it ran them (with pytest) after its edit


@pytest.mark.slow
def test_short_run_completes(instance, tmp_path):
    run_dir = tmp_path / "run"
    result = cli("run", "tasks=swebench", f"tasks.path={instance.path}", "sandbox=docker",
                 "budget.evaluations=3", "workers=1", "progress=quiet", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(cli("summary", str(run_dir), "--json").stdout)
    assert summary["evaluated"] == 3 and summary["failed"] == 0
    assert summary["best"]["fitness"] == 1.0


def history(repo: Path) -> str:
    """Everything ``git`` in the repository can show of other commits than HEAD."""
    def git(*args):
        return subprocess.run(["git", "-c", "safe.directory=*", *args], cwd=repo, text=True,
                              capture_output=True).stdout
    return git("log", "--all", "--reflog", "--format=%H %s") + git("tag") + git("branch", "-a") + \
        git("fsck", "--unreachable", "--no-reflogs")


def test_future_history_never_reaches_the_agent(instance, tmp_path):
    """The image's repository holds the upstream fix (a branch, a tag, the reflog: SWE-bench
    issue 465); the agent's workspace has the history up to the base commit only."""
    raw = tmp_path / "raw"
    instance.sandbox.copy_out(instance.image, "/testbed", raw)
    assert fixture.FUTURE_MESSAGE in history(raw)          # the leak exists in the image
    root = workspace(instance, tmp_path, fixed=False)
    seen = history(root)
    assert fixture.FUTURE_MESSAGE not in seen and "upstream" not in seen and "v0.2" not in seen
    assert seen.split()[:1] == [instance.row["base_commit"]] and len(seen.splitlines()) == 2
    assert not judge(instance, root).passed                 # still the base, still the bug
    (tmp_path / "fixed").mkdir()
    fixed = workspace(instance, tmp_path / "fixed", fixed=True)
    assert judge(instance, fixed).passed


def test_an_image_at_another_commit_is_refused(instance, tmp_path):
    task = dataclasses.replace(instance.task, base_commit="0" * 40)
    with pytest.raises(_repository.HistoryError, match="not at the instance's base commit"):
        task.prepare(tmp_path, sandbox=instance.sandbox)
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "agent.py").write_text("print('looking around')\n")
    evaluator = Evaluator(suite=TaskSuite(name="moved", tasks=[task]), sandbox=instance.sandbox,
                          gateway=None, descriptors=[])
    result = evaluator.evaluate("agent", agent)
    assert result.fitness == 0.0     # a recorded failure of the task's image, not a crash
    assert result.tasks[0].reason.startswith("could not prepare the task: the image's repository")


def test_copy_out_keeps_what_stays_inside(instance, tmp_path):
    context = tmp_path / "context"
    (context / "testbed" / "pkg").mkdir(parents=True)
    (context / "testbed" / "pkg" / "mod.py").write_text("x = 1\n")
    (context / "testbed" / "run.sh").write_text("#!/bin/sh\n")
    (context / "testbed" / "run.sh").chmod(0o755)
    os.symlink("pkg/mod.py", context / "testbed" / "alias.py")
    os.symlink("/etc/passwd", context / "testbed" / "outside")
    (context / "Dockerfile").write_text(f"FROM {DEFAULT_IMAGE}\nCOPY testbed/ /testbed/\n"
                                        'CMD ["sh", "-c", "touch /tmp/ran"]\n')
    client = instance.sandbox.client
    client.images.build(path=str(context), tag="qdagents-test-copy-out:latest", rm=True,
                        pull=False, network_mode="none")
    try:
        instance.sandbox.copy_out("qdagents-test-copy-out:latest", "/testbed", tmp_path / "out")
    finally:
        client.images.remove("qdagents-test-copy-out:latest", force=True)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["alias.py", "pkg", "run.sh"]
    assert os.readlink(out / "alias.py") == "pkg/mod.py" and os.access(out / "run.sh", os.X_OK)
    with pytest.raises(FileExistsError):
        instance.sandbox.copy_out(instance.image, "/testbed", out)
