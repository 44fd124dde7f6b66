import ast

import numpy as np
import pytest

from qdagents.emitters import EmitFailure, Parent, RandomStructural, make_emitter
from qdagents.emitters._random_structural import OPERATORS, PROMPT_SENTENCES

AGENT = '''"""A tiny agent."""
MAX_STEPS = 8
OUTPUT_LIMIT = 4000
SYSTEM_PROMPT = """You fix code.
Use the tools.
Stop when done."""


def bash(command):
    return command


def write_file(path, content):
    return path


def tool(name, description, **params):
    return {"name": name, "description": description}


TOOLS = [
    tool("bash", "Run a command.", command="the command"),
    tool("write_file", "Write a file.", path="path", content="content"),
]
DISPATCH = {
    "bash": bash,
    "write_file": write_file,
}
'''
PARENT = Parent(id="p", files={"agent.py": AGENT, "README.md": "MAX_STEPS = 1\n"}, fitness=0.5,
                descriptors={})


def never(messages):
    raise AssertionError("random_structural must not call the LLM")


def propose(ops, seed=0, parent=PARENT):
    return RandomStructural(operators=ops).propose([parent], complete=never,
                                                   rng=np.random.default_rng(seed))


def namespace(text):
    ns = {}
    exec(compile(text, "agent.py", "exec"), ns)
    return ns


def test_int_constant_halves_or_doubles_one_constant():
    seen = set()
    for seed in range(12):
        child = propose(["int_constant"], seed).files
        assert child["README.md"] == PARENT.files["README.md"]      # only .py files
        ns = namespace(child["agent.py"])
        changed = {(k, ns[k]) for k in ("MAX_STEPS", "OUTPUT_LIMIT")} - {("MAX_STEPS", 8),
                                                                         ("OUTPUT_LIMIT", 4000)}
        assert len(changed) == 1
        seen |= changed
    assert seen <= {("MAX_STEPS", 4), ("MAX_STEPS", 16), ("OUTPUT_LIMIT", 2000),
                    ("OUTPUT_LIMIT", 8000)} and len(seen) >= 3


def test_drop_and_duplicate_tool():
    ns = namespace(propose(["drop_tool"]).files["agent.py"])
    assert len(ns["TOOLS"]) == 1
    dup = propose(["duplicate_tool"], seed=1)
    ns = namespace(dup.files["agent.py"])
    names = [t["name"] for t in ns["TOOLS"]]
    assert len(names) == 3 and len(set(names)) == 3
    new = next(n for n in names if n.endswith("_2"))
    assert ns["DISPATCH"][new] is ns["DISPATCH"][new[:-2]] and "duplicated tool" in dup.message
    # a single tool is never dropped
    one = AGENT.replace('    tool("write_file", "Write a file.", path="path", content="content"),\n',
                        "")
    with pytest.raises(EmitFailure, match="no structural mutation"):
        propose(["drop_tool"], parent=Parent(id="q", files={"agent.py": one}, fitness=0,
                                             descriptors={}))


def test_trim_and_extend_prompt():
    ns = namespace(propose(["trim_prompt"]).files["agent.py"])
    assert ns["SYSTEM_PROMPT"] == "You fix code.\nUse the tools."
    ns = namespace(propose(["extend_prompt"]).files["agent.py"])
    head, added = ns["SYSTEM_PROMPT"].rsplit("\n", 1)
    assert head == "You fix code.\nUse the tools.\nStop when done." and added in PROMPT_SENTENCES


def test_deterministic_for_the_rng_and_always_valid_python():
    emitter = make_emitter("random_structural", name="rs")
    assert emitter.parents_needed == 1 and emitter.operators == list(OPERATORS)
    messages = set()
    for seed in range(25):
        a = emitter.propose([PARENT], complete=never, rng=np.random.default_rng(seed))
        b = emitter.propose([PARENT], complete=never, rng=np.random.default_rng(seed))
        assert a == b and a.files["agent.py"] != AGENT
        ast.parse(a.files["agent.py"])
        messages.add(a.message.split(":")[0])
    assert messages == set(OPERATORS)


def test_works_on_the_seed_agent_and_rejects_unknown_operators():
    from qdagents.components import seed_agent_dir
    files = {"agent.py": (seed_agent_dir() / "agent.py").read_text()}
    seed = Parent(id="s", files=files, fitness=0, descriptors={})
    ops = set()
    for s in range(25):
        child = RandomStructural().propose([seed], complete=never, rng=np.random.default_rng(s))
        ast.parse(child.files["agent.py"])
        ops.add(child.message.split(":")[0])
    assert ops == set(OPERATORS)
    with pytest.raises(ValueError, match="unknown structural operators"):
        RandomStructural(operators=["teleport"])
    with pytest.raises(EmitFailure):
        propose(None, parent=Parent(id="x", files={"notes.txt": "hi"}, fitness=0, descriptors={}))
