"""The real-provider path of a whole run: only config changes, litellm speaks HTTP to a server.

A local OpenAI-compatible server on 127.0.0.1 answers with the offline model (the model name
picks coder or mutator), so `qdagents run llm.agent_model=openai/... llm.api_base=...` exercises
litellm's OpenAI client, the key from the environment, and the same gateway, end to end.
"""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qdagents.llm._gateway import PROBE_REQUEST
from qdagents.offline._model import OfflineModel

pytestmark = pytest.mark.slow


class OfflineOverHTTP(BaseHTTPRequestHandler):
    model = OfflineModel()
    seen: list = []
    probes: list = []                # models the preflight checked
    dies_after: int | None = None   # requests answered before the server "dies"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        role = "mutator" if "mutator" in body["model"] else "coder"
        self.seen.append((self.path, self.headers.get("Authorization"), body["model"]))
        if body["messages"] == PROBE_REQUEST["messages"]:
            self.probes.append(body["model"])
        if self.dies_after is not None and len(self.seen) > self.dies_after:
            self.close_connection = True   # hangs up mid-call, like a server that was killed
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        out = self.model.respond(role, body["messages"], body.get("tools"), body.get("seed"))
        usage = out["usage"]
        answer = json.dumps({
            "id": "chatcmpl-local", "object": "chat.completion", "created": 0,
            "model": body["model"], "choices": [{"index": 0, "message": out["message"],
                                                 "finish_reason": out["finish_reason"]}],
            "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def test_a_run_through_an_openai_compatible_server(tmp_path, bwrap_backend):
    server = ThreadingHTTPServer(("127.0.0.1", 0), OfflineOverHTTP)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    run_dir = tmp_path / "run"
    env = {**os.environ, "OPENAI_API_KEY": "sk-local-test"}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "qdagents.cli", "run", "llm.agent_model=openai/local-coder",
             "llm.emitter_model=openai/local-mutator", f"llm.api_base={base}",
             "budget.evaluations=4", "tasks.limit=2", "workers=1", "progress=quiet",
             f"sandbox={bwrap_backend}", f"hydra.run.dir={run_dir}"],
            capture_output=True, text=True, env=env, timeout=600)
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(subprocess.run(
        [sys.executable, "-m", "qdagents.cli", "summary", str(run_dir), "--json"],
        capture_output=True, text=True, check=True).stdout)
    assert summary["evaluated"] == 4 and summary["elites"] >= 1
    # the preflight's probe of each model (not the run's: not recorded) came first
    probes = [m for m in OfflineOverHTTP.probes]
    assert sorted(probes) == ["local-coder", "local-mutator"]
    assert summary["provider_calls"] == len(OfflineOverHTTP.seen) - len(probes) > 4
    paths, auths, models = zip(*OfflineOverHTTP.seen)
    assert set(paths) == {"/v1/chat/completions"} and set(auths) == {"Bearer sk-local-test"}
    assert set(models) == {"local-coder", "local-mutator"}


def test_a_run_whose_provider_dies_pauses_and_resumes_with_nothing_lost(tmp_path,
                                                                        bwrap_backend):
    """The provider dies after 25 requests. What it spoiled (an evaluation, an emitter's call)
    is never scored: it is tried again after a backoff, and when that does not heal it the run
    pauses (exit 2, naming ``qdagents resume``), its agents pending. The provider comes back;
    the resume evaluates them and finishes the budget, and no row anywhere holds a provider
    fault as an agent's result."""

    class Dying(OfflineOverHTTP):
        seen, probes = [], []
        dies_after = 25

    server = ThreadingHTTPServer(("127.0.0.1", 0), Dying)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    run_dir = tmp_path / "run"
    env = {**os.environ, "OPENAI_API_KEY": "sk-local-test"}
    try:
        paused = subprocess.run(
            [sys.executable, "-m", "qdagents.cli", "run", "llm.agent_model=openai/local-coder",
             "llm.emitter_model=openai/local-mutator",
             f"llm.api_base=http://127.0.0.1:{server.server_address[1]}/v1",
             "llm.max_retries=0", "llm.fault_retries=1", "llm.fault_backoff=0.2",
             "budget.evaluations=5", "tasks.limit=3", "workers=1", "progress=quiet",
             f"sandbox={bwrap_backend}", f"hydra.run.dir={run_dir}"],
            capture_output=True, text=True, timeout=600, env=env)
        assert paused.returncode == 2, paused.stderr[-3000:]
        assert "the provider failed 2 times in a row" in paused.stderr
        assert f"qdagents resume {run_dir}" in paused.stderr
        db = sqlite3.connect(run_dir / "run.sqlite")
        scored = db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
        assert 1 <= scored < 5
        assert not db.execute("SELECT 1 FROM evaluations WHERE failure LIKE 'provider%'"
                              " OR fitness IS NULL").fetchall()
        faults = [r[0] for r in db.execute("SELECT error FROM llm_calls WHERE error IS NOT NULL")]
        assert faults and all(" (provider): " in e for e in faults)
        db.close()

        Dying.dies_after = None          # the provider is back
        resumed = subprocess.run([sys.executable, "-m", "qdagents.cli", "resume", str(run_dir)],
                                 capture_output=True, text=True, timeout=600, env=env)
    finally:
        server.shutdown()
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    db = sqlite3.connect(run_dir / "run.sqlite")
    rows = db.execute("SELECT agent_id, fitness, failure FROM evaluations").fetchall()
    assert len(rows) == 5 and len({r[0] for r in rows}) == 5
    assert not [r for r in rows if r[1] is None or (r[2] or "").startswith("provider")], rows
    assert not db.execute("SELECT id FROM agents WHERE status = 'pending'").fetchall()
    assert db.execute("SELECT COUNT(*) FROM insertions").fetchone()[0] == 5
