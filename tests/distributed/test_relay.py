"""The relay between a worker's agent socket and the controller's gateway (no Dask needed).

Every attack here failed: a forged key, a replayed call, a tampered answer, a closed session,
garbage and oversized frames. Drops mid-call are agent-visible errors, recorded once.
"""

from __future__ import annotations

import http.client
import json
import pickle
import socket
import struct
import threading
import time
from dataclasses import replace

import pytest
from relay_support import Proxy, chat, llm_rows

from qdagents.distributed import GatewayRelay, RelayEndpoint, RelayError, TaskWork, ping
from qdagents.distributed._relay import MAX_CALL_FRAME, read_frame
from qdagents.llm import Budget, Meter
from qdagents.sandbox import Limits
from qdagents.tasks import load_suite


@pytest.fixture
def endpoint(gateway):
    with RelayEndpoint(gateway) as endpoint:
        yield endpoint


def session_and_relay(endpoint, *, attempt="a1", new_meter=Meter, **ticket_changes):
    session = endpoint.open_session(agent_id="agent-1", task_id="task-1", new_meter=new_meter)
    ticket = replace(endpoint.ticket(session), **ticket_changes)
    return session, GatewayRelay(ticket, attempt=attempt, timeout=20)


def test_a_call_is_answered_metered_and_recorded_at_home(endpoint, db):
    session, relay = session_and_relay(endpoint)
    worker_meter = Meter()
    body = relay.complete(chat(), meter=worker_meter)
    assert body["choices"][0]["message"]
    home = endpoint.finish(session, attempt="a1")
    assert home.calls == 1 and home.tokens > 0 and home.tools_offered == {"bash", "write_file"}
    assert worker_meter.calls == 0            # only the controller's meter counts
    rows = llm_rows(db, "agent-1")
    assert [(r["task_id"], r["error"]) for r in rows] == [("task-1", None)]
    assert rows[0]["prompt_tokens"] + rows[0]["completion_tokens"] == home.tokens


def test_the_agent_socket_on_a_worker_speaks_http(endpoint, tmp_path):
    """An agent talks HTTP to its unix socket exactly as at home; the relay carries it."""
    session, relay = session_and_relay(endpoint)
    with relay.serve(Meter(), agent_id="agent-1", task_id="task-1") as sock:
        connection = http.client.HTTPConnection("localhost")
        connection.sock = socket.socket(socket.AF_UNIX)
        connection.sock.connect(sock.path)
        connection.request("POST", "/v1/chat/completions", json.dumps(chat()),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["choices"]
        connection.request("GET", "/v1/models")
        models = json.loads(connection.getresponse().read())
        assert models["data"][0]["id"] == "qdagents/coder"
    assert endpoint.finish(session, attempt="a1").calls == 1


def test_each_attempt_has_its_own_meter_under_the_shared_budget(endpoint):
    evaluation = Budget()
    session, first = session_and_relay(
        endpoint, attempt="lost", new_meter=lambda: Meter(budget=Budget(parent=evaluation)))
    second = GatewayRelay(first.ticket, attempt="kept", timeout=20)
    first.complete(chat("one"), meter=Meter())
    second.complete(chat("two"), meter=Meter())
    second.complete(chat("three"), meter=Meter())
    kept = endpoint.finish(session, attempt="kept")
    assert kept.calls == 2
    assert session.meters["lost"].calls == 1       # spent, and charged to the evaluation
    assert evaluation.used_calls == 3


def test_a_forged_key_is_refused_before_the_gateway_is_called(endpoint, db):
    session, relay = session_and_relay(endpoint, key=bytes(32))
    body = relay.complete(chat(), meter=Meter())
    assert body["error"]["type"] == "relay_error"
    assert endpoint.rejected == 1 and llm_rows(db, "agent-1") == []
    assert session.meters == {}


def test_a_captured_call_cannot_be_replayed(endpoint, db):
    """The MAC covers a fresh challenge: the same bytes sent on a new connection are refused."""
    session, relay = session_and_relay(endpoint)
    proxy = Proxy(endpoint.address)
    try:
        relay.ticket = replace(relay.ticket, port=proxy.port)
        assert "choices" in relay.complete(chat(), meter=Meter())
        captured = bytes(proxy.upstream)
    finally:
        proxy.close()
    with socket.create_connection(endpoint.address) as attacker:
        read_frame(attacker, 64)               # a new challenge
        attacker.sendall(captured)
        attacker.settimeout(10)
        assert attacker.recv(1) == b""         # closed without an answer
    assert endpoint.rejected == 1
    assert len(llm_rows(db, "agent-1")) == 1   # only the genuine call


def test_a_tampered_answer_is_refused_by_the_worker(endpoint):
    session, relay = session_and_relay(endpoint)
    proxy = Proxy(endpoint.address, tamper=True)
    try:
        relay.ticket = replace(relay.ticket, port=proxy.port)
        body = relay.complete(chat(), meter=Meter())
    finally:
        proxy.close()
    assert body["error"]["type"] == "relay_error"
    assert "failed authentication" in body["error"]["message"]


def test_a_closed_session_makes_no_more_calls(endpoint, db):
    session, relay = session_and_relay(endpoint)
    endpoint.finish(session, attempt="a1")
    body = relay.complete(chat(), meter=Meter())
    assert body["error"]["type"] == "relay_error" and "closed" in body["error"]["message"]
    assert llm_rows(db, "agent-1") == []
    with pytest.raises(RelayError, match="refused the ping"):
        ping(relay.ticket)


@pytest.mark.parametrize("frame", [struct.pack(">I", 0xFFFFFFFF),       # oversized
                                   struct.pack(">I", 3) + b"\x00\x09ab",  # truncated header
                                   struct.pack(">I", 5) + b"hello"])       # garbage
def test_garbage_is_dropped_and_the_endpoint_goes_on(endpoint, frame):
    with socket.create_connection(endpoint.address) as attacker:
        read_frame(attacker, 64)
        attacker.sendall(frame)
        attacker.settimeout(10)
        try:
            assert attacker.recv(1) == b""
        except ConnectionResetError:
            pass
    session, relay = session_and_relay(endpoint)
    assert "choices" in relay.complete(chat(), meter=Meter())
    assert MAX_CALL_FRAME < 0xFFFFFFFF


def test_a_drop_mid_call_is_an_agent_visible_error_recorded_once(endpoint, db, model_latency):
    """The network drops after the call reached the controller: the agent gets an error at
    once (not after the model's 2 s), the call the gateway made stays recorded as spent, and
    one relay_error row says the answer never arrived."""
    model_latency(2.0)
    session, relay = session_and_relay(endpoint)
    proxy = Proxy(endpoint.address, cut_after_request=True)
    try:
        relay.ticket = replace(relay.ticket, port=proxy.port)
        started = time.monotonic()
        body = relay.complete(chat(), meter=Meter())
        seconds = time.monotonic() - started
    finally:
        proxy.close()
    assert body["error"]["type"] == "relay_error" and seconds < 1.5
    time.sleep(2.5)                            # the gateway's call finishes in the controller
    meter = endpoint.finish(session, attempt="a1", lost=relay.lost)
    rows = llm_rows(db, "agent-1")
    assert [r["error"] is None for r in rows].count(True) == 1     # the call made, spent
    errors = [r["error"] for r in rows if r["error"]]
    assert len(errors) == 1 and errors[0].startswith("relay_error")
    assert "never reached the agent" in errors[0]
    assert meter.calls == 1
    # not the agent's doing: the task is an infrastructure failure, its evaluation not scored
    assert meter.infrastructure_fault()[0] == "provider"


def test_an_unreachable_controller_is_an_error_recorded_at_home(gateway, db):
    with RelayEndpoint(gateway) as endpoint:
        session, relay = session_and_relay(endpoint)
    body = relay.complete(chat(), meter=Meter())          # the endpoint is closed
    assert body["error"]["type"] == "relay_error"
    assert len(relay.lost) == 1
    endpoint.finish(session, attempt="a1", lost=relay.lost)
    errors = [r["error"] for r in llm_rows(db, "agent-1")]
    assert len(errors) == 1 and "never reached the gateway" in errors[0]
    assert body["error"]["fault"] == "provider"


def test_closing_the_agent_socket_aborts_a_call_that_hangs(endpoint):
    """A controller that accepts and never answers cannot hang the task: the agent's end
    closes the socket, and the call returns an error at once."""
    session, relay = session_and_relay(endpoint)
    proxy = Proxy(endpoint.address, black_hole=True)
    relay.ticket = replace(relay.ticket, port=proxy.port)
    answers = []
    try:
        with relay.serve(Meter(), agent_id="agent-1", task_id="task-1"):
            caller = threading.Thread(target=lambda: answers.append(
                relay.complete(chat(), meter=Meter())))
            caller.start()
            time.sleep(0.5)
        started = time.monotonic()
        caller.join(5)
        assert not caller.is_alive() and time.monotonic() - started < 2
    finally:
        proxy.close()
    assert answers[0]["error"]["type"] == "relay_error"


def test_the_run_secret_never_travels(endpoint):
    """What a worker receives holds one session's key, never the run secret."""
    session = endpoint.open_session(agent_id="agent-1", task_id="task-1")
    work = TaskWork.of(agent_id="agent-1", agent_files={"agent.py": "print(1)"},
                       task=load_suite("builtin").tasks[0], sandbox={"backend": "bwrap"},
                       agent_limits=Limits(), test_limits=Limits(),
                       ticket=endpoint.ticket(session))
    data = pickle.dumps(work)
    assert endpoint.secret not in data and session.key in data
    # the reference travels (the judge reads the tests' API from it), never into a sandbox
    assert work.task.reference == load_suite("builtin").tasks[0].reference


def test_a_call_in_flight_when_the_task_ends_is_still_metered(endpoint, db, model_latency):
    """The agent is killed mid-call (its socket closes, the relay aborts): the gateway's call
    still finishes at home, and the task's meter waits for it, as a local socket's close does."""
    model_latency(1.5)
    session, relay = session_and_relay(endpoint)
    caller = threading.Thread(target=relay.complete, args=(chat(),), kwargs={"meter": Meter()})
    caller.start()
    deadline = time.monotonic() + 10
    while not session.in_flight:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    relay.abort()
    caller.join(2)
    assert not caller.is_alive() and len(relay.lost) == 1
    meter = endpoint.finish(session, attempt="a1", lost=relay.lost)
    assert meter.calls == 1 and meter.tokens > 0
    assert [r["error"] is None for r in llm_rows(db, "agent-1")].count(True) == 1
