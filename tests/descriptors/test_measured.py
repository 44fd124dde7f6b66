import pytest

from qdagents.descriptors import measure
from qdagents.evaluation import TaskResult, count_changed_lines


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


def test_static_tool_count_only_when_no_request_was_made():
    code = {"agent.py": 'TOOLS = [{"type": "function"}, {\'type\': \'function\'}]\n'}
    assert measure(["tool_count"], [_task()], code) == {"tool_count": 2.0}


def test_granularity_bounds_and_unknown_names():
    assert measure(["edit_granularity"], [_task(lines_changed=5, lines_emitted=0)], {}) == \
        {"edit_granularity": 0.0}
    assert measure(["edit_granularity"], [_task(lines_changed=9, lines_emitted=3)], {}) == \
        {"edit_granularity": 1.0}
    with pytest.raises(ValueError, match="unknown descriptor"):
        measure(["charisma"], [], {})


def test_changed_lines_counts_added_and_removed():
    before = {"a.py": "x = 1\ny = 2\n", "gone.py": "z\n"}
    after = {"a.py": "x = 1\ny = 3\n", "new.py": "n\nm\n"}
    assert count_changed_lines(before, after) == 2 + 1 + 2
