"""The coder role's policy on hand-made and driven conversations."""

import json

import pytest

from offline_helpers import FIXTURES, drive, load_agent, variant
from qdagents.offline._model import OfflineModel
from qdagents.offline._coder import LOOK_COMMAND
from qdagents.offline._repair import candidates, masked_lines

SOURCE = '''def is_adult(age):
    """Adults are 18 or older."""
    return age > 18
'''
TEST = '''import unittest
from people import is_adult


class T(unittest.TestCase):
    def test_eighteen(self):
        self.assertTrue(is_adult(18))
'''
PROBLEM = "`people.py`: 18-year-olds are not treated as adults. Fix the bug in `people.py`."
LOOKED = f"==> ./people.py <==\n{SOURCE}==> ./test_visible.py <==\n{TEST}"


def tools_of(*names):
    return load_agent(variant(*names)).TOOLS


def ask(messages, tools, seed=0):
    return OfflineModel().respond("coder", messages, tools, seed)["message"]


def calls_of(message):
    return [(c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in message.get("tool_calls") or []]


def after_look(problem=PROBLEM, system="You fix bugs."):
    call = {"id": "c0", "type": "function",
            "function": {"name": "bash", "arguments": json.dumps({"command": LOOK_COMMAND})}}
    return [{"role": "system", "content": system}, {"role": "user", "content": problem},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c0", "content": LOOKED}]


def test_looks_before_editing():
    message = ask([{"role": "user", "content": PROBLEM}], tools_of())
    assert calls_of(message) == [("bash", {"command": LOOK_COMMAND})]


def test_looks_and_runs_tests_when_told_how():
    problem = PROBLEM + " Run the visible tests with `python3 test_visible.py`."
    names = [name for name, _ in calls_of(ask([{"role": "user", "content": problem}], tools_of()))]
    assert names == ["bash", "bash"]


@pytest.mark.parametrize("extra, tool", [((), "write_file"),
                                         (("add str_replace tool",), "str_replace"),
                                         (("add replace_lines tool",), "replace_lines")])
def test_edits_with_the_finest_tool(extra, tool):
    (name, args), = calls_of(ask(after_look(), tools_of(*extra)))
    assert name == tool
    if tool == "write_file":
        changed = [a for a, b in zip(SOURCE.splitlines(), args["content"].splitlines()) if a != b]
        assert len(changed) == 1 and len(args["content"].splitlines()) == 3
    elif tool == "str_replace":
        assert args["old"] in SOURCE and SOURCE.count(args["old"]) == 1
        assert len(args["new"].splitlines()) == 1
    else:
        assert args["start"] == args["end"] and len(args["content"].splitlines()) == 1


def test_prefers_the_traceback_line():
    code = "def f(x):\n    return x + 1\n\n\ndef g(items):\n    return items[len(items)]\n"
    assert any(c.kind == "index/slice/range off by one" for c in candidates("m.py", code))
    out = ('Traceback (most recent call last):\n  File "/w/test_visible.py", line 5, in test_g\n'
           '    g([1])\n  File "/w/m.py", line 6, in g\n    return items[len(items)]\n'
           'IndexError: list index out of range\n\nRan 1 test in 0.001s\n\nFAILED (errors=1)\n')
    messages = after_look("Fix m.py. Run the tests after each edit and retry until they pass.")
    messages[-1]["content"] = f"==> ./m.py <==\n{code}"
    messages.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "bash",
                      "arguments": json.dumps({"command": "python3 -m unittest"})}}]})
    messages.append({"role": "tool", "tool_call_id": "c1", "content": out})
    (name, args), _test = calls_of(ask(messages, tools_of("add str_replace tool")))
    assert name == "str_replace" and "items[len(items)" in args["old"]


def test_strings_and_comments_are_not_mutated():
    line = 'x = "a < b" + y  # if a < b'
    assert masked_lines(line)[0] == 'x = _______ + y  __________'
    assert all('"a < b"' in c.new and "# if a < b" in c.new for c in candidates("m.py", line))


def test_stops_after_one_edit_when_it_cannot_test():
    messages = after_look()
    edit = ask(messages, tools_of())
    messages.append(edit)
    messages.append({"role": "tool", "tool_call_id": edit["tool_calls"][0]["id"],
                     "content": "wrote 3 lines to people.py"})
    final = ask(messages, tools_of())
    assert not final.get("tool_calls") and final["content"].startswith("DONE")


@pytest.mark.parametrize("result", ["error: FileNotFoundError: nope",
                                    '{"error": {"type": "budget_exceeded"}}'])
def test_stops_when_the_last_tool_failed(result):
    messages = after_look()
    messages[-1]["content"] = result
    message = ask(messages, tools_of())
    assert not message.get("tool_calls") and message["content"].startswith("Stopping")


def test_without_an_edit_tool_it_prints_the_file():
    bash_only = [t for t in tools_of() if t["function"]["name"] == "bash"]
    message = ask(after_look(), bash_only)
    assert not message.get("tool_calls")
    body = message["content"].split("```python\n")[1].split("```")[0]
    assert len(body.splitlines()) == 3 and body != SOURCE


def test_answers_a_plan_request_with_text():
    messages = [{"role": "user", "content": PROBLEM},
                {"role": "user", "content": "Before using any tool, write a short numbered plan."}]
    message = ask(messages, tools_of())
    assert not message.get("tool_calls") and message["content"].startswith("Plan:")


def test_reads_with_read_and_list_tools():
    agent = load_agent(variant("add read_file tool", "add list_files tool", "add str_replace tool"))
    tools = [t for t in agent.TOOLS if t["function"]["name"] != "bash"]
    messages = [{"role": "user", "content": PROBLEM}]
    first = ask(messages, tools)
    assert [n for n, _ in calls_of(first)] == ["list_files"]
    messages += [first, {"role": "tool", "tool_call_id": first["tool_calls"][0]["id"],
                         "content": "people.py\ntest_visible.py"}]
    second = calls_of(ask(messages, tools))
    assert sorted(args["path"] for _, args in second) == ["people.py", "test_visible.py"]


def test_looks_at_files_one_by_one_when_output_is_cut():
    messages = after_look()
    messages[-1]["content"] = ("==> ./people.py <==\ndef is_adult(age):\n"
                               "[... 80 characters cut ...]\n")
    (name, args), = calls_of(ask(messages, tools_of()))
    assert args == {"command": "cat people.py"}


def test_test_loop_until_pass(task_copy):
    problem = task_copy("opening_hours")
    agent = load_agent(variant("add run_tests tool", "add str_replace tool"))
    messages = drive(agent, problem)
    assert messages[-1]["content"].startswith("DONE")
    assert "OPENS <= hour" in open("hours.py").read()
    names = [c["function"]["name"] for m in messages for c in m.get("tool_calls") or []]
    assert names[0] == "bash" and "run_tests" in names and "str_replace" in names
    assert "write_file" not in names


def test_moves_on_after_failures_and_never_repeats(task_copy):
    problem = task_copy("last_order")
    with open("test_visible.py", "a") as f:  # a test no single-line change can satisfy
        f.write("\nclass Never(unittest.TestCase):\n    def test(self):\n        self.fail()\n")
    agent = load_agent(variant("add run_tests tool", "add str_replace tool", "raise MAX_STEPS"))
    original = (FIXTURES / "last_order" / "workspace" / "orders.py").read_text()
    seen = []
    messages = [{"role": "system", "content": agent.SYSTEM_PROMPT},
                {"role": "user", "content": problem}]
    model = OfflineModel()
    for _ in range(30):
        message = model.respond("coder", messages, agent.TOOLS, 0)["message"]
        messages.append(message)
        if not message.get("tool_calls"):
            break
        for call in message["tool_calls"]:
            messages.append({"role": "tool", "tool_call_id": call["id"],
                             "content": agent.run_tool(call)})
        now = open("orders.py").read().splitlines()
        diff = [(i, b) for i, (a, b) in enumerate(zip(original.splitlines(), now)) if a != b]
        assert len(now) == len(original.splitlines()) and len(diff) <= 1  # tries are undone
        seen += diff
    assert len(seen) == len(set(seen)) >= 5
    assert message["content"] == "I could not find a fix." and open("orders.py").read() == original


def test_gives_up_early_without_an_instruction_to_retry(task_copy):
    problem = task_copy("last_order")
    with open("test_visible.py", "a") as f:
        f.write("\nclass Never(unittest.TestCase):\n    def test(self):\n        self.fail()\n")
    messages = drive(load_agent(variant()), problem)
    edits = [c for m in messages for c in m.get("tool_calls") or []
             if c["function"]["name"] == "write_file"]
    assert len(edits) == 2 and "still fail" in messages[-1]["content"]


def test_driven_fix_passes_hidden_tests(task_copy, tmp_path):
    """Judged by the task's own judge (the one verdict path), not by a runner of this test's."""
    from qdagents.sandbox import Limits, ProcessSandbox
    from qdagents.tasks import load_task_folder

    problem = task_copy("average_rating")
    drive(load_agent(variant("ask for a test loop")), problem)
    task = load_task_folder(FIXTURES / "average_rating")
    outcome = task.judge(tmp_path, sandbox=ProcessSandbox(warn=False), limits=Limits(seconds=30))
    assert outcome.passed and outcome.tests_run > 0, outcome.reason


@pytest.mark.parametrize("name, params, kind", [
    ("run_tests", {}, "tests"), ("bash", {"command": "string"}, "shell"),
    ("write_file", {"path": "string", "content": "string"}, "write"),
    ("edit", {"file_path": "string", "old_string": "string", "new_string": "string"}, "replace"),
    ("replace_lines", {"path": "string", "start": "integer", "end": "integer", "text": "string"},
     "lines"),
    ("read_file", {"path": "string"}, "read"), ("list_files", {"path": "string"}, "list"),
    ("insert_line", {"path": "string", "line": "integer", "text": "string"}, None),
    ("tools_info", {"path": "string"}, None)])
def test_tool_shapes_are_recognised(name, params, kind):
    from qdagents.offline._tools import recognise
    schema = {"type": "function", "function": {"name": name, "parameters": {
        "type": "object", "properties": {k: {"type": t} for k, t in params.items()},
        "required": list(params)}}}
    shape = recognise(schema)
    assert (shape.kind if shape else None) == kind
    if kind == "lines":
        assert shape.call(path="a.py", start=3, end=3, content="x\n")[1] == \
            {"path": "a.py", "start": 3, "end": 3, "text": "x\n"}
