"""Runs a task's hidden tests against a finished workspace: a judge that never runs solution code
decides, a solution server in a sandbox of its own answers.

Two sandboxed commands run side by side, sharing one folder that holds a unix socket:

- the **solution server** (:mod:`.verdict.server`) sees a clean copy of the workspace (no hidden
  tests, no references), the verdict runtime and the socket's folder. It imports the workspace's
  modules and answers requests about them;
- the **judge** (:mod:`.verdict.judge`) sees the hidden tests, the runtime, the socket's folder
  (read-only) and a results folder nothing else mounts. It imports the hidden tests, whose imports
  of workspace modules give proxy modules, runs them, and alone writes verdicts.

Only plain data crosses (:mod:`.verdict.wire`). The controller reads the judge's results file
and checks it against a plan derived from the hidden tests' source (:mod:`._plan`): a test the
source defines that never reports fails. If the judge dies (it runs only trusted code, but on the
solution's data) it is restarted after the test it died in. Whatever the solution does, the
result is a :class:`TestOutcome`: tests it broke fail, tampering the judge detected is listed.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qdagents.sandbox import Limits, Mount, Sandbox, SandboxResult
from qdagents.tasks._plan import declared_classes, planned_tests, workspace_modules
from qdagents.tasks._task import Task, write_files

__all__ = ["HiddenTestPlace", "TestOutcome", "TestVerdict", "copy_clean", "hidden_test_place",
           "run_hidden_tests"]

RUNTIME = Path(__file__).with_name("verdict")

#: Files that change what a test run does merely by existing; never copied.
BLOCKED_NAMES = frozenset({"conftest.py", "sitecustomize.py", "usercustomize.py", "__pycache__"})

RESULTS_CAP = 8_000_000   # bytes of results a judge may write
REASON_CAP = 400
MAX_JUDGE_RUNS = 4
SOCKET = "/channel/solution.sock"


@dataclass(frozen=True)
class TestVerdict:
    """One hidden test's verdict; ``kind`` says where a failure came from (see
    :mod:`qdagents.tasks.verdict.judge`), ``error`` is its one-line message."""

    __test__ = False

    name: str
    ok: bool
    kind: str = ""
    error: str = ""


@dataclass(frozen=True)
class TestOutcome:
    """The verdict of one hidden-test run.

    ``passed`` needs at least one test and no failures. ``reason`` says why a run did not pass
    (None when it passed); ``log`` holds the failing tests' tracebacks for the run database;
    ``tests`` holds every test's verdict; ``tampering`` lists what the judge detected the solution
    trying (a broken protocol, processes left behind, a replaced socket, a vanished test).
    """

    __test__ = False  # not a pytest test class

    passed: bool
    tests_run: int
    tests_failed: int
    reason: str | None
    log: str = ""
    tests: tuple[TestVerdict, ...] = ()
    tampering: tuple[str, ...] = field(default=())


def run_hidden_tests(task: Task, workspace: Path, *, sandbox: Sandbox, limits: Limits,
                     test_seconds: float = 10.0,
                     place: "HiddenTestPlace | None" = None) -> TestOutcome:
    """Runs ``task``'s hidden tests on ``workspace`` (only read) with ``sandbox``.

    Args:
        task: Supplies the hidden tests, and the reference that says which classes the tests
            use as an API (the workspace's copies of hidden files are never used).
        workspace: The agent's finished workspace.
        sandbox: Any :class:`~qdagents.sandbox.Sandbox` backend; ``process`` isolates nothing
            (the solution could read the hidden tests: trusted code only).
        limits: Limits of each of the two commands; the judge keeps a margin to report on time.
        test_seconds: Per-test timeout, so one hanging test fails alone.
        place: Folders and runners reused across runs (:func:`hidden_test_place`; with docker,
            two containers for many tasks); a fresh one when None.
    """
    if place is None:
        with hidden_test_place(sandbox, limits) as place:
            return run_hidden_tests(task, workspace, sandbox=sandbox, limits=limits,
                                    test_seconds=test_seconds, place=place)
    place.clear()
    folders = place.folders
    try:
        copy_clean(Path(workspace), folders["workspace"])
        write_files(task.hidden_tests, folders["tests"])
    except (OSError, RecursionError, ValueError) as error:  # a missing or odd workspace
        return TestOutcome(False, 0, 0, f"could not prepare the workspace: {error}"[:400])
    plan = judge_plan(task, folders["workspace"], limits, test_seconds)
    (folders["results"] / "plan.json").write_text(json.dumps(plan))
    return Run(task, place, limits, plan).outcome()


@dataclass
class HiddenTestPlace:
    """The host folders of hidden-test runs (mounted at ``/workspace``, ``/runtime``, ``/tests``,
    ``/channel``, ``/results``) and what runs the judge's and the solution's commands: the
    sandbox itself, or with docker one session container each (an exec per task instead of two
    containers)."""

    folders: dict[str, Path]
    judge: object
    solution: object
    isolated: bool   # each command in a pid namespace of its own (the server may sweep it)

    def clear(self) -> None:
        """Empties everything but the runtime (left by the previous task)."""
        for name in ("workspace", "tests", "channel", "results"):
            for child in self.folders[name].iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)

    def judge_mounts(self) -> list[Mount]:
        return [Mount(self.folders["runtime"], "/runtime"), Mount(self.folders["tests"], "/tests"),
                Mount(self.folders["channel"], "/channel"),
                Mount(self.folders["results"], "/results", writable=True)]

    def solution_mounts(self) -> list[Mount]:
        return [Mount(self.folders["workspace"], "/workspace", writable=True),
                Mount(self.folders["runtime"], "/runtime"),
                Mount(self.folders["channel"], "/channel", writable=True)]


@contextmanager
def hidden_test_place(sandbox: Sandbox, limits: Limits) -> Iterator[HiddenTestPlace]:
    """Folders (and, with docker, two session containers) for the hidden-test runs of one
    evaluation."""
    with tempfile.TemporaryDirectory(prefix="qdagents-hidden-",
                                     ignore_cleanup_errors=True) as scratch:
        folders = {name: Path(scratch) / name for name in
                   ("workspace", "runtime", "tests", "channel", "results")}
        for folder in folders.values():
            folder.mkdir()
        install_runtime(folders["runtime"])
        place = HiddenTestPlace(folders, sandbox, sandbox,
                                getattr(sandbox, "name", "") in ("bwrap", "docker"))
        if not hasattr(sandbox, "session"):
            yield place
            return
        with sandbox.session(place.judge_mounts(), limits=limits) as judge, \
                sandbox.session(place.solution_mounts(), limits=limits) as solution:
            place.judge, place.solution = judge, solution
            yield place


def install_runtime(folder: Path) -> None:
    """Copies the verdict runtime (and nothing else of this package) as ``qdverdict``."""
    target = folder / "qdverdict"
    target.mkdir()
    for source in RUNTIME.glob("*.py"):
        shutil.copyfile(source, target / source.name)


def hidden_module_names(task: Task) -> set[str]:
    return {os.path.splitext(path.replace("/", "."))[0]
            for path in task.hidden_tests if path.endswith(".py")} | {
        os.path.splitext(os.path.basename(path))[0] for path in task.hidden_tests}


def judge_plan(task: Task, workspace: Path, limits: Limits, test_seconds: float) -> dict:
    hidden = hidden_module_names(task)
    modules = workspace_modules(workspace, hidden)
    deadline = max(1.0, limits.seconds * 0.9 - 1.0)
    return {"test_modules": task.test_modules,
            "workspace_modules": modules, "hidden_modules": sorted(hidden),
            "declared": declared_classes(task.hidden_tests, {**task.files, **task.reference},
                                         modules),
            "test_seconds": min(test_seconds, deadline), "deadline": deadline}


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


def _supports_cancel(sandbox) -> bool:
    try:
        return "cancel" in inspect.signature(sandbox.run).parameters
    except (TypeError, ValueError):
        return False


class Run:
    """One hidden-test run: the solution server in a thread, the judge (restarted after a death)
    in the caller's, then the verdict."""

    def __init__(self, task: Task, place: HiddenTestPlace, limits: Limits, plan: dict):
        self.task, self.place, self.limits, self.plan = task, place, limits, plan
        self.folders = place.folders
        self.server: SandboxResult | None = None
        self.judge_runs: list[SandboxResult] = []

    def serve(self, cancel: threading.Event) -> None:
        argv = ["python3", "-I", "-S", "/runtime/qdverdict/boot.py", "server", "--socket", SOCKET,
                "--workspace", "/workspace"]
        if self.place.isolated:
            argv.append("--sweep")  # a pid namespace of its own: leftovers can be swept
        options = {"cancel": cancel} if _supports_cancel(self.place.solution) else {}
        self.server = self.place.solution.run(argv, workdir="/workspace",
                                              mounts=self.place.solution_mounts(), env={},
                                              limits=self.limits, **options)

    def judge(self, start: int, seconds: float) -> SandboxResult:
        argv = ["python3", "-I", "-S", "/runtime/qdverdict/boot.py", "judge",
                "--plan", "/results/plan.json", "--results", "/results/results.jsonl",
                "--tests", "/tests", "--socket", SOCKET, "--start", str(start)]
        limits = Limits(seconds=seconds, memory_mb=self.limits.memory_mb,
                        processes=self.limits.processes, file_mb=self.limits.file_mb)
        return self.place.judge.run(argv, workdir="/tests", mounts=self.place.judge_mounts(),
                                    env={}, limits=limits)

    def outcome(self) -> TestOutcome:
        cancel = threading.Event()
        thread = threading.Thread(target=self.serve, args=(cancel,), daemon=True)
        thread.start()
        started, start = time.monotonic(), 0
        results = JudgeResults()
        try:
            for _ in range(MAX_JUDGE_RUNS):
                left = self.limits.seconds - (time.monotonic() - started)
                if left < 1:
                    break
                self.plan["deadline"] = max(1.0, left * 0.9 - 1.0)
                (self.folders["results"] / "plan.json").write_text(json.dumps(self.plan))
                run = self.judge(start, left)
                self.judge_runs.append(run)
                results = read_results(self.folders["results"] / "results.jsonl")
                if results.done or results.plan is None:
                    break
                current = results.running()
                if current is not None:
                    results.ends[current] = TestVerdict(results.plan[current]["name"], False,
                                                        "test", judge_death(run))
                start = results.next_start()
                if start >= len(results.plan):
                    break
        finally:
            cancel.set()
            thread.join(self.limits.seconds + 30)
        return verdict(self.task, results, self.judge_runs, self.server)


def judge_death(run: SandboxResult) -> str:
    why = run.failure or f"exit code {run.exit_code}"
    tail = " ".join(run.stderr.strip().splitlines()[-2:])[-200:]
    return f"the judge stopped ({why})" + (f": {tail}" if tail else "")


class JudgeResults:
    """What the judge's results file says (the judge is trusted; this only guards against a
    file cut short by its death)."""

    def __init__(self):
        self.plan: list[dict] | None = None
        self.problems: list[dict] = []
        self.starts: set[int] = set()
        self.ends: dict[int, TestVerdict] = {}
        self.traces: dict[int, str] = {}
        self.tampering: list[str] = []
        self.done = self.out_of_time = False
        self.last_start: int | None = None

    def running(self) -> int | None:
        if self.last_start is not None and self.last_start not in self.ends:
            return self.last_start
        return None

    def next_start(self) -> int:
        return max(self.starts | set(self.ends), default=-1) + 1


def read_results(path: Path) -> JudgeResults:
    results = JudgeResults()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return results
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(RESULTS_CAP)
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if "plan" in record and isinstance(record["plan"], list):
            if results.plan is None:
                results.plan = [t for t in record["plan"] if isinstance(t, dict)]
                results.problems += [p for p in record.get("problems", []) if isinstance(p, dict)]
        elif isinstance(record.get("start"), int):
            results.starts.add(record["start"])
            results.last_start = record["start"]
        elif isinstance(record.get("end"), int) and results.plan is not None \
                and 0 <= record["end"] < len(results.plan):
            name = str(results.plan[record["end"]].get("name", "?"))
            results.ends[record["end"]] = TestVerdict(
                name, record.get("ok") is True, str(record.get("kind", "")),
                str(record.get("error", ""))[:REASON_CAP * 2])
            results.traces[record["end"]] = str(record.get("trace", ""))
        elif isinstance(record.get("problem"), dict):
            results.problems.append(record["problem"])
        elif isinstance(record.get("tampering"), str):
            if record["tampering"] not in results.tampering:
                results.tampering.append(record["tampering"][:REASON_CAP])
        elif record.get("out_of_time") is True:
            results.out_of_time = True
        elif record.get("done") is True:
            results.done = True
    return results


def verdict(task: Task, results: JudgeResults, judge_runs: list[SandboxResult],
            server: SandboxResult | None) -> TestOutcome:
    """Every test the source or the judge's loader knows, each with a verdict."""
    static: dict[str, dict[str, bool]] = {}
    for path in task.test_modules:
        static[path] = planned_tests(task.hidden_tests[path], path) or {}
    import_problems = {p.get("module"): p for p in results.problems
                       if str(p.get("name", "")).startswith("import ") and p.get("module")}
    fixture_problems = [p for p in results.problems if p.get("module") not in import_problems]
    tests: list[TestVerdict] = []
    traces: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    tampering = list(results.tampering)
    judge_reason = judge_death(judge_runs[-1]) if judge_runs else "the judge did not run"
    if results.out_of_time:
        judge_reason = "the hidden tests ran out of time"
    for index, entry in enumerate(results.plan or []):
        name, module = str(entry.get("name", "?")), str(entry.get("module", ""))
        seen.add((module, name))
        if entry.get("skip") and static.get(module, {}).get(name):
            continue  # the test file's own @unittest.skip
        found = results.ends.get(index)
        if found is None:
            found = TestVerdict(name, False, "test", f"did not run: {judge_reason}")
        elif entry.get("skip") and found.ok is False and found.kind == "skipped":
            found = TestVerdict(name, False, "skipped",
                                "skipped by a condition, not a plain @unittest.skip")
        tests.append(found)
        traces[name] = results.traces.get(index, "")
    for module, names in static.items():
        loaded = {n for m, n in seen if m == module}
        for name, skipped in names.items():
            if (module, name) in seen or skipped:
                continue
            problem = import_problems.get(module)
            if problem is not None:
                tests.append(TestVerdict(name, False, str(problem.get("kind", "import")),
                                         str(problem.get("error", ""))))
                traces[name] = str(problem.get("trace", ""))
            elif results.plan is None:
                tests.append(TestVerdict(name, False, "test", _no_plan_reason(
                    judge_runs, server)))
            else:
                tests.append(TestVerdict(name, False, "test", "did not run: the test loader "
                                         "did not find it"))
                siblings = {n for n in loaded if n.split(".")[0] == name.split(".")[0]}
                if siblings:
                    tampering.append(f"test {name} vanished")
    extra = [TestVerdict(str(p.get("name", "?")), False, str(p.get("kind", "test")),
                         str(p.get("error", ""))) for p in fixture_problems
             if p.get("module") not in import_problems]
    return summarize(tests, extra, traces, tampering)


def _no_plan_reason(judge_runs: list[SandboxResult], server: SandboxResult | None) -> str:
    if judge_runs and judge_runs[-1].timed_out:
        return f"timed out after {judge_runs[-1].seconds:.0f}s"
    reason = judge_death(judge_runs[-1]) if judge_runs else "the judge did not run"
    if server is not None and server.failure and server.failure != "cancelled by the caller":
        reason += f"; the solution server: {server.failure}"
    return reason


def summarize(tests: list[TestVerdict], extra: list[TestVerdict], traces: dict[str, str],
              tampering: list[str]) -> TestOutcome:
    """Counts tests and writes one readable reason naming the first failures."""
    everything = tests + extra
    run = len(everything)
    failed = [t for t in everything if not t.ok]
    if run == 0:
        return TestOutcome(False, 0, 0, "no hidden tests ran", tampering=tuple(tampering))
    if not failed and not tampering:
        return TestOutcome(True, run, 0, None, tests=tuple(everything))
    if failed and len({t.error for t in failed}) == 1 and len(failed) == run \
            and failed[0].kind in ("import", "test", "boundary") \
            and not failed[0].error.startswith("Assert"):
        reason = failed[0].error  # nothing ran: a syntax error, a missing module, ...
    elif failed:
        shown = "; ".join(f"{t.name}: {t.error}" for t in failed[:3])
        reason = f"{len(failed)} of {run} hidden tests failed: {shown}"
    else:
        reason = "tampering: " + "; ".join(tampering)
    if tampering and not reason.startswith("tampering"):
        reason = f"tampering: {tampering[0]}; {reason}"
    if len(reason) > REASON_CAP:
        reason = reason[:REASON_CAP - 3] + "..."
    log = "\n\n".join(f"== {t.name}\n{traces.get(t.name) or t.error}" for t in failed)
    return TestOutcome(False, run, len(failed), reason, log=log[-20_000:],
                       tests=tuple(everything), tampering=tuple(tampering))
