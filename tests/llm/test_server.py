"""The gateway served over a unix socket, reached with stdlib ``http.client`` over AF_UNIX."""

import json
import os
import shutil
import stat
import subprocess
import threading
import time

import pytest
from llm_fakes import FakeModel, UnixHTTPConnection, chat, post

from qdagents.llm import Budget, Gateway, GatewaySocket, Meter
from qdagents.llm._server import MAX_BODY


@pytest.fixture
def gw(fake_model, recorder):
    return Gateway(model="qdagents/coder", db=recorder)


def test_chat_completion_over_the_socket(gw, recorder):
    meter = Meter()
    with gw.serve(meter, agent_id="agent-1", task_id="task-1") as sock:
        assert isinstance(sock, GatewaySocket) and os.path.dirname(sock.path) == sock.dir
        connection = UnixHTTPConnection(sock.path)
        status, body = post(connection, chat())
        assert status == 200
        assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "write_file"
        # keep-alive: a second request on the same connection
        status, body = post(connection, chat("again", tools=None))
        assert status == 200 and body["choices"][0]["message"]["content"].startswith("done")
        connection.close()
    assert meter.calls == 2 and meter.tools_offered == {"bash", "write_file"}
    assert {(r["agent_id"], r["task_id"], r["purpose"]) for r in recorder.rows} == {
        ("agent-1", "task-1", "agent")}


def test_models_endpoint(gw):
    with gw.serve(Meter()) as sock:
        connection = UnixHTTPConnection(sock.path)
        connection.request("GET", "/v1/models")
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["data"][0]["id"] == "qdagents/coder"


@pytest.mark.parametrize("body, path, status, message", [
    (b"{not json", "/v1/chat/completions", 400, "not valid JSON"),
    (b"[1, 2]", "/v1/chat/completions", 400, "JSON object"),
    (json.dumps(chat(stream=True)).encode(), "/v1/chat/completions", 400, "stream"),
    (b"x" * (MAX_BODY + 1), "/v1/chat/completions", 400, "byte limit"),
    (json.dumps(chat()).encode(), "/v1/completions", 404, "no such endpoint"),
    (json.dumps({"messages": "hi"}).encode(), "/v1/chat/completions", 400, "messages"),
])
def test_bad_requests_get_a_json_error(gw, fake_model, body, path, status, message):
    meter = Meter()
    with gw.serve(meter) as sock:
        got_status, got = post(UnixHTTPConnection(sock.path), body, path=path)
    assert got_status == status and message in got["error"]["message"]
    assert meter.errors == 1 and fake_model.calls == []


def test_budget_exceeded_is_a_429(fake_model):
    gw = Gateway(model="qdagents/coder", run_budget=Budget(calls=1))
    with gw.serve(Meter()) as sock:
        connection = UnixHTTPConnection(sock.path)
        assert post(connection, chat())[0] == 200
        status, body = post(connection, chat())
    assert status == 429 and body["error"]["type"] == "budget_exceeded"


def test_close_removes_the_socket_even_with_an_idle_connection_open(gw):
    sock = gw.serve(Meter())
    connection = UnixHTTPConnection(sock.path)
    assert post(connection, chat())[0] == 200  # the connection stays open (keep-alive)
    sock.close()
    sock.close()  # idempotent
    assert not os.path.exists(sock.path) and not os.path.exists(sock.dir)
    connection.close()


def test_permissions_let_another_uid_connect(gw):
    with gw.serve(Meter()) as sock:
        assert stat.S_IMODE(os.stat(sock.dir).st_mode) == 0o711
        assert stat.S_IMODE(os.stat(sock.path).st_mode) == 0o666
        python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
        if os.geteuid() != 0 or python is None:
            pytest.skip("connecting as uid 65534 needs root and a system python3")
        script = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
                  "s.sendall(b'GET /v1/models HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n');"
                  "print(s.recv(100).split(b'\\r\\n')[0].decode())")
        out = subprocess.run([python, "-c", script, sock.path], user=65534, group=65534,
                             capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "HTTP/1.1 200 OK", out.stderr


def test_many_sockets_at_once(recorder, use_model):
    use_model(FakeModel(latency=0.005))
    gw = Gateway(model="qdagents/coder", db=recorder)
    meters = [Meter() for _ in range(24)]
    sockets = [gw.serve(m, task_id=f"t{i}") for i, m in enumerate(meters)]
    errors = []

    def agent(sock):
        try:
            connection = UnixHTTPConnection(sock.path)
            for turn in range(4):
                status, _ = post(connection, chat(f"{sock.task_id} turn {turn}"))
                assert status == 200
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(s,)) for s in sockets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in sockets:
        s.close()
    assert errors == []
    assert [m.calls for m in meters] == [4] * 24
    assert len({s.path for s in sockets}) == 24
    assert sorted(r["task_id"] for r in recorder.rows) == sorted(f"t{i}" for i in range(24)
                                                                 for _ in range(4))


def test_close_waits_for_a_call_in_flight_but_not_forever(recorder, use_model):
    use_model(FakeModel(latency=0.5))
    gw = Gateway(model="qdagents/coder", db=recorder)
    for wait, finished in ((10.0, True), (0.05, False)):
        meter = Meter()
        sock = gw.serve(meter)
        connection = UnixHTTPConnection(sock.path)
        connection.request("POST", "/v1/chat/completions", body=json.dumps(chat()).encode())
        time.sleep(0.2)  # the call is now with the (slow) model
        started = time.monotonic()
        assert sock.close(wait=wait) is finished
        assert time.monotonic() - started < (1.0 if finished else 0.3)
        assert meter.calls == int(finished)
        connection.close()


def test_the_real_offline_model_behind_the_socket(recorder, use_model):
    offline = pytest.importorskip("qdagents.offline._model")
    use_model(offline.OfflineModel())
    meter = Meter()
    gw = Gateway(model="qdagents/coder", db=recorder, seed=0)
    with gw.serve(meter, task_id="t") as sock:
        status, body = post(UnixHTTPConnection(sock.path), chat())
    replay = Gateway(model="qdagents/coder", db=None, seed=0, mode="replay",
                     replay_source=recorder)
    assert replay.complete(chat(), meter=Meter()) == body
    assert status == 200 and body["choices"][0]["message"]["role"] == "assistant"
    assert meter.calls == 1 and meter.tokens > 0 and meter.list_cost_usd > 0
