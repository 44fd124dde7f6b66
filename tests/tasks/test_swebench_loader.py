"""SWE-bench instance files, repository-task pieces that need no docker, and stages naming tasks."""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
from pathlib import Path

import pytest
import swebench_fixture as fixture

from qdagents.config import ConfigError, validate
from qdagents.evaluation import Stage
from qdagents.tasks import (RepositoryTask, TaskSetting, TaskSuite, load_suite, load_swebench,
                            parse_pytest_log, read_task_ids)
from qdagents.tasks._repository import (apply_patch, copy_for_verdict, patched_paths,
                                        write_patched)
from qdagents.tasks._swebench import harness_specs, image_name


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return tmp_path_factory.mktemp("swebench") / "repo"


@pytest.fixture(scope="module")
def row(repo):
    return fixture.make_instance(repo)


@pytest.fixture(scope="module")
def base(row, repo):
    """The repository at its base commit, as the image's /testbed holds it."""
    return repo


def test_published_formats_load_alike(row, tmp_path):
    listed = {**row, "FAIL_TO_PASS": json.loads(row["FAIL_TO_PASS"])}   # lists or JSON text
    other = {**row, "instance_id": "acme__ratelimit-8"}
    files = {"a.jsonl": "".join(json.dumps(r) + "\n" for r in (row, other)).encode(),
             "b.json": json.dumps([listed, other]).encode(),
             "c.jsonl.gz": gzip.compress("".join(json.dumps(r) + "\n"
                                                 for r in (row, other)).encode())}
    suites = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        suites.append(load_swebench(tmp_path / name, arch="x86_64"))
    assert [s.ids for s in suites] == [[fixture.INSTANCE_ID, "acme__ratelimit-8"]] * 3
    assert suites[0].tasks == suites[1].tasks == suites[2].tasks
    task = suites[0][fixture.INSTANCE_ID]
    assert isinstance(task, RepositoryTask) and task.kind == "repository"
    assert task.fail_to_pass == tuple(fixture.FAIL_TO_PASS)
    assert task.pass_to_pass == tuple(fixture.PASS_TO_PASS)
    assert task.problem == fixture.PROBLEM and task.base_commit == row["base_commit"]
    assert task.reference == row["patch"] and task.test_patch == row["test_patch"]
    assert task.setting == TaskSetting(
        image="swebench/sweb.eval.x86_64.acme_1776_ratelimit-7:latest", workdir="/testbed",
        env={"PATH": "/opt/miniconda3/envs/testbed/bin:/opt/miniconda3/bin:/usr/local/bin:"
                     "/usr/bin:/bin"}, python="/usr/bin/python3")
    assert suites[0].name == "a"


def test_load_suite_spec(row, tmp_path):
    path = fixture.write_instances(tmp_path / "lite.jsonl",
                                   [row, {**row, "instance_id": "acme__ratelimit-8"}])
    suite = load_suite({"kind": "swebench", "path": str(path), "include": ["acme__ratelimit-8"],
                        "image": "sweb.eval.{arch}.{instance_id}:v1", "arch": "arm64",
                        "test_command": "python3 -m pytest -rA -x {tests} -q",
                        "log_parser": None, "env": {"PATH": "/bin"}, "agent_python": "python3"})
    [task] = suite.tasks
    assert task.image == "sweb.eval.arm64.acme__ratelimit-8:v1"
    assert task.test_command == ("python3 -m pytest -rA -x tests/test_limiter.py "
                                 "tests/test_window.py -q")
    assert task.setting.env == {"PATH": "/bin"} and task.setting.python == "python3"
    assert load_suite(f"swebench:{path}").ids == [fixture.INSTANCE_ID, "acme__ratelimit-8"]
    with pytest.raises(ValueError, match="a swebench suite needs a path"):
        load_suite({"kind": "swebench"})


def test_default_test_command_and_parser_without_the_swebench_package(row, tmp_path):
    task = load_swebench(fixture.write_instances(tmp_path / "i.jsonl", [row]))[fixture.INSTANCE_ID]
    assert task.test_command == "pytest -rA tests/test_limiter.py tests/test_window.py"
    assert task.log_parser == "pytest" and task.eval_commands == ()
    # files a test patch touches that are not tests (SWE-bench's NON_TEST_EXTS) are not run
    patch = row["test_patch"] + row["test_patch"].replace("tests/test_window.py", "docs/x.md")
    path = fixture.write_instances(tmp_path / "j.jsonl", [{**row, "test_patch": patch}])
    task = load_swebench(path)[row["instance_id"]]
    assert task.test_command == "pytest -rA tests/test_limiter.py tests/test_window.py"


def test_image_names():
    assert image_name("django__django-11099") == \
        "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
    assert image_name("Astropy__astropy-12907", template="sweb.eval.{arch}.{instance_id}:latest",
                      arch="arm64") == "sweb.eval.arm64.astropy__astropy-12907:latest"


@pytest.mark.parametrize("change, message", [
    ({"test_patch": None}, "missing test_patch"),
    ({"FAIL_TO_PASS": "not json"}, "FAIL_TO_PASS is neither a list nor JSON text"),
    ({"PASS_TO_PASS": [1, 2]}, "PASS_TO_PASS must be a list of test names"),
])
def test_malformed_instances_are_named(row, tmp_path, change, message):
    path = fixture.write_instances(tmp_path / "bad.jsonl", [row, {**row, **change}])
    with pytest.raises(ValueError, match=f"bad.jsonl instance 2 .*{message}|{message}"):
        load_swebench(path)


def test_bad_files_and_templates(row, tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="not SWE-bench JSON"):
        load_swebench(tmp_path / "x.json")
    path = fixture.write_instances(tmp_path / "i.jsonl", [row])
    with pytest.raises(ValueError, match="tasks.image: bad template"):
        load_swebench(path, image="sweb.{nope}")
    with pytest.raises(ValueError, match="log_parser=swebench: .*(qdagents\\[swebench\\]|no log "
                                         "parser for acme/ratelimit)"):
        load_swebench(path, log_parser="swebench")
    with pytest.raises(ValueError, match="log_parser must be 'pytest' or 'swebench'"):
        load_swebench(path, log_parser="junit")


def test_parse_pytest_log():
    log = "\n".join([
        "PASSED tests/a.py::test_x",                   # printed early, say by the code itself
        "tests/a.py::test_x FAILED",                   # progress lines are not summary lines
        "ERROR: file or directory not found: nope.py",
        "=========================== short test summary info ============================",
        "PASSED tests/a.py::test_y",
        "FAILED tests/a.py::test_x - AssertionError: assert 1 == 2",
        "SKIPPED [1] tests/a.py:9: no network",
        "XFAIL tests/a.py::test_z - reason",
        "ERROR tests/b.py::test_w - fixture 'db' not found",
    ])
    assert parse_pytest_log(log) == {"tests/a.py::test_x": "FAILED", "tests/a.py::test_y": "PASSED",
                                     "[1]": "SKIPPED", "tests/a.py::test_z": "XFAIL",
                                     "tests/b.py::test_w": "ERROR"}


def test_grade_gives_every_required_test_its_verdict(row, tmp_path):
    """Per-test verdicts reach the run database's failures and an emitter's feedback (names
    only by default: never the test patch's source)."""
    from types import SimpleNamespace

    from qdagents.tasks import task_feedback
    from qdagents.tasks._repository import END_MARKER, START_MARKER

    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(row) + "\n")
    task = dataclasses.replace(load_swebench(path, arch="x86_64")[fixture.INSTANCE_ID],
                               fail_to_pass=("t.py::new",), pass_to_pass=("t.py::old", "t.py::gone"))
    output = f"{START_MARKER}\nFAILED t.py::new - AssertionError\nPASSED t.py::old\n{END_MARKER}\n"
    run = SimpleNamespace(timed_out=False, failure=None, exit_code=1, stderr="")
    outcome = task.grade(output, run)
    assert not outcome.passed and (outcome.tests_run, outcome.tests_failed) == (3, 2)
    assert [(t.name, t.ok, t.kind) for t in outcome.tests] == [
        ("t.py::new", False, "failed"), ("t.py::old", True, ""), ("t.py::gone", False, "missing")]
    failures = [{"name": t.name, "kind": t.kind, "error": t.error} for t in outcome.tests if not t.ok]
    line, = task_feedback([{"task_id": task.id, "passed": False, "failures": failures}])
    assert "2 hidden test(s) failed: t.py::new: failed; t.py::gone: did not run" in line


def test_unknown_repositories_get_the_defaults(row):
    assert harness_specs(row) is None   # without the package, or with it: it has no acme/ratelimit


def test_swebench_package_specs(tmp_path):
    """With ``qdagents[swebench]`` installed, its per-repository knowledge is used (this test
    needs the optional extra; the CI's test extra does not install it, see pyproject.toml)."""
    pytest.importorskip("swebench.harness.constants")
    django = {"instance_id": "django__django-11099", "repo": "django/django", "version": "3.0",
              "base_commit": "abc", "problem_statement": "p", "FAIL_TO_PASS": "[]",
              "PASS_TO_PASS": "[]",
              "test_patch": "diff --git a/tests/auth_tests/test_validators.py "
                            "b/tests/auth_tests/test_validators.py\n--- a/x\n+++ b/x\n"}
    specs = harness_specs(django)
    assert specs["test_cmd"].startswith("./tests/runtests.py")
    assert specs["directives"] == ["auth_tests.test_validators"] and specs["parser"]
    assert "export LANG=en_US.UTF-8" in specs["eval_commands"]
    from swebench.harness.test_spec.test_spec import TestSpec  # (make_test_spec goes online)

    spec = TestSpec(instance_id=django["instance_id"], repo="django/django", version="3.0",
                    repo_script_list=[], eval_script_list=[], env_script_list=[], arch="x86_64",
                    FAIL_TO_PASS=[], PASS_TO_PASS=[], language="py", docker_specs={},
                    namespace="swebench")
    assert image_name(django["instance_id"]) == spec.instance_image_key
    path = tmp_path / "django.jsonl"
    path.write_text(json.dumps(django) + "\n")
    task = load_swebench(path)["django__django-11099"]
    assert task.test_command == specs["test_cmd"] + " auth_tests.test_validators"
    assert task.log_parser == "swebench" and "export LANG=en_US.UTF-8" in task.eval_commands
    log = "test_ascii (auth_tests.test_validators.Tests) ... ok\n" \
          "test_unicode (auth_tests.test_validators.Tests) ... FAIL\n"
    assert task.parse(log) == {"test_ascii (auth_tests.test_validators.Tests)": "PASSED",
                               "test_unicode (auth_tests.test_validators.Tests)": "FAILED"}


# --- patches and the verdict's copy (host side) ----------------------------------------------


def test_apply_patch_reads_only_the_base(row, base, tmp_path):
    assert patched_paths(row["test_patch"]) == ["tests/test_limiter.py", "tests/test_window.py"]
    patched = apply_patch(row["test_patch"], base)
    assert patched == {path: text.encode() for path, text in fixture.TEST_PATCH_FILES.items()}
    assert apply_patch(row["patch"], base) == {
        "ratelimit/window.py": fixture.GOLD_FILES["ratelimit/window.py"].encode()}
    with pytest.raises(ValueError, match="does not apply"):
        apply_patch(row["patch"], tmp_path)         # no such file in this "base"


def test_patch_that_deletes_and_creates(base):
    patch = ("diff --git a/README.md b/README.md\ndeleted file mode 100644\n--- a/README.md\n"
             "+++ /dev/null\n@@ -1,3 +0,0 @@\n-# ratelimit\n-\n-A sliding-window rate limiter.\n"
             "diff --git a/NEWS b/NEWS\nnew file mode 100644\n--- /dev/null\n+++ b/NEWS\n"
             "@@ -0,0 +1 @@\n+fixed\n")
    assert apply_patch(patch, base) == {"README.md": None, "NEWS": b"fixed\n"}


def test_copy_for_verdict(base, tmp_path):
    agent = tmp_path / "agent"
    for path in ["ratelimit", "tests", "deep/er"]:
        (agent / path).mkdir(parents=True)
    (agent / "ratelimit/window.py").write_text("edited")
    (agent / "run.sh").write_text("#!/bin/sh\n")
    (agent / "run.sh").chmod(0o755)
    (agent / "tests/conftest.py").write_text("forged")          # in base: reset
    (agent / "deep/er/conftest.py").write_text("forged")        # not in base: dropped
    (agent / "setup.cfg").write_text("[tool:pytest]\naddopts = -p forge\n")
    (agent / "x.pth").write_text("import forge")
    (agent / "ratelimit/__pycache__").mkdir()
    (agent / "ratelimit/__pycache__/window.cpython-311.pyc").write_bytes(b"\0")
    (agent / "ratelimit/old.pyc").write_bytes(b"\0")
    (agent / ".git").mkdir()
    (agent / ".git/config").write_text("[core]\nfsmonitor = evil\n")
    os.symlink("/etc/passwd", agent / "link")
    os.mkfifo(agent / "pipe")
    target = tmp_path / "verdict"
    copy_for_verdict(agent, target, base)
    found = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
    assert found == ["deep", "deep/er", "link", "ratelimit", "ratelimit/window.py", "run.sh",
                     "tests", "tests/conftest.py"]
    assert (target / "tests/conftest.py").read_text() == fixture.FILES["tests/conftest.py"]
    assert os.readlink(target / "link") == "/etc/passwd"       # kept as a link, never followed
    assert os.access(target / "run.sh", os.X_OK)


def test_write_patched_never_writes_through_links(base, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "test_window.py").write_text("host")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(victim, root / "tests")
    write_patched(root, {"tests/test_window.py": b"new", "gone.txt": None})
    assert (victim / "test_window.py").read_text() == "host"
    assert (root / "tests").is_dir() and not (root / "tests").is_symlink()
    assert (root / "tests/test_window.py").read_text() == "new"


def test_eval_script(row, tmp_path):
    task = load_swebench(fixture.write_instances(tmp_path / "i.jsonl", [row]))[fixture.INSTANCE_ID]
    task = dataclasses.replace(task, eval_commands=("export LANG=en_US.UTF-8",))
    script = task.eval_script().splitlines()
    assert script[0] == "exec >/results/output.log 2>&1"
    assert script.index("export LANG=en_US.UTF-8") < script.index(">>>>> Start Test Output".join(
        ["echo '", "'"])) < script.index(task.test_command)


# --- stages naming tasks ----------------------------------------------------------------------


def fake_suite(ids) -> TaskSuite:
    base = dict(problem="p", repo="r/r", base_commit="c", test_patch="", fail_to_pass=("t",),
                pass_to_pass=(), image="i", test_command="pytest")
    return TaskSuite(name="s", tasks=[RepositoryTask(id=i, **base) for i in ids])


def test_stages_from_files_and_lists(tmp_path, caplog):
    shipped = Path(__file__).resolve().parents[2] / "qdagents/conf/tasks/dgm"
    small = read_task_ids(shipped / "small.json")
    assert len(small) == 10 and small[0] == "django__django-10973"
    suite = fake_suite(small[:3] + ["other"])
    assert Stage(tasks="tasks/dgm/small.json", threshold=0.4).resolved(suite) == \
        Stage(tasks=small[:3], threshold=0.4)                    # shipped with qdagents' conf/
    listing = tmp_path / "ids.txt"
    listing.write_text("# my subset\nother\n\n" + small[1] + "  # a django one\n")
    assert read_task_ids(listing) == ["other", small[1]]
    assert Stage(tasks=str(listing)).resolved(suite).tasks == ["other", small[1]]
    with caplog.at_level(logging.WARNING):
        assert Stage(tasks=["other", "typo"]).resolved(suite).tasks == ["other"]
    assert "typo" in caplog.text
    assert Stage(tasks=["other", "gone"]).resolved(suite, {"gone": "image missing"}).tasks == \
        ["other"]
    with pytest.raises(ValueError, match="stage tasks: none of"):
        Stage(tasks=["typo"]).resolved(suite)
    with pytest.raises(FileNotFoundError, match="stage task file nope.json not found"):
        Stage(tasks="nope.json").resolved(suite)
    assert Stage(tasks=3).resolved(suite) == Stage(tasks=3)


def test_stage_config_is_checked():
    from qdagents import compose

    cfg = compose(["tasks=swebench_dgm", "tasks.path=verified.jsonl"])
    assert cfg["tasks"]["kind"] == "swebench" and cfg["evaluation"]["stages"] is None
    assert [s["tasks"] for s in cfg["tasks"]["stages"]] == [
        "tasks/dgm/small.json", "tasks/dgm/medium.json", "tasks/dgm/big.json"]
    for bad in ([{"tasks": 0}], [{"tasks": [1, 2]}], [{"tasks": ""}], [{"tasks": True}]):
        cfg["evaluation"]["stages"] = bad
        with pytest.raises(ConfigError, match=r"evaluation.stages\[0\].tasks: expected"):
            validate(cfg)
    cfg["evaluation"]["stages"] = [{"tasks": ["a", "b"], "threshold": 0.5}, {"tasks": "f.txt"}]
    validate(cfg)


@pytest.mark.filterwarnings("ignore:sandbox=process isolates nothing")
def test_named_stages_run_in_their_order(tmp_path):
    from qdagents import compose
    from qdagents.components import build_evaluator, build_gateway
    from qdagents.store import RunDatabase

    agent = tmp_path / "idle"
    agent.mkdir()
    (agent / "agent.py").write_text("print('giving up')\n")
    ran = {}
    for threshold in (0.5, 0.0):
        cfg = compose(["sandbox=process", "evaluation.stages=[{tasks:[bus_schedule,inventory],"
                       f"threshold:{threshold}}},{{tasks:[playlist]}}]"])
        gateway = build_gateway(cfg, db=RunDatabase(tmp_path / f"{threshold}.sqlite"))
        evaluation = build_evaluator(cfg, gateway=gateway).evaluate("idle", agent)
        ran[threshold] = ([t.task_id for t in evaluation.tasks], evaluation.stage)
    assert ran == {0.5: (["bus_schedule", "inventory"], 1),
                   0.0: (["bus_schedule", "inventory", "playlist"], 2)}
