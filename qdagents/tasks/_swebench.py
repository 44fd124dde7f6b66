"""SWE-bench instances as repository tasks: the loader, and what the ``swebench`` package knows.

:func:`load_swebench` reads instance files as SWE-bench publishes them (SWE-bench, Lite, Verified:
JSON, JSON Lines, optionally gzipped; ``FAIL_TO_PASS``/``PASS_TO_PASS`` as lists or as JSON text)
into :class:`~qdagents.tasks.RepositoryTask` values. Per repository and version, the official
harness knows the test command, the shell lines to run first and how to read the test log: when
the optional ``swebench`` package is installed (``pip install 'qdagents[swebench]'``) those come
from it (``MAP_REPO_VERSION_TO_SPECS``, ``get_test_directives``, ``MAP_REPO_TO_PARSER``); for
repositories it does not know, or without it, a configurable test command (``pytest -rA`` and the
test files the test patch touches) and a ``pytest -rA`` log parser are used.
"""

from __future__ import annotations

import gzip
import json
import platform
import re
from pathlib import Path
from types import SimpleNamespace

from qdagents.tasks._repository import RepositoryTask
from qdagents.tasks._task import TaskSuite

__all__ = ["DEFAULT_IMAGE", "image_name", "load_swebench", "parse_pytest_log", "read_task_ids"]

#: The SWE-bench harness's naming of its published instance images (``{instance_key}`` is the
#: lower-cased id with ``__`` as ``_1776_``, as Docker Hub allows no double underscore).
DEFAULT_IMAGE = "swebench/sweb.eval.{arch}.{instance_key}:latest"
DEFAULT_TEST_COMMAND = "pytest -rA"
#: Where SWE-bench images keep the repository's environment; the agent's PATH finds it first.
DEFAULT_ENV = {"PATH": "/opt/miniconda3/envs/testbed/bin:/opt/miniconda3/bin:"
                       "/usr/local/bin:/usr/bin:/bin"}
#: Runs the agent: the image's system Python (a repository's own may be as old as 3.6).
DEFAULT_PYTHON = "/usr/bin/python3"
REQUIRED = ("instance_id", "repo", "base_commit", "problem_statement", "test_patch",
            "FAIL_TO_PASS", "PASS_TO_PASS")
#: Files a test patch touches that are not tests to run (SWE-bench's ``NON_TEST_EXTS``).
NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml",
                 ".yaml", ".toml")
STATUSES = ("PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL")


def load_swebench(path: Path, *, image: str = DEFAULT_IMAGE, arch: str | None = None,
                  test_command: str | None = None, log_parser: str | None = None,
                  env: dict[str, str] | None = None,
                  python: str = DEFAULT_PYTHON) -> TaskSuite:
    """Loads SWE-bench instances from a JSON or JSON Lines file (``.gz`` too).

    Args:
        path: The instances file.
        image: Image name template, with ``{arch}``, ``{instance_id}`` (lower-cased id),
            ``{instance_key}`` (lower-cased, ``__`` as ``_1776_``) and ``{repo}``. The default
            names the images SWE-bench publishes; ``sweb.eval.{arch}.{instance_id}:latest`` names
            the ones its harness builds locally.
        arch: ``x86_64`` or ``arm64`` (default: this machine's).
        test_command: The test command for every instance (the test files the test patch
            touches are appended, or put where ``{tests}`` is). Default: the ``swebench``
            package's command for the instance's repository and version, else ``pytest -rA``.
        log_parser: ``"pytest"`` or ``"swebench"``; default: the package's parser for
            repositories it knows, else ``"pytest"``.
        env: Environment for the agent and the tests (default: :data:`DEFAULT_ENV`).
        python: The interpreter that runs agents inside the image.
    """
    path = Path(path)
    arch = arch or {"aarch64": "arm64"}.get(platform.machine(), platform.machine())
    tasks = [instance_task(row, where=f"{path.name} instance {number}", image=image, arch=arch,
                           test_command=test_command, log_parser=log_parser,
                           env=DEFAULT_ENV if env is None else dict(env), python=python)
             for number, row in enumerate(read_instances(path), 1)]
    return TaskSuite(name=path.name.split(".")[0] or "swebench", tasks=tasks)


def read_instances(path: Path) -> list[dict]:
    """The instance rows of a JSON list (or ``{"instances": [...]}``) or a JSON Lines file."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            rows = json.loads(text)
        elif stripped.startswith("{") and "\n{" not in stripped.rstrip():
            loaded = json.loads(text)
            rows = loaded.get("instances", [loaded]) if isinstance(loaded, dict) else loaded
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as error:
        raise ValueError(f"{path}: not SWE-bench JSON or JSON Lines ({error})") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError(f"{path}: expected a list of instance objects")
    return rows


def instance_task(row: dict, *, where: str, image: str, arch: str, test_command: str | None,
                  log_parser: str | None, env: dict[str, str], python: str) -> RepositoryTask:
    """One instance row as a task; a row missing what the format requires is a ValueError."""
    missing = [key for key in REQUIRED if not isinstance(row.get(key), (str, list))]
    if missing:
        raise ValueError(f"{where} ({row.get('instance_id', '?')}): missing {', '.join(missing)}")
    instance_id, repo = row["instance_id"], row["repo"]
    known = harness_specs(row) if test_command is None or log_parser is None else None
    directives = (known or {}).get("directives") or test_files(row["test_patch"])
    command = test_command or (known or {}).get("test_cmd") or DEFAULT_TEST_COMMAND
    if "{tests}" in command:
        command = command.replace("{tests}", " ".join(directives))
    else:
        command = " ".join([command, *directives])
    parser = log_parser or ("swebench" if known and known.get("parser") else "pytest")
    try:
        name = image_name(instance_id, template=image, arch=arch, repo=repo)
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"tasks.image: bad template {image!r} ({error})") from None
    task = RepositoryTask(
        id=instance_id, problem=row["problem_statement"], repo=repo,
        base_commit=row["base_commit"], test_patch=row["test_patch"],
        fail_to_pass=tuple(test_list(row, "FAIL_TO_PASS", where)),
        pass_to_pass=tuple(test_list(row, "PASS_TO_PASS", where)),
        image=name, test_command=command, log_parser=parser, patch=row.get("patch") or "",
        version=str(row.get("version") or ""),
        eval_commands=tuple((known or {}).get("eval_commands", ())), env=env, python=python)
    if parser == "swebench":
        try:
            swebench_parser(task)
        except (RuntimeError, KeyError) as error:
            raise ValueError(f"{where} ({instance_id}): log_parser=swebench: {error}") from None
    return task


def test_list(row: dict, key: str, where: str) -> list[str]:
    value = row[key]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"{where}: {key} is neither a list nor JSON text") from None
    if not isinstance(value, list) or not all(isinstance(test, str) for test in value):
        raise ValueError(f"{where}: {key} must be a list of test names")
    return value


def image_name(instance_id: str, *, template: str = DEFAULT_IMAGE, arch: str = "x86_64",
               repo: str = "") -> str:
    """The image name ``template`` gives an instance (see :func:`load_swebench`)."""
    return template.format(arch=arch, instance_id=instance_id.lower(), repo=repo,
                           instance_key=instance_id.lower().replace("__", "_1776_"))


def test_files(test_patch: str) -> list[str]:
    """The files a test patch touches that are tests (SWE-bench's default test directives)."""
    return [path for path in dict.fromkeys(re.findall(r"^diff --git a/.* b/(.*)$", test_patch,
                                                      re.M))
            if not path.endswith(NON_TEST_EXTS)]


def parse_pytest_log(log: str) -> dict[str, str]:
    """Test name -> status from ``pytest -rA`` output (its ``PASSED name`` summary lines).

    The same reading as SWE-bench's ``parse_log_pytest``: a later line about a test replaces an
    earlier one; ``FAILED name - message`` keeps the name only.
    """
    statuses = {}
    for line in log.splitlines():
        if not line.startswith(STATUSES):
            continue
        if line.startswith("FAILED"):
            line = line.replace(" - ", " ")
        words = line.split()
        if len(words) > 1 and words[0] in STATUSES:
            statuses[words[1]] = words[0]
    return statuses


# --- the swebench package ---------------------------------------------------------------------


def harness_specs(row: dict) -> dict | None:
    """What the ``swebench`` package knows about an instance's repository and version.

    Returns ``{test_cmd, eval_commands, directives, parser}`` or None (package not installed, or
    the repository/version unknown to it). ``install`` is not returned: the verdict's container
    cannot write the image's environment (see docs/tasks.md).
    """
    try:
        from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS
        from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
        from swebench.harness.test_spec.python import get_test_directives
    except ImportError:
        return None
    specs = MAP_REPO_VERSION_TO_SPECS.get(row["repo"], {}).get(str(row.get("version")))
    if not specs or "test_cmd" not in specs:
        return None
    command = specs["test_cmd"]
    if isinstance(command, list):
        command = " && ".join(command)
    return {"test_cmd": command, "eval_commands": list(specs.get("eval_commands", [])),
            "directives": get_test_directives(row),
            "parser": row["repo"] in MAP_REPO_TO_PARSER}


def swebench_parser(task: RepositoryTask):
    """The ``swebench`` package's log parser for a task's repository, and the spec it takes."""
    try:
        from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
    except ImportError:
        raise RuntimeError("this task reads its test log with the swebench package's parser: "
                           "pip install 'qdagents[swebench]'") from None
    if task.repo not in MAP_REPO_TO_PARSER:
        raise KeyError(f"the swebench package has no log parser for {task.repo}")
    spec = SimpleNamespace(instance_id=task.id, repo=task.repo, version=task.version,
                           FAIL_TO_PASS=list(task.fail_to_pass),
                           PASS_TO_PASS=list(task.pass_to_pass))
    return MAP_REPO_TO_PARSER[task.repo], spec


def read_task_ids(path: Path) -> list[str]:
    """Task ids from a file: a JSON list (DGM's subset files) or one id per line (``#``
    comments and blank lines ignored)."""
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        ids = json.loads(text)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError(f"{path}: expected a JSON list of task ids")
        return ids
    return [line.split("#")[0].strip() for line in text.splitlines()
            if line.split("#")[0].strip()]

