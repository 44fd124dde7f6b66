import subprocess

import pytest

from qdagents.agents import AgentStore, read_folder


def test_identical_code_is_one_agent(tmp_path):
    store = AgentStore(tmp_path / "agents.git")
    a, commit_a = store.add({"agent.py": "print(1)\n"}, message="seed")
    b, commit_b = store.add({"agent.py": "print(1)\n"}, message="same code again")
    assert (a, commit_a) == (b, commit_b)
    c, _ = store.add({"agent.py": "print(2)\n"}, parents=[a], message="child")
    assert c != a and c in store and "nope" not in store


def test_id_is_the_git_tree_hash(tmp_path):
    store = AgentStore(tmp_path / "agents.git")
    agent_id, commit = store.add({"agent.py": "x = 1\n", "tools/bash.py": "y = 2\n"}, message="m")
    tree = subprocess.run(["git", "--git-dir", str(store.path), "rev-parse", f"{commit}^{{tree}}"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert tree.startswith(agent_id)


def test_lineage_is_git_parents(tmp_path):
    store = AgentStore(tmp_path / "agents.git")
    seed, _ = store.add({"agent.py": "v = 0\n"}, message="seed")
    child, _ = store.add({"agent.py": "v = 1\n"}, parents=[seed], message="child")
    other, _ = store.add({"agent.py": "w = 1\n"}, parents=[seed], message="other")
    merged, commit = store.add({"agent.py": "v = w = 1\n"}, parents=[child, other], message="cross")
    parents = subprocess.run(["git", "--git-dir", str(store.path), "log", "-1", "--format=%P", commit],
                             capture_output=True, text=True, check=True).stdout.split()
    assert parents == [store.commit(child), store.commit(other)]
    assert store.lineage(merged) == ["cross", "child", "seed"]


def test_export_writes_a_runnable_copy(tmp_path):
    store = AgentStore(tmp_path / "agents.git")
    agent_id, _ = store.add({"agent.py": "print('hello from agent')\n", "lib/x.py": "X = 1\n"},
                            message="m")
    dest = store.export(agent_id, tmp_path / "out")
    assert read_folder(dest) == store.files(agent_id)
    out = subprocess.run(["python3", str(dest / "agent.py")], capture_output=True, text=True)
    assert out.stdout.strip() == "hello from agent"
    with pytest.raises(FileExistsError):
        store.export(agent_id, dest)
    with pytest.raises(KeyError):
        store.files("0" * 12)
