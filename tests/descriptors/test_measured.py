"""Measured descriptors, and the gaming moves that must not move them (issue 9, item 5)."""

import os

import pytest

from qdagents.descriptors import measure
from qdagents.evaluation import TaskResult, count_source_changes
from qdagents.llm import Budget, Gateway, MemoryRecorder, Meter, register_offline_provider
from qdagents.tasks import Task


def _task(**kw):
    base = dict(task_id="t", passed=False, reason=None)
    return TaskResult(**{**base, **kw})


def test_measured_from_the_evaluation_not_the_code():
    tasks = [_task(tokens=1000, llm_calls=3, tools_offered=["bash", "write_file"],
                   lines_changed=2, lines_emitted=40),
             _task(tokens=3000, llm_calls=5, tools_offered=["bash", "str_replace"],
                   lines_changed=2, lines_emitted=4)]
    code = {"agent.py": '{"type": "function"}\n' * 9}   # the code claims 9 tools
    values = measure(["tool_count", "edit_granularity", "token_cost", "llm_calls_per_task"],
                     tasks, code)
    assert values == {"tool_count": 3.0, "edit_granularity": pytest.approx(4 / 44),
                      "token_cost": 2000.0, "llm_calls_per_task": 4.0}


def test_granularity_bounds_and_unknown_names():
    assert measure(["edit_granularity"], [_task(lines_changed=5, lines_emitted=0)], {}) == \
        {"edit_granularity": 0.0}
    assert measure(["edit_granularity"], [_task(lines_changed=9, lines_emitted=3)], {}) == \
        {"edit_granularity": 1.0}
    with pytest.raises(ValueError, match="unknown descriptor"):
        measure(["charisma"], [], {})


# --- tool_count: what the gateway served, nothing else ------------------------------------------

TOOLS = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
         for name in ("bash", "write_file", "grep", "run_tests", "search", "undo", "plan", "ask")]


def request(tools):
    return {"model": "m", "messages": [{"role": "user", "content": "fix the bug"}],
            "tools": tools}


def test_tool_schemas_in_comments_and_strings_count_nothing():
    code = {"agent.py": '# {"type": "function", "function": {"name": "a"}}\n'
                        'UNUSED = """{"type": "function"}""" * 8\n'}
    assert measure(["tool_count"], [_task()], code) == {"tool_count": 0.0}


def test_refused_and_failed_requests_offer_no_tools():
    register_offline_provider()
    served = Gateway(model="qdagents/coder")
    meter = Meter(budget=Budget(calls=1))
    assert "error" not in served.complete(request(TOOLS[:1]), meter=meter)
    refused = served.complete(request(TOOLS), meter=meter)          # over the call budget
    assert refused["error"]["type"] == "budget_exceeded"
    malformed = served.complete({**request(TOOLS), "stream": True}, meter=Meter())
    assert malformed["error"]["type"] == "invalid_request_error"
    missing = Gateway(model="qdagents/coder", mode="replay", db=MemoryRecorder())
    failed_meter = Meter()
    assert missing.complete(request(TOOLS), meter=failed_meter)["error"]["type"] == "replay_miss"
    assert meter.tools_offered == {"bash"} and failed_meter.tools_offered == set()
    tasks = [_task(tools_offered=sorted(meter.tools_offered), llm_calls=meter.calls),
             _task(tools_offered=sorted(failed_meter.tools_offered))]
    assert measure(["tool_count"], tasks, {}) == {"tool_count": 1.0}


# --- edit_granularity: changes to the task's own source, nothing else ---------------------------

SOURCE = '''"""Stock levels."""


def needs_reorder(level, threshold):
    # reorder at the threshold too
    return level < threshold
'''
TASK = Task(id="stock", problem="", kind="bugfix",
            files={"stock.py": SOURCE, "test_visible.py": "import stock\n", "data.txt": "a\nb\n"},
            hidden_tests={"test_stock_hidden.py": "import stock\n"},
            reference={"stock.py": SOURCE.replace("<", "<=")})


@pytest.fixture
def workspace(tmp_path):
    TASK.write_workspace(tmp_path)
    return tmp_path


def test_a_one_token_fix_is_two_lines(workspace):
    (workspace / "stock.py").write_text(SOURCE.replace("<", "<="))
    assert count_source_changes(TASK, workspace) == 2


@pytest.mark.parametrize("gaming_move", [
    "junk files", "tests deleted", "tests edited", "comments and blank lines",
    "trailing comments and spaces", "a file the task does not have"])
def test_gaming_moves_change_nothing(workspace, gaming_move):
    source = workspace / "stock.py"
    if gaming_move == "junk files":
        for i in range(20):
            (workspace / f"junk{i}.py").write_text("x = 1\n" * 500)
    elif gaming_move == "tests deleted":
        os.remove(workspace / "test_visible.py")
    elif gaming_move == "tests edited":
        (workspace / "test_visible.py").write_text("print('ok')\n" * 300)
    elif gaming_move == "comments and blank lines":
        source.write_text(SOURCE + "\n\n# junk\n" * 400 + "    # indented junk\n" * 100)
    elif gaming_move == "trailing comments and spaces":
        source.write_text("\n".join(line + "   # junk" if line.strip() and
                                    not line.startswith('"') else line + "   "
                                    for line in SOURCE.splitlines()))
    elif gaming_move == "a file the task does not have":
        (workspace / "helpers").mkdir()
        (workspace / "helpers" / "stock.py").write_text("y = 2\n" * 1000)
    assert count_source_changes(TASK, workspace) == 0


def test_data_files_of_the_task_count_as_source(workspace):
    (workspace / "data.txt").write_text("a\nc\n")
    assert count_source_changes(TASK, workspace) == 2


def test_deleting_or_linking_away_the_source_counts_its_lines(workspace, tmp_path_factory):
    lines = 3  # the docstring, the def and the return (the comment is not code)
    os.remove(workspace / "stock.py")
    assert count_source_changes(TASK, workspace) == lines
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "stock.py"
    elsewhere.write_text(SOURCE)
    os.symlink(elsewhere, workspace / "stock.py")   # never followed
    assert count_source_changes(TASK, workspace) == lines
