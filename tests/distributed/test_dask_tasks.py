"""Tasks of an agent on a LocalCluster of worker processes, each in a real bubblewrap sandbox.

The controller keeps the gateway, the meters and the database; workers only run sandboxes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from relay_support import llm_rows

sys.path.insert(0, str(Path(__file__).parents[1] / "tasks"))   # the early-stop tests' suite
from test_early_stop import SUITE, agent, evaluator as local_evaluator  # noqa: E402,F401

from qdagents.agents import AgentStore, read_folder
from qdagents import compose
from qdagents.components import build_evaluator, build_gateway, seed_agent_dir
from qdagents.distributed import (DaskCluster, DaskTaskRunner, RelayEndpoint, RelayTicket,
                                  WorkerUnusable, check_worker, without_solution)
from qdagents.evaluation import EvaluationUnavailable, Evaluator
from qdagents.llm import Gateway
from qdagents.runner import AgentEvaluation
from qdagents.sandbox import Limits
from qdagents.store import RunDatabase

pytestmark = pytest.mark.bwrap

FAKE_KEY = ("QDAGENTS_TEST_PROVIDER_API_KEY", "sk-never-on-a-worker")


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, started while the controller holds a provider key."""
    from sandbox_support import bwrap_works, need

    need(bwrap_works(), "bubblewrap")
    os.environ[FAKE_KEY[0]] = FAKE_KEY[1]
    try:
        with DaskCluster(workers=2) as cluster:
            yield cluster
    finally:
        del os.environ[FAKE_KEY[0]]


@pytest.fixture
def cfg():
    return compose(["tasks.limit=3", "sandbox=bwrap"])


def local_measures(cfg, tmp_path, name="local"):
    """Per-task results of the seed agent evaluated at home (the reference)."""
    evaluator = build_evaluator(cfg, gateway=build_gateway(
        cfg, db=RunDatabase(tmp_path / f"{name}.sqlite")))
    return {r.task_id: r for r in evaluator.evaluate("seed", seed_agent_dir()).tasks}


def measure(result) -> tuple:
    return (result.passed, result.tokens, result.llm_calls, result.lines_emitted,
            result.tools_offered, result.lines_changed, result.exit_code)


def runner_for(cfg, cluster, endpoint, evaluator, sandbox=None):
    return DaskTaskRunner(client=cluster.client, endpoint=endpoint,
                          sandbox=sandbox or dict(cfg["sandbox"]),
                          agent_limits=evaluator.agent_limits, test_limits=evaluator.test_limits)


def test_tasks_on_workers_measure_what_a_local_evaluation_measures(cfg, cluster, tmp_path):
    expected = local_measures(cfg, tmp_path)
    db = RunDatabase(tmp_path / "dask.sqlite")
    gateway = build_gateway(cfg, db=db)
    evaluator = build_evaluator(cfg, gateway=gateway)
    with RelayEndpoint(gateway) as endpoint:
        runner = runner_for(cfg, cluster, endpoint, evaluator)
        checks = runner.preflight()
        results = runner.run_tasks("seed", read_folder(seed_agent_dir()), evaluator.suite.tasks,
                                   new_meter=evaluator.task_meter)
    assert {c.worker for c in checks} == set(cluster.workers) and all(c.ok for c in checks)
    assert [r.task_id for r in results] == evaluator.suite.ids
    assert {r.task_id: measure(r) for r in results} == {
        k: measure(v) for k, v in expected.items()}
    assert any(r.passed for r in results) and all(r.llm_calls > 0 for r in results)
    rows = llm_rows(db, "seed")           # recorded by the controller, per task
    assert {r["task_id"] for r in rows} == set(evaluator.suite.ids)
    assert len(rows) == sum(r.llm_calls for r in results)


@pytest.mark.parametrize("stages", [None, [{"tasks": 2, "threshold": 1.0}, {"tasks": None}]])
def test_an_evaluation_on_the_cluster_is_the_one_at_home(cluster, tmp_path, stages):
    """The evaluator with a Dask task runner gives the evaluation a local one gives, staged
    evaluation included (the second stage is never submitted when the first falls short)."""
    overrides = ["tasks.limit=4", "sandbox=bwrap"]
    if stages:
        overrides.append("evaluation.stages=[{tasks:2,threshold:1.0},{tasks:null}]")
    cfg = compose(overrides)
    home = build_evaluator(cfg, gateway=build_gateway(cfg, db=RunDatabase(tmp_path / "h.sqlite")))
    expected = home.evaluate("seed", seed_agent_dir())
    gateway = build_gateway(cfg, db=RunDatabase(tmp_path / "d.sqlite"))
    with RelayEndpoint(gateway) as endpoint:
        runner = runner_for(cfg, cluster, endpoint, home)
        evaluator = build_evaluator(cfg, gateway=gateway, task_runner=runner)
        assert evaluator.sandbox is None                 # the controller needs none
        got = evaluator.evaluate("seed", seed_agent_dir())
    assert (got.fitness, got.descriptors, got.stage, got.failure) == (
        expected.fitness, expected.descriptors, expected.stage, expected.failure)
    assert [measure(t) for t in got.tasks] == [measure(t) for t in expected.tasks]
    assert len(got.tasks) == (2 if stages else 4) and expected.fitness < 1.0


def test_provider_keys_do_not_reach_the_workers(cluster):
    assert os.environ[FAKE_KEY[0]] == FAKE_KEY[1]
    seen = cluster.client.run(lambda: os.environ.get(FAKE_KEY[0]))   # read on each worker
    assert seen and set(seen.values()) == {""}


def test_preflight_names_the_worker_whose_sandbox_cannot_judge(cfg, cluster, tmp_path):
    gateway = build_gateway(cfg, db=RunDatabase(tmp_path / "run.sqlite"))
    evaluator = build_evaluator(cfg, gateway=gateway)
    broken = {"backend": "bwrap", "bwrap": "/nonexistent/bwrap"}
    with RelayEndpoint(gateway) as endpoint:
        runner = runner_for(cfg, cluster, endpoint, evaluator, sandbox=broken)
        with pytest.raises(WorkerUnusable) as error:
            runner.preflight()
        assert error.value.worker in cluster.workers
        assert "cannot judge task" in str(error.value) and "more unusable worker" in str(error.value)
        # a worker that joins after the preflight is held to the same rule on its first task
        with pytest.raises(WorkerUnusable, match="cannot judge task"):
            runner.run_tasks("seed", read_folder(seed_agent_dir()), evaluator.suite.tasks[:1],
                             new_meter=evaluator.task_meter)
        assert endpoint.sessions == {}


def test_preflight_says_what_is_missing(cluster):
    """A missing docker image, an unreachable relay and another qdagents version are each
    named (checked in this process, as a worker would)."""
    closed = RelayTicket(host="127.0.0.1", port=1, session="s", key=bytes(32), model="m")
    check = check_worker(sandbox={"backend": "docker", "image": "qdagents-no-such-image:0"},
                         ticket=closed, version="0.0.0-elsewhere")
    text = " | ".join(check.problems)
    assert not check.ok
    assert "0.0.0-elsewhere on the controller" in text
    assert "sandbox docker:" in text
    assert "cannot reach the controller's relay at 127.0.0.1:1" in text
    tls = check_worker(sandbox={"backend": "bwrap"}, ticket=RelayTicket(
        host="127.0.0.1", port=1, session="s", key=bytes(32), model="m", tls=True))
    assert tls.problems == ["the controller's relay speaks TLS but this worker has no TLS "
                            "certificates (start it with the cluster's --tls-ca-file, "
                            "--tls-cert and --tls-key)"]


def test_a_worker_killed_mid_task_loses_only_that_attempt(cfg, tmp_path, model_latency):
    """SIGKILL a worker process while its agent is mid-task: Dask runs the task again
    elsewhere, the task is counted once with the meter of the attempt that came back, and the
    lost attempt's calls stay recorded."""
    cfg = compose(["tasks.limit=2", "sandbox=bwrap"])
    expected = local_measures(cfg, tmp_path)
    model_latency(0.7)
    db = RunDatabase(tmp_path / "dask.sqlite")
    gateway = build_gateway(cfg, db=db)
    evaluator = build_evaluator(cfg, gateway=gateway)
    with DaskCluster(workers=2) as cluster, RelayEndpoint(gateway) as endpoint:
        runner = runner_for(cfg, cluster, endpoint, evaluator)
        runner.preflight()
        out = []
        thread = threading.Thread(target=lambda: out.append(runner.run_tasks(
            "seed", read_folder(seed_agent_dir()), evaluator.suite.tasks,
            new_meter=evaluator.task_meter)))
        thread.start()
        deadline = time.monotonic() + 60
        victim = None
        while victim is None and time.monotonic() < deadline:
            victim = next((s for s in list(endpoint.sessions.values()) if s.answered), None)
            time.sleep(0.05)
        assert victim is not None, "no task made a call"
        worker = next(w for w, keys in cluster.client.processing().items()
                      if any(victim.id[:8] in str(k) for k in keys))
        pid = cluster.client.run(os.getpid, workers=[worker])[worker]
        os.kill(pid, signal.SIGKILL)
        thread.join(120)
        assert not thread.is_alive()
    results = out[0]
    assert [r.task_id for r in results] == evaluator.suite.ids            # each task once
    assert {r.task_id: measure(r) for r in results} == {
        k: measure(v) for k, v in expected.items()}
    victim_result = next(r for r in results if r.task_id == victim.task_id)
    calls = [m.calls for m in victim.meters.values()]
    assert len(calls) == 2 and min(calls) >= 1                              # two attempts
    assert victim_result.llm_calls in calls
    rows = [r for r in llm_rows(db, "seed") if r["task_id"] == victim.task_id]
    assert len([r for r in rows if r["error"] is None]) == sum(calls)      # lost calls recorded


def test_with_tls_the_cluster_and_the_relay_are_encrypted_and_need_a_certificate(cfg, tmp_path):
    """Dask's mutual TLS secures the scheduler, the workers and the relay with one set of
    certificates; a caller without a certificate from the cluster's CA is refused."""
    import ssl
    from dataclasses import replace

    from distributed import Security
    from relay_support import chat

    from qdagents.distributed import GatewayRelay
    from qdagents.llm import Meter

    db = RunDatabase(tmp_path / "tls.sqlite")
    gateway = build_gateway(cfg, db=db)
    evaluator = build_evaluator(cfg, gateway=gateway)
    with DaskCluster(workers=1, tls=Security.temporary()) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        with RelayEndpoint(gateway, tls_context=cluster.relay_tls_context()) as endpoint:
            runner = runner_for(cfg, cluster, endpoint, evaluator)
            runner.preflight()
            [result] = runner.run_tasks("seed", read_folder(seed_agent_dir()),
                                        evaluator.suite.tasks[:1], new_meter=evaluator.task_meter)
            assert result.llm_calls > 0 and result.exit_code == 0
            session = endpoint.open_session(agent_id="intruder", task_id="t")
            anyone = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            anyone.check_hostname, anyone.verify_mode = False, ssl.CERT_NONE
            for ticket, context in ((replace(endpoint.ticket(session), tls=False), None),
                                    (endpoint.ticket(session), anyone)):
                body = GatewayRelay(ticket, attempt="a", tls_context=context,
                                    timeout=2).complete(chat(), meter=Meter())
                assert body["error"]["type"] == "relay_error"
    assert llm_rows(db, "intruder") == [] and len(llm_rows(db, "seed")) == result.llm_calls


def test_self_modification_runs_on_a_worker_as_at_home(cfg, cluster, tmp_path):
    """DGM self-modification on a worker leaves the same code as at home, with its calls
    recorded at home under the parent's id and task self-modify-<step>."""
    from qdagents.components import AgentWorkshop

    files = read_folder(seed_agent_dir())
    problem = ("The files in the working directory are the code of a coding agent (its entry "
               "point is agent.py). Improve the agent by editing these files.\n\n"
               "Add a tool that runs the tests and shows their output.")
    home_gateway = build_gateway(cfg, db=RunDatabase(tmp_path / "home.sqlite"))
    expected = AgentWorkshop(build_evaluator(cfg, gateway=home_gateway), step=7).run(
        files, dict(files), problem, label="parent-1")
    db = RunDatabase(tmp_path / "dask.sqlite")
    gateway = build_gateway(cfg, db=db)
    evaluator = build_evaluator(cfg, gateway=gateway)
    with RelayEndpoint(gateway) as endpoint:
        runner = runner_for(cfg, cluster, endpoint, evaluator)
        workshop = AgentWorkshop(build_evaluator(cfg, gateway=gateway, task_runner=runner), step=7)
        after = workshop.run(files, dict(files), problem, label="parent-1")
    assert after == expected and after != files
    rows = llm_rows(db, "parent-1")
    assert rows and {r["task_id"] for r in rows} == {"self-modify-7"}


def test_a_task_whose_workers_keep_dying_is_given_up_with_a_reason(cfg, tmp_path, model_latency):
    """With distributed.scheduler.allowed-failures=0, one worker death gives the task up:
    it is a failed task that says why, and the run goes on."""
    import dask

    model_latency(0.7)
    gateway = build_gateway(cfg, db=RunDatabase(tmp_path / "dask.sqlite"))
    evaluator = build_evaluator(cfg, gateway=gateway)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            DaskCluster(workers=1) as cluster, RelayEndpoint(gateway) as endpoint:
        runner = runner_for(cfg, cluster, endpoint, evaluator)
        out = []
        thread = threading.Thread(target=lambda: out.append(runner.run_tasks(
            "seed", read_folder(seed_agent_dir()), evaluator.suite.tasks[:1],
            new_meter=evaluator.task_meter)))
        thread.start()
        deadline = time.monotonic() + 60
        while not any(s.answered for s in list(endpoint.sessions.values())):
            assert time.monotonic() < deadline, "the task made no call"
            time.sleep(0.05)
        [pid] = cluster.client.run(os.getpid).values()
        os.kill(pid, signal.SIGKILL)
        thread.join(60)
        assert endpoint.sessions == {}
    [result] = out[0]
    assert not result.passed and "its worker died 1 time(s)" in result.reason


def test_a_task_that_cannot_run_on_the_workers_is_unavailable_not_scored(cfg, cluster, tmp_path):
    """Availability is the workers' to say (the controller has no sandbox): a repository task
    needs docker, so on bwrap workers it is left out of the suite with the worker's reason."""
    from qdagents.tasks import RepositoryTask

    repository = RepositoryTask(id="org__repo-1", problem="fix it", repo="org/repo",
                                base_commit="abc", test_patch="", fail_to_pass=("t",),
                                pass_to_pass=(), image="sweb.eval.x86_64.org__repo-1:latest",
                                test_command="pytest", patch="the gold patch")
    gateway = build_gateway(cfg, db=RunDatabase(tmp_path / "run.sqlite"))
    home = build_evaluator(cfg, gateway=gateway)
    with RelayEndpoint(gateway) as endpoint:
        runner = runner_for(cfg, cluster, endpoint, home)
        found = runner.unavailable([*home.suite.tasks, repository])
    assert list(found) == [repository.id]
    assert found[repository.id].startswith("on worker tcp://127.0.0.1:")
    assert without_solution(repository).patch == "" and repository.patch   # never sent
    assert "runs in its own docker image" in found[repository.id]


def test_a_lost_scheduler_stops_the_run_rather_than_score_the_agent(cfg, tmp_path, model_latency):
    """The scheduler closes mid-evaluation: the run's evaluation step raises
    EvaluationUnavailable (the run stops, the agent stays pending), not a fitness-0 evaluation."""
    import dask

    model_latency(0.5)
    store = AgentStore(tmp_path / "agents.git")
    agent_id, _ = store.add(read_folder(seed_agent_dir()), message="seed")
    gateway = build_gateway(cfg, db=RunDatabase(tmp_path / "dask.sqlite"))
    home = build_evaluator(cfg, gateway=gateway)
    out = []
    # short connect timeouts: the client gives up on the lost scheduler, and the cluster closes,
    # in seconds rather than 30
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), \
            DaskCluster(workers=1, timeout=5) as cluster, RelayEndpoint(gateway) as endpoint:
        runner = runner_for(cfg, cluster, endpoint, home)
        evaluate = AgentEvaluation(evaluator=build_evaluator(cfg, gateway=gateway,
                                                             task_runner=runner), store=store)

        def evaluation():
            try:
                out.append(evaluate(SimpleNamespace(agent_id=agent_id, step=0)))
            except Exception as exc:
                out.append(exc)

        thread = threading.Thread(target=evaluation)
        thread.start()
        deadline = time.monotonic() + 60
        while not any(s.answered for s in list(endpoint.sessions.values())):
            assert time.monotonic() < deadline, "the task made no call"
            time.sleep(0.05)
        cluster.cluster.sync(cluster.cluster.scheduler.close)
        thread.join(60)
        assert endpoint.sessions == {}
    [raised] = out
    assert isinstance(raised, EvaluationUnavailable), raised
    assert str(raised).startswith(f"the Dask cluster failed running agent {agent_id}'s tasks: ")
    assert "scheduler-connection-lost" in str(raised) and "\n" not in str(raised)


def test_an_agent_that_fails_alike_stops_as_soon_as_its_first_tasks_are_known(
        cfg, cluster, gateway, agent, bwrap_backend):
    """Early stop on the cluster: the first 3 tasks crash alike (exit 3) and the others would
    loop to their time limit; the evaluation ends when the first 3 are in, the other tasks are
    cancelled, and it is what a local evaluation gives."""
    looping_from = len(SUITE.tasks[3].files["calc.py"])   # the tasks' calc.py differ in length
    crasher = agent(f"import sys\nif len(open('calc.py').read()) < {looping_from}:\n"
                    f"    sys.exit(3)\nwhile True:\n    pass\n")
    limits = Limits(seconds=20)
    with RelayEndpoint(gateway) as endpoint:
        runner = DaskTaskRunner(client=cluster.client, endpoint=endpoint, sandbox=dict(
            cfg["sandbox"]), agent_limits=limits, test_limits=Limits(seconds=30))
        on_dask = Evaluator(suite=SUITE, sandbox=None, gateway=gateway,
                            descriptors=["tool_count"], agent_limits=limits, task_runner=runner)
        started = time.monotonic()
        got = on_dask.evaluate("crasher", crasher)
        seconds = time.monotonic() - started
        assert endpoint.sessions == {}
    expected = local_evaluator(bwrap_backend).evaluate("crasher", crasher)
    assert seconds < limits.seconds, "it waited for a looping task"
    assert got.failure == expected.failure and "exited with code 3" in got.failure
    assert got.failure.startswith("stopped early: the agent failed the same way on its first 3")
    assert [measure(t) for t in got.tasks] == [measure(t) for t in expected.tasks]
    assert [t.task_id for t in got.tasks] == SUITE.ids[:3] and got.fitness == 0.0
