"""Runs a task's hidden tests against a finished workspace, in a sandbox, on a channel the
solution cannot forge.

The workspace is copied, cleaned of everything that could change how the tests are found or run
(``conftest.py``, ``sitecustomize.py``, ``usercustomize.py``, ``*.pth``, ``__pycache__``,
symlinks, and anything that shadows a hidden test module), and the hidden tests are written from
the :class:`Task`, never from the workspace. The runner (``_runner.py``, stdlib only) is copied
into a folder of its own, so the sandbox sees the runner and nothing else of this package. The
verdict is read only from a result file that carries a nonce the solution never sees; stdout and
exit codes decide nothing.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qdagents.sandbox import Limits, Mount, Sandbox
from qdagents.tasks._task import Task, check_relative, write_files

__all__ = ["TestOutcome", "run_hidden_tests", "copy_clean"]

RUNNER = Path(__file__).with_name("_runner.py")

#: Files that change what a test run does merely by existing; removed wherever they are.
BLOCKED_NAMES = frozenset({"conftest.py", "sitecustomize.py", "usercustomize.py", "__pycache__"})

RESULT_CAP = 4_000_000  # bytes; a result larger than this is not the runner's
REASON_CAP = 400


@dataclass(frozen=True)
class TestOutcome:
    """The verdict of one hidden-test run.

    ``passed`` needs at least one test and no failures. ``reason`` says why a run did not pass
    (None when it passed); ``log`` holds the failing tests' tracebacks for the run database.
    """

    __test__ = False  # not a pytest test class

    passed: bool
    tests_run: int
    tests_failed: int
    reason: str | None
    log: str = ""


def run_hidden_tests(task: Task, workspace: Path, *, sandbox: Sandbox, limits: Limits,
                     test_seconds: float = 10.0) -> TestOutcome:
    """Runs ``task``'s hidden tests on a clean copy of ``workspace`` inside ``sandbox``.

    Args:
        task: Supplies the hidden tests (the workspace's own copies, if any, are discarded).
        workspace: The agent's finished workspace; it is only read.
        sandbox: Any :class:`~qdagents.sandbox.Sandbox` backend.
        limits: Limits for the whole run; the runner keeps a margin to report on time.
        test_seconds: Per-test timeout, so one hanging test fails alone.
    """
    with tempfile.TemporaryDirectory(prefix="qdagents-hidden-",
                                     ignore_cleanup_errors=True) as scratch:
        scratch = Path(scratch)
        copy, harness, results = scratch / "workspace", scratch / "harness", scratch / "results"
        harness.mkdir()
        results.mkdir()
        try:
            copy_clean(Path(workspace), copy)
            install_hidden_tests(task, copy)
        except (OSError, RecursionError) as error:  # a missing or pathological workspace
            return TestOutcome(False, 0, 0, f"could not prepare the workspace: {error}"[:400])
        shutil.copyfile(RUNNER, harness / "runner.py")
        nonce = secrets.token_hex(16)
        (results / "nonce").write_text(nonce)
        deadline = max(1.0, limits.seconds * 0.9 - 1.0)
        argv = ["python3", "-I", "-S", "/harness/runner.py", "--workspace", "/workspace",
                "--results", "/results", "--test-seconds", f"{min(test_seconds, deadline):g}",
                "--deadline", f"{deadline:g}", *task.test_modules]
        mounts = [Mount(copy, "/workspace", writable=True), Mount(harness, "/harness"),
                  Mount(results, "/results", writable=True)]
        run = sandbox.run(argv, workdir="/workspace", mounts=mounts, env={}, limits=limits)
        result = read_result(results / "result.json", nonce)
    if result is None:
        if run.timed_out:
            reason = f"timed out after {limits.seconds:g}s"
        else:
            why = run.failure or f"exit code {run.exit_code}"
            tail = " ".join(run.stderr.strip().splitlines()[-2:])[-200:]
            reason = f"the test runner gave no result ({why})" + (f": {tail}" if tail else "")
        return TestOutcome(False, 0, 0, reason, log=run.stderr[-4000:])
    return summarize(result)


def copy_clean(source: Path, target: Path) -> None:
    """Copies regular files and folders only: no symlinks (they could point anywhere on the
    host), no FIFOs or devices (copying one could hang), and nothing in ``BLOCKED_NAMES``."""
    target.mkdir(parents=True, exist_ok=True)
    with os.scandir(source) as entries:
        for entry in entries:
            if entry.name in BLOCKED_NAMES or entry.name.endswith(".pth") or entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                copy_clean(Path(entry.path), target / entry.name)
            elif entry.is_file(follow_symlinks=False):
                shutil.copyfile(entry.path, target / entry.name, follow_symlinks=False)


def install_hidden_tests(task: Task, workspace: Path) -> None:
    """Removes whatever could shadow a hidden file, then writes the hidden files."""
    for path in task.hidden_tests:
        check_relative(path)
        folder, name = workspace, path.split("/")
        for part in name[:-1]:  # a file where a folder should be is removed
            folder = folder / part
            if folder.exists() and not folder.is_dir():
                folder.unlink()
        stem = name[-1][:-3] if name[-1].endswith(".py") else name[-1]
        if folder.is_dir():
            for entry in folder.iterdir():  # a package, extension or .pyc wins over a .py
                if entry.name in (name[-1], stem) or entry.name.startswith(stem + "."):
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    write_files(task.hidden_tests, workspace)


def read_result(path: Path, nonce: str) -> dict | None:
    """The runner's result, or None when it is missing, malformed or lacks the nonce."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        data = file.read(RESULT_CAP + 1)
    try:
        result = json.loads(data)
        tests = result["tests"]
        valid = (isinstance(result.get("nonce"), str)
                 and hmac.compare_digest(result["nonce"], nonce)
                 and isinstance(tests, list) and all(isinstance(t, dict) for t in tests))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return result if valid and len(data) <= RESULT_CAP else None


def summarize(result: dict) -> TestOutcome:
    """Counts tests and writes one readable reason naming the first failures."""
    tests = result["tests"]
    run = sum(int(t.get("count", 1)) for t in tests)
    failed_tests = [t for t in tests if not t.get("ok")]
    failed = sum(int(t.get("count", 1)) for t in failed_tests)
    if run == 0:
        return TestOutcome(False, 0, 0, "no hidden tests ran")
    if not failed:
        return TestOutcome(True, run, 0, None)
    if len(failed_tests) == 1 and failed_tests[0].get("problem") and failed == run:
        reason = failed_tests[0].get("error", "")  # no test ran: a syntax error, a hang, ...
    else:
        shown = "; ".join(f"{t.get('name')}: {t.get('error')}" for t in failed_tests[:3])
        reason = f"{failed} of {run} hidden tests failed: {shown}"
    if len(reason) > REASON_CAP:
        reason = reason[:REASON_CAP - 3] + "..."
    log = "\n\n".join(f"== {t.get('name')}\n{t.get('trace') or t.get('error')}"
                      for t in failed_tests)
    return TestOutcome(False, run, failed, reason, log=log[-20_000:])
