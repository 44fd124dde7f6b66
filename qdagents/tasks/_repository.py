"""Repository tasks: a real repository at a base commit, in its own docker image, judged by its
own tests (the SWE-bench setting).

A :class:`RepositoryTask` is the same kind of plain value as a :class:`~qdagents.tasks.Task`: it
holds the problem, the patches and the test lists as text; the repository itself is in the image.
The evaluator asks every task three things (its :class:`~qdagents.tasks.TaskSetting`, ``prepare``
and ``judge``), so a repository task runs through the same evaluator, budgets and run database as
every other task.

- **The workspace** is a host copy of the image's ``/testbed`` (copied out once per image, without
  running anything in it, and kept in a :class:`CheckoutCache`), mounted writable at ``/testbed``
  for the agent, in a container of the task's image, with the usual lock-down.
- **The verdict** (:meth:`RepositoryTask.judge`), after the agent has finished, in a fresh
  container of the same image: a copy of the agent's final repository, in which every file the
  test patch touches is replaced by its base version with the test patch applied (the agent's
  edits to those files are discarded, as in SWE-bench's ``git checkout BASE -- files; git apply
  test.patch``), every file that changes how the test runner starts or what it collects
  (:data:`RUNNER_HOOKS`: ``conftest.py``, ``sitecustomize.py``, ``*.pth``, ``pytest.ini``,
  ``tox.ini``, ``setup.cfg``, ``pyproject.toml``, ...) is reset to its base version (removed when
  the base has none), caches (``__pycache__``, ``*.pyc``, ``.pytest_cache``) are dropped, and the
  repository's ``.git`` is the base one, read-only. The repository's test command runs there, its
  output goes to a file, and a log parser turns it into one status per test. The instance is
  solved when every ``FAIL_TO_PASS`` and every ``PASS_TO_PASS`` test has status ``PASSED`` (or
  ``XFAIL``); a test that is missing, failed, errored or skipped is not passed.

What this cannot guarantee: the repository's test runner imports the code under test into its
own process, so code written to attack that runner (patching its reporting, printing result lines
and ending the process before the real summary) can forge statuses. The hidden-test harness's
defence (a verdict channel the solution never sees) needs a runner qdagents controls; an arbitrary
repository's runner is not one. See ``docs/tasks.md``.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from qdagents.sandbox import Limits, Mount
from qdagents.tasks._harness import TestOutcome, TestVerdict
from qdagents.tasks._task import TaskSetting, check_relative

__all__ = ["CheckoutCache", "RUNNER_HOOKS", "RepositoryTask", "apply_patch", "patched_paths"]

log = logging.getLogger(__name__)

#: File names that change how a Python test runner starts, what it collects or how it reports:
#: in the verdict they are reset to their base versions wherever they are (``*.pth`` too).
RUNNER_HOOKS = frozenset({"conftest.py", "sitecustomize.py", "usercustomize.py", "pytest.ini",
                          ".pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", "noxfile.py"})
#: Dropped from the verdict's copy: caches a runner would trust over the sources.
CACHES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".hypothesis"})
START_MARKER = ">>>>> Start Test Output"
END_MARKER = ">>>>> End Test Output"
PASSING = ("PASSED", "XFAIL")
#: A required test's status as the ``kind`` of its failure (what an emitter's feedback names).
STATUS_KIND = {"FAILED": "failed", "ERROR": "errored", "SKIPPED": "skipped", "MISSING": "missing"}
LOG_CAP = 8_000_000  # bytes of test output read (the tail: summaries come last)
REASON_CAP = 400


@dataclass(frozen=True)
class RepositoryTask:
    """One repository task (a SWE-bench instance).

    Args:
        id: The instance id (``django__django-11099``).
        problem: The problem statement, shown to the agent at ``/task/problem.md``.
        repo: ``owner/name``.
        base_commit: The commit ``/testbed`` is at in the image.
        test_patch: Adds the tests that decide the task; never shown to the agent.
        fail_to_pass: Tests that must pass after the fix (they fail at the base commit).
        pass_to_pass: Tests that passed before and must still pass.
        image: The docker image with the repository at ``/testbed`` and its environment.
        test_command: The shell command that runs the tests (with the test files appended).
        log_parser: ``"pytest"`` (``pytest -rA`` summary lines) or ``"swebench"`` (the
            ``swebench`` package's parser for this repository).
        patch: The gold patch; only the self-check uses it, never shown to the agent.
        version: The repository version the instance belongs to (picks SWE-bench's specs).
        eval_commands: Shell lines run before the tests (environment variables, locales).
        env: Environment the agent and the tests get (a ``PATH`` to the repository's Python).
        python: The interpreter that runs the agent (the image's system Python).
    """

    id: str
    problem: str
    repo: str
    base_commit: str
    test_patch: str
    fail_to_pass: tuple[str, ...]
    pass_to_pass: tuple[str, ...]
    image: str
    test_command: str
    log_parser: str = "pytest"
    patch: str = ""
    version: str = ""
    eval_commands: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    python: str = "/usr/bin/python3"
    kind: str = "repository"

    def __post_init__(self):
        if not self.id:
            raise ValueError("task id must not be empty")
        if self.log_parser not in ("pytest", "swebench"):
            raise ValueError(f"task {self.id}: log_parser must be 'pytest' or 'swebench', "
                             f"not {self.log_parser!r}")
        for path in patched_paths(self.test_patch):
            check_relative(path)

    @property
    def setting(self) -> TaskSetting:
        return TaskSetting(image=self.image, workdir="/testbed", env=dict(self.env),
                           python=self.python)

    @property
    def reference(self) -> str:
        """The gold patch (what the self-check applies); empty when the instance has none."""
        return self.patch

    def unavailable(self, sandbox) -> str | None:
        """Why the task cannot run with ``sandbox``: not docker, or the image is missing."""
        if not hasattr(sandbox, "has_image"):
            return (f"runs in its own docker image ({self.image}): use sandbox=docker, not "
                    f"{getattr(sandbox, 'name', sandbox)!r}")
        if not sandbox.has_image(self.image):
            return f"image {self.image} is missing; get it with: {self.image_command()}"
        return None

    def image_command(self) -> str:
        """The command that gets this task's image: a pull for a registry name, else a build
        with the SWE-bench harness."""
        if "/" in self.image.rsplit(":", 1)[0]:
            return f"docker pull {self.image}"
        return ("python -m swebench.harness.prepare_images --dataset_name INSTANCES_FILE "
                f"--namespace none --instance_ids {self.id}")

    # --- the workspace ------------------------------------------------------------------------

    def prepare(self, root: Path, *, sandbox, solved: bool = False) -> None:
        """Copies the repository at its base commit into ``root`` (an empty folder); with
        ``solved``, the gold patch applied."""
        with CACHE.checkout(sandbox, self.image, base_commit=self.base_commit) as base:
            copy_tree(base, Path(root))
            if solved:
                write_patched(Path(root), apply_patch(self.patch, base))

    # --- the verdict --------------------------------------------------------------------------

    def judge(self, workspace: Path, *, sandbox, limits: Limits, place=None) -> TestOutcome:
        """Runs the instance's tests on the agent's final repository (see the module docstring);
        ``place`` (the evaluation's) is not needed: each verdict has a fresh container."""
        why = self.unavailable(sandbox)
        if why:
            return TestOutcome(False, 0, 0, f"task unavailable: {why}")
        with tempfile.TemporaryDirectory(prefix="qdagents-verdict-",
                                         ignore_cleanup_errors=True) as scratch, \
                CACHE.checkout(sandbox, self.image, base_commit=self.base_commit) as base:
            scratch = Path(scratch)
            testbed, harness = scratch / "testbed", scratch / "harness"
            results = scratch / "results"
            for folder in (harness, results):
                folder.mkdir()
            try:
                copy_for_verdict(Path(workspace), testbed, base)
                write_patched(testbed, apply_patch(self.test_patch, base))
            except (OSError, RecursionError, PatchError) as error:
                return TestOutcome(False, 0, 0, f"could not prepare the repository: {error}"[:400])
            (harness / "eval.sh").write_text(self.eval_script())
            mounts = [Mount(testbed, "/testbed", writable=True), Mount(harness, "/harness"),
                      Mount(results, "/results", writable=True)]
            if (base / ".git").is_dir():
                mounts.insert(1, Mount(base / ".git", "/testbed/.git"))
            run = sandbox.with_image(self.image).run(
                ["/bin/bash", "/harness/eval.sh"], workdir="/testbed", mounts=mounts,
                env=dict(self.env), limits=limits)
            output = read_tail(results / "output.log")
        return self.grade(output, run)

    def eval_script(self) -> str:
        """The script the verdict runs: the environment, then the tests between markers."""
        lines = ["exec >/results/output.log 2>&1", "cd /testbed",
                 "if [ -f /opt/miniconda3/bin/activate ]; then",
                 "  source /opt/miniconda3/bin/activate && conda activate testbed", "fi",
                 *self.eval_commands, "cd /testbed",
                 f"echo '{START_MARKER}'", self.test_command, "status=$?",
                 f"echo '{END_MARKER}'", 'echo ">>>>> Test Exit Code: $status"']
        return "\n".join(lines) + "\n"

    def grade(self, output: str, run) -> TestOutcome:
        """Per-test statuses from the output, then the verdict on FAIL_TO_PASS + PASS_TO_PASS."""
        tail = output[-4000:]
        if START_MARKER not in output or END_MARKER not in output:
            if run.timed_out:
                reason = f"the tests timed out ({run.failure})"
            else:
                reason = ("the test run did not finish"
                          + (f" ({run.failure})" if run.failure else
                             f" (exit code {run.exit_code})"))
            return TestOutcome(False, 0, 0, reason, log=tail or run.stderr[-4000:])
        section = output.split(START_MARKER, 1)[1].rsplit(END_MARKER, 1)[0]
        statuses = self.parse(section)
        required = [("FAIL_TO_PASS", t) for t in self.fail_to_pass] + \
            [("PASS_TO_PASS", t) for t in self.pass_to_pass]
        if not required:
            return TestOutcome(False, 0, 0, "the instance names no FAIL_TO_PASS or PASS_TO_PASS "
                                            "tests", log=tail)
        table, failed, verdicts = [], [], []
        for group, test in required:
            status = statuses.get(test, "MISSING")
            table.append(f"{status:<8} {group}  {test}")
            ok = status in PASSING
            verdicts.append(TestVerdict(name=test, ok=ok, kind="" if ok else STATUS_KIND.get(
                status, "failed"), error="" if ok else f"{group}: {status.lower()}"))
            if not ok:
                failed.append(f"{group} {test}: {status.lower()}")
        report = "\n".join(table) + "\n\n--- test output (tail) ---\n" + tail
        if not failed:
            return TestOutcome(True, len(required), 0, None, log=report, tests=tuple(verdicts))
        reason = f"{len(failed)} of {len(required)} tests failed: " + "; ".join(failed[:3])
        if len(reason) > REASON_CAP:
            reason = reason[:REASON_CAP - 3] + "..."
        return TestOutcome(False, len(required), len(failed), reason, log=report,
                           tests=tuple(verdicts))

    def parse(self, section: str) -> dict[str, str]:
        """Test name -> status (``PASSED``, ``FAILED``, ``ERROR``, ``SKIPPED``, ``XFAIL``)."""
        if self.log_parser == "swebench":
            from qdagents.tasks._swebench import swebench_parser

            parser, spec = swebench_parser(self)
            return dict(parser(section, spec))
        from qdagents.tasks._swebench import parse_pytest_log

        return parse_pytest_log(section)


# --- checkouts --------------------------------------------------------------------------------


class CheckoutCache:
    """Base checkouts of task images' repositories, copied out once per image and kept on disk.

    Copying ``/testbed`` out of an image costs seconds for a large repository (django's is about
    300 MB with its git history), and every agent run and verdict on that instance needs it, so a
    checkout is kept for the process's lifetime, up to ``keep`` images (least recently used ones
    go; one in use is never removed). Checkouts are keyed by image *id*, so a rebuilt image is
    copied anew.

    Args:
        root: Where checkouts live (default: a temporary folder removed at exit).
        keep: How many images' checkouts to keep.
    """

    def __init__(self, *, root: Path | None = None, keep: int = 8):
        self._root, self.keep = root, keep
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[Path, int]] = OrderedDict()  # id -> (path, users)
        self._copying: dict[str, threading.Lock] = {}

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="qdagents-checkouts-"))
            atexit.register(shutil.rmtree, self._root, True)
        return self._root

    @contextmanager
    def checkout(self, sandbox, image: str, path: str = "/testbed", *,
                 base_commit: str | None = None) -> Iterator[Path]:
        """The base checkout of ``image``'s ``path`` (read it; do not change it); with
        ``base_commit``, its git history cut there (:func:`trim_history`)."""
        key = sandbox.client.images.get(image).id.split(":")[-1] + path.replace("/", "_") + \
            (f"@{base_commit}" if base_commit else "")
        with self._lock:
            copying = self._copying.setdefault(key, threading.Lock())
        with copying:  # one copy per image, however many threads ask at once
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries[key] = (entry[0], entry[1] + 1)
                    self._entries.move_to_end(key)
            if entry is None:
                folder = self.root / key
                if folder.exists():
                    shutil.rmtree(folder)
                sandbox.copy_out(image, path, folder)
                if base_commit:
                    try:
                        trim_history(folder, base_commit)
                    except BaseException:
                        shutil.rmtree(folder, ignore_errors=True)
                        raise
                with self._lock:
                    self._entries[key] = (folder, 1)
                    self._evict()
        try:
            yield self._entries[key][0]
        finally:
            with self._lock:
                folder, users = self._entries[key]
                self._entries[key] = (folder, users - 1)
                self._evict()

    def _evict(self) -> None:
        for key in list(self._entries):
            if len(self._entries) <= self.keep:
                return
            folder, users = self._entries[key]
            if users == 0:
                del self._entries[key]
                shutil.rmtree(folder, ignore_errors=True)


#: The cache every repository task of this process uses.
CACHE = CheckoutCache()


class HistoryError(ValueError):
    """The image's repository is not at the instance's base commit."""


def trim_history(repo: Path, base_commit: str) -> None:
    """Leaves a checkout's git history ending at ``base_commit``: every ref (branches, tags,
    remotes, stash) deleted, the current branch set to the base, reflogs expired and what is no
    longer reachable pruned, so ``git log --all`` cannot show the agent the fix that came later
    (SWE-bench images built before the harness did this kept it: SWE-bench issue 465).

    Raises :class:`HistoryError` when ``HEAD`` is not ``base_commit`` (the image holds another
    version of the repository than the instance describes). Costs one ``git gc`` per image.
    """
    if not (repo / ".git").is_dir():
        return
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(repo),
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_DIR": str(repo / ".git"), "GIT_WORK_TREE": str(repo)}

    def git(*args: str, input: str | None = None) -> str:
        result = subprocess.run(["git", "-c", "safe.directory=*", *args], input=input, env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise HistoryError(f"git {args[0]} in the image's repository failed: "
                               f"{result.stderr.strip()[:300]}")
        return result.stdout.strip()

    head = git("rev-parse", "--verify", "HEAD^{commit}")
    if head != base_commit and not (len(base_commit) >= 7 and head.startswith(base_commit)):
        raise HistoryError(f"the image's repository is at {head[:12]}, not at the instance's "
                           f"base commit {base_commit[:12]}")
    branch = subprocess.run(["git", "-c", "safe.directory=*", "symbolic-ref", "-q", "HEAD"],
                            env=env, capture_output=True, text=True).stdout.strip()
    refs = git("for-each-ref", "--format=%(refname)").splitlines()
    git("update-ref", "--no-deref", "HEAD", head)           # detach, so every ref can go
    git("update-ref", "--stdin", input="".join(f"delete {ref}\n" for ref in refs))
    if branch:
        git("update-ref", branch, head)
        git("symbolic-ref", "HEAD", branch)
    for name in ("ORIG_HEAD", "FETCH_HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "logs"):
        if (repo / ".git" / name).exists():
            remove(repo / ".git" / name)
    git("reflog", "expire", "--expire=now", "--all")
    git("gc", "--prune=now", "--quiet")


def copy_tree(source: Path, target: Path) -> None:
    """Copies a checkout: folders, regular files (with their modes) and symlinks as links."""
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)


def copy_for_verdict(workspace: Path, target: Path, base: Path) -> None:
    """The agent's repository as the verdict sees it (see the module docstring).

    Regular files (with their modes), folders and symlinks (as links, never followed) are
    copied; FIFOs and devices are not; ``.git``, caches and runner hooks are skipped, and the
    hooks are then restored from ``base``.
    """
    def copy(source: Path, dest: Path, top: bool) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        with os.scandir(source) as entries:
            for entry in entries:
                name = entry.name
                if (top and name == ".git") or is_cache(name) or is_runner_hook(name):
                    continue
                if entry.is_symlink():
                    os.symlink(os.readlink(entry.path), dest / name)
                elif entry.is_dir(follow_symlinks=False):
                    copy(Path(entry.path), dest / name, False)
                elif entry.is_file(follow_symlinks=False):
                    shutil.copyfile(entry.path, dest / name, follow_symlinks=False)
                    os.chmod(dest / name, entry.stat(follow_symlinks=False).st_mode & 0o755)

    copy(Path(workspace), target, True)
    for hook in runner_hooks(base):
        shutil.copyfile(base / hook, clear_path(target, hook), follow_symlinks=False)


def is_runner_hook(name: str) -> bool:
    return name in RUNNER_HOOKS or name.endswith(".pth")


def is_cache(name: str) -> bool:
    return name in CACHES or name.endswith(".pyc")


_hooks: dict[Path, list[str]] = {}


def runner_hooks(base: Path) -> list[str]:
    """Relative paths of the runner hooks in a base checkout (regular files; cached)."""
    if base not in _hooks:
        found = []
        for folder, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not (folder == str(base) and d == ".git")]
            for name in files:
                path = Path(folder, name)
                if is_runner_hook(name) and path.is_file() and not path.is_symlink():
                    found.append(path.relative_to(base).as_posix())
        _hooks[base] = sorted(found)
    return _hooks[base]


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def clear_path(root: Path, relative: str) -> Path:
    """``root / relative`` made safe to write on the host: every folder on the way is a real
    folder (a symlink or file in the way, which the agent may have planted to redirect the
    write, is removed) and nothing is at the path itself."""
    check_relative(relative)
    folder = root
    for part in Path(relative).parts[:-1]:
        folder = folder / part
        if os.path.lexists(folder) and (folder.is_symlink() or not folder.is_dir()):
            remove(folder)
        folder.mkdir(exist_ok=True)
    target = root / relative
    if os.path.lexists(target):
        remove(target)
    return target


# --- patches ----------------------------------------------------------------------------------


class PatchError(ValueError):
    """A patch that does not apply to the base checkout."""


_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)


def patched_paths(patch: str) -> list[str]:
    """Every path a git patch touches (both sides of a rename), in order."""
    paths = []
    for old, new in _DIFF_HEADER.findall(patch):
        for path in (old, new):
            if path not in paths:
                paths.append(path)
    return paths


def apply_patch(patch: str, base: Path) -> dict[str, bytes | None]:
    """The files a patch touches, after applying it to their versions in ``base``.

    Returns relative path -> new content (None: the patch deletes it). The patch is applied by
    ``git apply`` in a scratch folder holding only those files from ``base`` (no repository, no
    agent file): nothing the agent wrote is read, and no git configuration is.
    """
    paths = patched_paths(patch)
    if not paths:
        return {}
    with tempfile.TemporaryDirectory(prefix="qdagents-patch-") as scratch:
        root = Path(scratch) / "tree"
        for path in paths:
            check_relative(path)
            source = base / path
            if source.is_file() and not source.is_symlink():
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, root / path)
        root.mkdir(exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_CONFIG_GLOBAL": os.devnull, "HOME": scratch,
               "GIT_CEILING_DIRECTORIES": scratch}
        text = patch if patch.endswith("\n") else patch + "\n"
        done = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], input=text.encode(),
                              cwd=root, env=env, capture_output=True)
        if done.returncode != 0:
            raise PatchError("the patch does not apply: "
                             + done.stderr.decode(errors="replace").strip()[:300])
        return {path: (root / path).read_bytes() if (root / path).is_file() else None
                for path in paths}


def write_patched(root: Path, files: dict[str, bytes | None]) -> None:
    """Writes :func:`apply_patch`'s result over ``root`` (whatever is in the way is removed)."""
    for path, content in files.items():
        target = clear_path(root, path)
        if content is not None:
            target.write_bytes(content)


def read_tail(path: Path, cap: int = LOG_CAP) -> str:
    """The last ``cap`` bytes of a result file (never through a symlink); '' when missing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        file.seek(max(0, size - cap))
        return file.read(cap).decode("utf-8", "replace")
