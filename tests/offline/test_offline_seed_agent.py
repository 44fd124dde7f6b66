"""The seed agent: small, stdlib only, laid out for evolution, and it runs end to end."""

import ast
import importlib.util
import json
import subprocess
import sys

from offline_helpers import FIXTURES, SEED_AGENT, load_agent
from qdagents.llm import Budget, Meter
from qdagents.offline._bench import offline_gateway, run_task

SOURCE = SEED_AGENT.read_text()


def test_small_stdlib_only_and_laid_out_for_evolution():
    assert len(SOURCE.splitlines()) < 120
    tree = ast.parse(SOURCE)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in getattr(node, "names", [])}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= set(sys.stdlib_module_names)
    agent = load_agent(SOURCE)
    assert isinstance(agent.MAX_STEPS, int) and isinstance(agent.OUTPUT_LIMIT, int)
    assert isinstance(agent.SYSTEM_PROMPT, str)
    assert [t["function"]["name"] for t in agent.TOOLS] == list(agent.DISPATCH) == \
        ["bash", "write_file"]
    assert "```" not in SOURCE  # the emitters show agent code inside fenced blocks


def test_tools_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    agent = load_agent(SOURCE)
    call = {"id": "1", "function": {"name": "write_file",
                                    "arguments": json.dumps({"path": "a.txt", "content": "hi\n"})}}
    assert "1 lines" in agent.run_tool(call)
    assert agent.bash("cat a.txt") == "hi\n"
    assert agent.bash("true").startswith("(no output")
    assert agent.run_tool({"id": "2", "function": {"name": "nope", "arguments": "{}"}}) \
        .startswith("error: KeyError")
    assert len(agent.trim("x" * 10 * agent.OUTPUT_LIMIT)) < 2 * agent.OUTPUT_LIMIT


def test_end_to_end_on_fixture_tasks(tmp_path):
    runs = [run_task(SEED_AGENT.parent, FIXTURES / task) for task in
            ("last_order", "average_rating", "opening_hours")]
    for run in runs:
        assert run.exit_code == 0, run.log
        assert run.tools_offered == ["bash", "write_file"]
        assert run.tokens > 0 and run.llm_calls >= 2 and run.lines_changed >= 2
    assert any(run.passed for run in runs)


def _run_with(env_gateway: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SEED_AGENT)], cwd=cwd, capture_output=True,
                          text=True, timeout=30,
                          env={"QDAGENTS_GATEWAY": env_gateway, "PATH": "/usr/bin:/bin",
                               "QDAGENTS_PROBLEM": str(FIXTURES / "last_order" / "problem.md")})


def test_stops_cleanly_on_an_error_body(tmp_path):
    with offline_gateway().serve(Meter(budget=Budget(calls=0))) as gateway:
        done = _run_with(gateway.path, tmp_path)
    assert done.returncode == 0 and "budget_exceeded" in done.stdout


def test_stops_cleanly_without_a_gateway(tmp_path):
    done = _run_with(str(tmp_path / "missing.sock"), tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("stopping:")


def test_stops_at_max_steps(tmp_path):
    (tmp_path / "agent.py").write_text(SOURCE.replace("MAX_STEPS = 8", "MAX_STEPS = 1"))
    run = run_task(tmp_path, FIXTURES / "last_order")
    assert run.llm_calls == 1 and "MAX_STEPS=1" in run.log


def test_landscape_variants_apply():
    spec = importlib.util.spec_from_file_location(
        "offline_landscape", SEED_AGENT.parents[2] / "experiments" / "offline_landscape.py")
    landscape = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(landscape)
    for name, names in landscape.NAMED.items():
        load_agent(landscape.named_variant(SOURCE, names, 0))
    walked = landscape.walked_variant(SOURCE, ["more tools", "finer edits"], 0,
                                      landscape.OfflineModel())
    names = {t["function"]["name"] for t in load_agent(walked).TOOLS}
    assert names & {"str_replace", "replace_lines"}
