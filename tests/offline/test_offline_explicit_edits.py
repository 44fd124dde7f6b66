"""The coder carries out SEARCH/REPLACE edits given in a problem; it reads cut files in pieces."""

import json

from offline_helpers import SEED_AGENT, drive, load_agent, variant
from qdagents.offline._model import OfflineModel

MODULE = "".join(f"VALUE_{i} = {i}  # a long line of padding to make the file big\n"
                 for i in range(1, 121)) + "MAX_STEPS = 8\n"
PROBLEM = """The files in the working directory are the code of a coding agent (its entry point is \
agent.py). Improve the agent by editing these files.

I will allow more steps (raise MAX_STEPS).

agent.py
<<<<<<< SEARCH
MAX_STEPS = 8
=======
MAX_STEPS = 15
>>>>>>> REPLACE

agent.py
<<<<<<< SEARCH
THIS TEXT IS NOT THERE
=======
X = 1
>>>>>>> REPLACE
"""
LIMIT = 2000


def tool(name, **params):
    return {"type": "function", "function": {"name": name, "parameters": {
        "type": "object", "properties": {k: {"type": "string"} for k in params},
        "required": list(params)}}}


BASH = tool("bash", command="")
WRITE = tool("write_file", path="", content="")
REPLACE = tool("str_replace", path="", old="", new="")


def trimmed_bash(command, files):
    """A tiny shell over in-memory files, cutting output like the seed agent's ``trim``."""
    parts = command.split()
    text = files[parts[-1]]
    if parts[0] == "sed":
        first, last = map(int, parts[2].strip("'p").split(","))
        text = "".join(text.splitlines(keepends=True)[first - 1:last])
    if len(text) > LIMIT:
        half = LIMIT // 2
        text = text[:half] + f"\n[... {len(text) - LIMIT} characters cut ...]\n" + text[-half:]
    return text or "(no output, exit code 0)"


def run(tools, files, steps=12):
    """Drives the coder by hand over in-memory files; returns (messages, tool calls)."""
    model, made = OfflineModel(), []
    messages = [{"role": "system", "content": "You are a coding agent."},
                {"role": "user", "content": PROBLEM}]
    for _ in range(steps):
        message = model.respond("coder", messages, tools, 0)["message"]
        messages.append(message)
        if not message.get("tool_calls"):
            break
        for call in message["tool_calls"]:
            name, args = call["function"]["name"], json.loads(call["function"]["arguments"])
            made.append((name, args))
            if name == "bash":
                out = trimmed_bash(args["command"], files)
            elif name == "write_file":
                files[args["path"]] = args["content"]
                out = f"wrote {len(args['content'].splitlines())} lines to {args['path']}"
            else:
                text = files[args["path"]]
                if text.count(args["old"]) != 1:
                    out = f"error: the old text occurs {text.count(args['old'])} times"
                else:
                    files[args["path"]] = text.replace(args["old"], args["new"], 1)
                    out = "replaced"
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": out})
    return messages, made


def test_write_file_only_reads_the_cut_file_in_pieces_then_writes_it_whole():
    files = {"agent.py": MODULE}
    messages, made = run([BASH, WRITE], files)
    commands = [args["command"] for name, args in made if name == "bash"]
    assert commands[0] == "cat agent.py"  # cut: the file is too long for the tool's output
    assert commands[1].startswith("sed -n '1,") and len(commands) > 2
    assert all(c.startswith("sed -n ") for c in commands[1:])
    writes = [args for name, args in made if name == "write_file"]
    assert len(writes) == 1
    assert files["agent.py"] == MODULE.replace("MAX_STEPS = 8", "MAX_STEPS = 15")
    final = messages[-1]
    assert not final.get("tool_calls") and final["content"].startswith("DONE")
    assert "edit 2" in final["content"] and "0 times" in final["content"]  # said what it skipped


def test_str_replace_applies_the_edits_directly_without_reading():
    files = {"agent.py": MODULE}
    messages, made = run([BASH, REPLACE, WRITE], files)
    assert [name for name, _ in made] == ["str_replace", "str_replace"]
    assert made[0][1] == {"path": "agent.py", "old": "MAX_STEPS = 8", "new": "MAX_STEPS = 15"}
    assert files["agent.py"] == MODULE.replace("MAX_STEPS = 8", "MAX_STEPS = 15")
    final = messages[-1]
    assert final["content"].startswith("DONE") and "failed" in final["content"]


def test_no_applicable_edit_changes_nothing_and_says_so():
    files = {"agent.py": MODULE.replace("MAX_STEPS = 8", "MAX_STEPS = 9")}
    messages, made = run([BASH, WRITE], files)
    assert not [1 for name, _ in made if name == "write_file"]
    assert "None of the requested edits applies" in messages[-1]["content"]


def test_cannot_see_the_file_stops_honestly():
    messages, made = run([WRITE], {"agent.py": MODULE})
    assert made == [] and "will not rewrite it blind" in messages[-1]["content"]


def test_seed_agent_edits_its_own_code(tmp_path, monkeypatch):
    """The self-modification case: the seed agent's bash cuts agent.py; it still gets edited."""
    monkeypatch.chdir(tmp_path)
    for names, tool_name in (((), "write_file"), (("add str_replace tool",), "str_replace"),
                             (("add replace_lines tool",), "replace_lines")):
        code = variant(*names) if names else SEED_AGENT.read_text()
        (tmp_path / "agent.py").write_text(code)
        messages = drive(load_agent(code), PROBLEM)
        assert (tmp_path / "agent.py").read_text() == code.replace("MAX_STEPS = 8",
                                                                    "MAX_STEPS = 15"), names
        used = {c["function"]["name"] for m in messages for c in m.get("tool_calls") or []}
        assert tool_name in used and messages[-1]["content"].startswith("DONE")


def test_bug_fix_reads_a_long_module_in_pieces(tmp_path, monkeypatch):
    """Output cut even for the file alone: the coder reads it in line ranges and fixes the bug."""
    monkeypatch.chdir(tmp_path)
    padding = "".join(f"def helper_{i}(x):\n    return x * {i}  # padding padding padding\n\n\n"
                      for i in range(120))
    (tmp_path / "people.py").write_text(
        padding + 'def is_adult(age):\n    """Adults are 18 or older."""\n    return age > 18\n')
    (tmp_path / "test_visible.py").write_text(
        "import unittest\nfrom people import is_adult\n\n\nclass T(unittest.TestCase):\n"
        "    def test_eighteen(self):\n        self.assertTrue(is_adult(18))\n")
    agent = load_agent(variant("add run_tests tool"))
    messages = drive(agent, "`people.py`: 18-year-olds are not treated as adults (is_adult). "
                            "Run the visible tests with `python3 test_visible.py`.")
    commands = [json.loads(c["function"]["arguments"]).get("command", "")
                for m in messages for c in m.get("tool_calls") or []]
    assert any(c.startswith("sed -n ") for c in commands)
    assert "return age >= 18" in (tmp_path / "people.py").read_text()
    assert messages[-1]["content"].startswith("DONE")


def test_code_mentioning_a_cut_marker_is_not_taken_for_cut_output():
    from qdagents.offline._coder import _CUT
    source = SEED_AGENT.read_text()
    assert "characters cut" in source and not _CUT.search(source)
    assert _CUT.search("abc\n[... 120 characters cut ...]\nxyz")
    assert _CUT.search("some output [trimmed]")
