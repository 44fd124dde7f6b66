"""Agent code as git commits: content-addressed ids, lineage as plain ``git log``.

An agent's id is the (abbreviated) hash of the git tree of its folder, so identical code is one
agent whatever emitter produced it, and it is never evaluated twice. Each agent is a commit whose
parent commits are its parent agents' commits (two for a crossover), kept alive by a ref
``refs/agents/<id>``. The repository is bare: nothing is checked out; agents are materialised on
demand with ``git archive``.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
import threading
from pathlib import Path

from qdagents.tasks import write_files

#: Length of an agent id: a prefix of the git tree hash.
ID_LENGTH = 12

_GIT_ENV = {"GIT_AUTHOR_NAME": "qdagents", "GIT_AUTHOR_EMAIL": "qdagents@localhost",
            "GIT_COMMITTER_NAME": "qdagents", "GIT_COMMITTER_EMAIL": "qdagents@localhost",
            "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}


class AgentStore:
    """A bare git repository of agents.

    Args:
        path: Folder of the repository (created if missing).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        if not (self.path / "HEAD").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self._git("init", "--bare", "--quiet", "--initial-branch=main")

    def _git(self, *args: str, input: bytes | None = None, env: dict | None = None) -> str:
        full_env = {**os.environ, **_GIT_ENV, **(env or {})}
        result = subprocess.run(["git", "--git-dir", str(self.path), *args], input=input,
                                capture_output=True, env=full_env)
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.decode().strip()}")
        return result.stdout.decode()

    def add(self, files: dict[str, str], *, parents: list[str] = (), message: str) -> tuple[str, str]:
        """Stores a folder given as ``{relative path: text}``.

        Args:
            files: The agent's files.
            parents: Ids of the parent agents (their commits become the commit's parents).
            message: Commit message (the emitter's rationale).
        Returns:
            ``(agent_id, commit_sha)``. Adding code that exists returns the existing agent.
        """
        with self._lock, tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "tree"
            write_files(files, work)
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git("--work-tree", str(work), "add", "-A", ".", env=env)
            tree = self._git("write-tree", env=env).strip()
            agent_id = tree[:ID_LENGTH]
            existing = self._commit_of(agent_id)
            if existing:
                return agent_id, existing
            parent_args = [a for p in parents for a in ("-p", self.commit(p))]
            commit = self._git("commit-tree", tree, *parent_args, "-m", message or agent_id).strip()
            self._git("update-ref", f"refs/agents/{agent_id}", commit)
            return agent_id, commit

    def add_folder(self, folder: str | Path, *, parents: list[str] = (), message: str) -> tuple[str, str]:
        """Stores an agent folder from disk (hidden files and caches left out)."""
        return self.add(read_folder(folder), parents=parents, message=message)

    def _commit_of(self, agent_id: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"refs/agents/{agent_id}").strip()
        except RuntimeError:
            return None

    def commit(self, agent_id: str) -> str:
        """The commit sha of an agent; KeyError if it is not in the store."""
        commit = self._commit_of(agent_id)
        if not commit:
            raise KeyError(f"no agent {agent_id!r} in {self.path}")
        return commit

    def __contains__(self, agent_id: str) -> bool:
        return self._commit_of(agent_id) is not None

    def files(self, agent_id: str) -> dict[str, str]:
        """The agent's files as ``{relative path: text}``."""
        data = self._archive(agent_id)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return {m.name: tar.extractfile(m).read().decode("utf-8", "replace")
                    for m in tar.getmembers() if m.isfile()}

    def export(self, agent_id: str, dest: str | Path) -> Path:
        """Writes a runnable copy of the agent into ``dest`` (created; must be empty if it exists)."""
        dest = Path(dest)
        if dest.exists() and any(dest.iterdir()):
            raise FileExistsError(f"{dest} exists and is not empty")
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(self._archive(agent_id))) as tar:
            tar.extractall(dest, filter="data")
        return dest

    def _archive(self, agent_id: str) -> bytes:
        full_env = {**os.environ, **_GIT_ENV}
        result = subprocess.run(["git", "--git-dir", str(self.path), "archive", "--format=tar",
                                 self.commit(agent_id)], capture_output=True, env=full_env)
        if result.returncode != 0:
            raise RuntimeError(f"git archive failed: {result.stderr.decode().strip()}")
        return result.stdout

    def lineage(self, agent_id: str) -> list[str]:
        """Commit messages from the agent back to the seed (first parents), newest first."""
        return self._git("log", "--first-parent", "--format=%s", self.commit(agent_id)).splitlines()


def read_folder(folder: str | Path, *, hidden: bool = False,
                undecodable: str = "replace") -> dict[str, str]:
    """Reads a folder as ``{relative path: text}``, in path order, bytecode caches and git
    metadata (``.git``: a repository task's history is not the agent's work) left out.

    The one folder reader: an agent's folder (hidden files left out too), and, with
    ``hidden=True, undecodable="skip"``, a task workspace as the agent left it (every file it
    wrote counts, a binary or unreadable one is skipped rather than diffed as text).

    Args:
        hidden: Keep files and folders whose name starts with a dot.
        undecodable: ``"replace"`` bytes that are not UTF-8, or ``"skip"`` such files (and files
            that cannot be read).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"agent folder {folder} does not exist")
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or "__pycache__" in rel.parts or ".git" in rel.parts or \
                (not hidden and any(p.startswith(".") for p in rel.parts)):
            continue
        if undecodable == "skip":
            try:
                files[rel.as_posix()] = path.read_text()
            except (UnicodeDecodeError, OSError):
                continue
        else:
            files[rel.as_posix()] = path.read_text(errors="replace")
    return files
