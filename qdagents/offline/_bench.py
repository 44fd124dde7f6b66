"""A minimal in-process bench for the offline model and agents: no gateway, no sandbox.

:class:`DirectGateway` serves ``POST /v1/chat/completions`` on a unix socket straight from an
:class:`~qdagents.offline._model.OfflineModel` (no litellm, metering or budgets), and
:func:`run_task` runs one agent folder on one task folder in the built-in layout (``problem.md``,
``workspace/``, ``hidden/``) as a plain subprocess, then runs the hidden tests on a copy. It exists
to check the offline model and the seed agent in isolation (``tests/offline``,
``experiments/offline_landscape.py``); real runs go through ``Gateway`` and a ``Sandbox``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from qdagents.llm._meter import lines_emitted
from qdagents.offline._model import OfflineModel


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # unix peers have no address to log
        pass

    def do_POST(self):
        gateway: DirectGateway = self.server.gateway
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with gateway.lock:
            over = gateway.max_calls is not None and len(gateway.calls) >= gateway.max_calls
        if over:
            body, status = {"error": {"type": "budget_exceeded", "message": "call budget"}}, 429
        else:
            seed = request.get("seed", gateway.seed)
            out = gateway.model.respond(gateway.role, request.get("messages") or [],
                                        request.get("tools"), seed)
            body, status = {"id": "offline", "object": "chat.completion", "model": request.get(
                "model"), "choices": [{"index": 0, "message": out["message"],
                                       "finish_reason": out["finish_reason"]}],
                            "usage": out["usage"]}, 200
            with gateway.lock:
                gateway.calls.append((request, out))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class DirectGateway:
    """An OpenAI-compatible unix-socket endpoint answering from the offline model (context manager).

    Args:
        model: The model to answer with (a fresh ``OfflineModel`` by default).
        role: The offline role to answer as.
        seed: Used for requests that carry no ``seed``.
        max_calls: After this many answered calls, answers ``budget_exceeded`` errors.
    """

    def __init__(self, model: OfflineModel | None = None, *, role: str = "coder", seed: int = 0,
                 max_calls: int | None = None):
        self.model, self.role, self.seed = model or OfflineModel(), role, seed
        self.max_calls = max_calls
        self.calls: list[tuple[dict, dict]] = []
        self.lock = threading.Lock()
        self.dir = tempfile.mkdtemp(prefix="qd-offline-", dir="/tmp")
        self.path = os.path.join(self.dir, "gateway.sock")
        self._server = socketserver.ThreadingUnixStreamServer(self.path, _Handler)
        self._server.daemon_threads = True
        self._server.gateway = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "DirectGateway":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclass
class TaskRun:
    """What one agent did on one task, measured from outside the agent."""

    task_id: str
    passed: bool
    tokens: int
    llm_calls: int
    tools_offered: list[str]
    lines_emitted: int
    lines_changed: int
    seconds: float
    exit_code: int | None
    output: str = ""
    calls: list = field(default_factory=list, repr=False)


def lines_changed(before: dict[str, str], after: dict[str, str]) -> int:
    """Added plus removed lines between two versions of a folder's text files."""
    total = 0
    for path in set(before) | set(after):
        old, new = before.get(path, "").splitlines(), after.get(path, "").splitlines()
        total += sum(1 for line in difflib.unified_diff(old, new, lineterm="", n=0)
                     if line[:1] in "+-" and not line.startswith(("+++", "---")))
    return total


def _read_tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(errors="replace")
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def run_hidden_tests(task_dir: Path, workspace: Path, *, timeout: float = 30.0) -> bool:
    """Runs ``hidden/test_*.py`` with unittest on a copy of the workspace; True when all pass."""
    with tempfile.TemporaryDirectory(prefix="qd-hidden-") as scratch:
        copy = Path(scratch) / "ws"
        shutil.copytree(workspace, copy)
        modules = []
        for test in sorted((task_dir / "hidden").glob("*.py")):
            shutil.copy(test, copy / test.name)
            if test.name.startswith("test_") or test.name.endswith("_test.py"):
                modules.append(test.stem)
        try:
            done = subprocess.run([sys.executable, "-m", "unittest", "-q", *modules], cwd=copy,
                                  capture_output=True, text=True, timeout=timeout,
                                  env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                       "PYTHONDONTWRITEBYTECODE": "1"})
        except subprocess.TimeoutExpired:
            return False
        ran = re.search(r"^Ran (\d+) test", done.stderr, re.M)
        return done.returncode == 0 and bool(ran) and int(ran[1]) > 0


def run_task(agent_dir: Path, task_dir: Path, *, seed: int = 0, model: OfflineModel | None = None,
             timeout: float = 60.0, python: str = "python3",
             max_calls: int | None = None) -> TaskRun:
    """Runs ``agent_dir/agent.py`` on a fresh copy of ``task_dir/workspace`` and grades it."""
    task_dir, agent_dir = Path(task_dir).resolve(), Path(agent_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="qd-task-") as scratch, \
            DirectGateway(model, seed=seed, max_calls=max_calls) as gateway:
        workspace = Path(scratch) / "workspace"
        shutil.copytree(task_dir / "workspace", workspace)
        before = _read_tree(workspace)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": scratch,
               "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               "QDAGENTS_GATEWAY": gateway.path, "QDAGENTS_PROBLEM": str(task_dir / "problem.md")}
        start = time.monotonic()
        try:
            done = subprocess.run([python, str(agent_dir / "agent.py")], cwd=workspace, env=env,
                                  capture_output=True, text=True, timeout=timeout)
            exit_code, output = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired:
            exit_code, output = None, "timed out"
        seconds = time.monotonic() - start
        passed = run_hidden_tests(task_dir, workspace)
        calls = list(gateway.calls)
        offered = sorted({(t.get("function") or {}).get("name", "")
                          for request, _ in calls for t in request.get("tools") or []})
        return TaskRun(
            task_id=task_dir.name, passed=passed,
            tokens=sum(o["usage"]["prompt_tokens"] + o["usage"]["completion_tokens"]
                       for _, o in calls),
            llm_calls=len(calls), tools_offered=offered,
            lines_emitted=sum(lines_emitted(o["message"]) for _, o in calls),
            lines_changed=lines_changed(before, _read_tree(workspace)), seconds=seconds,
            exit_code=exit_code, output=output[-2000:], calls=calls)
