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


def git_write_tree(tmp_path, files):
    """The tree id git itself gives a folder (git add + write-tree), to check ours against."""
    from qdagents.tasks import write_files

    work, repo = tmp_path / "work", tmp_path / "plain.git"
    write_files(files, work)
    env = {"GIT_DIR": str(repo), "GIT_WORK_TREE": str(work), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True,
                   env={k: v for k, v in env.items() if k != "GIT_WORK_TREE"})
    subprocess.run(["git", "add", "-A", "."], cwd=work, check=True, env=env)
    return subprocess.run(["git", "write-tree"], check=True, env=env, capture_output=True,
                          text=True).stdout.strip()


#: Names whose order in a git tree is easy to get wrong ("a.b" < "a/" < "a0"), nesting, unicode.
TRICKY = {"a.b": "1\n", "a/b.py": "2\n", "a0": "3\n", "a-b/c/d.py": "4\n", "ü/é.py": "ünï\n",
          "A.py": "", "tools/x.py": "x\r\ny\n", "./dot.py": "5\n"}


def test_in_process_objects_are_what_git_writes(tmp_path):
    store = AgentStore(tmp_path / "agents.git")
    seed, _ = store.add({"agent.py": "v = 0\n"}, message="seed")
    agent_id, commit = store.add(TRICKY, parents=[seed], message="tricky")
    assert git_write_tree(tmp_path, TRICKY).startswith(agent_id)
    fsck = subprocess.run(["git", "--git-dir", str(store.path), "fsck", "--strict", "--full"],
                          capture_output=True, text=True)
    assert fsck.returncode == 0 and not fsck.stdout.strip(), fsck.stdout + fsck.stderr
    assert AgentStore(store.path).files(agent_id) == {k.removeprefix("./"): v
                                                      for k, v in TRICKY.items()}


def test_a_store_written_by_git_reads_the_same_after_gc(tmp_path):
    """A run's agents.git from before (written with git add) or packed by ``git gc``: the same
    code is the same agent, and files come back from the pack."""
    store = AgentStore(tmp_path / "agents.git")
    agent_id, commit = store.add(TRICKY, message="m")
    subprocess.run(["git", "--git-dir", str(store.path), "gc", "-q", "--prune=now"], check=True)
    assert not list((store.path / "objects").glob("??/*"))      # all packed now
    again = AgentStore(store.path)
    assert again.add(TRICKY, message="other message") == (agent_id, commit)
    assert again.files(agent_id)["ü/é.py"] == "ünï\n"
    child, _ = again.add({"agent.py": "new\n"}, parents=[agent_id], message="child")
    assert again.lineage(child) == ["child", "m"]


def test_bad_paths_and_cached_copies(tmp_path):
    store = AgentStore(tmp_path / "agents.git")
    for files in ({"../out.py": ""}, {"/etc/x": ""}, {"a": "1", "a/b": "2"}):
        with pytest.raises(ValueError):
            store.add(files, message="bad")
    agent_id, _ = store.add({"agent.py": "v = 1\n"}, message="m")
    store.files(agent_id)["agent.py"] = "changed by a caller"
    assert store.files(agent_id) == {"agent.py": "v = 1\n"}
