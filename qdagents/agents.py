"""Agent code as git commits: content-addressed ids, lineage as plain ``git log``.

An agent's id is the (abbreviated) hash of the git tree of its folder, so identical code is one
agent whatever emitter produced it, and it is never evaluated twice. Each agent is a commit whose
parent commits are its parent agents' commits (two for a crossover), kept alive by a ref
``refs/agents/<id>``. The repository is bare: nothing is checked out; agents are materialised on
demand from its objects.

Adding an agent writes git's loose objects and its ref in-process, and the files of recently seen
agents are kept in memory: a git subprocess costs ~10 ms, and a step that ran eight of them spent
~100 ms in the store where a 1 s evaluation allows 10 ms (issue 12). What is written is plain git
(``git fsck`` accepts it, ids are what ``git write-tree`` gives; pinned by the tests), so every
git tool still reads the run.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import weakref
import zlib
from collections import OrderedDict
from pathlib import Path, PurePosixPath

from qdagents.tasks import write_files
from qdagents.tasks._task import check_relative

#: Length of an agent id: a prefix of the git tree hash.
ID_LENGTH = 12
#: How many agents' files are kept in memory (parents and neighbours are read again and again).
CACHED_AGENTS = 2048

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
        self._lock = threading.RLock()
        self._commits: dict[str, str] | None = None      # agent id -> commit, read on first use
        self._files: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._reader: subprocess.Popen | None = None     # git cat-file --batch, started on use
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
        for path in files:
            check_relative(path)
        with self._lock:
            tree = self._write_tree(_nest(files))
            agent_id = tree[:ID_LENGTH]
            existing = self._commit_of(agent_id)
            if existing:
                return agent_id, existing
            parent_lines = "".join(f"parent {self.commit(p)}\n" for p in parents)
            stamp = "qdagents <qdagents@localhost> 946684800 +0000"
            commit = self._write_object("commit", (
                f"tree {tree}\n{parent_lines}author {stamp}\ncommitter {stamp}\n\n"
                f"{(message or agent_id).strip()}\n").encode())
            ref = self.path / "refs" / "agents" / agent_id
            ref.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(ref, f"{commit}\n".encode())
            self._commits[agent_id] = commit
            self._remember(agent_id, dict(files))
            return agent_id, commit

    def _write_object(self, kind: str, body: bytes) -> str:
        """Writes one loose git object (if new) and returns its sha."""
        data = f"{kind} {len(body)}\0".encode() + body
        sha = hashlib.sha1(data).hexdigest()
        path = self.path / "objects" / sha[:2] / sha[2:]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, zlib.compress(data))
        return sha

    def _write_tree(self, tree: dict) -> str:
        """Writes a nested ``{name: text or subtree}`` as git trees and blobs; the root's sha."""
        entries = []
        for name, value in tree.items():
            if isinstance(value, dict):
                entries.append((name + "/", b"40000 ", name, self._write_tree(value)))
            else:
                entries.append((name, b"100644 ", name,
                                self._write_object("blob", value.encode("utf-8"))))
        # git orders entries by name, a folder's name as if it ended in "/"
        body = b"".join(mode + name.encode() + b"\0" + bytes.fromhex(sha)
                        for _, mode, name, sha in sorted(entries, key=lambda e: e[0].encode()))
        return self._write_object("tree", body)

    def _remember(self, agent_id: str, files: dict[str, str]) -> None:
        self._files[agent_id] = files
        self._files.move_to_end(agent_id)
        while len(self._files) > CACHED_AGENTS:
            self._files.popitem(last=False)

    def add_folder(self, folder: str | Path, *, parents: list[str] = (), message: str) -> tuple[str, str]:
        """Stores an agent folder from disk (hidden files and caches left out)."""
        return self.add(read_folder(folder), parents=parents, message=message)

    def _commit_of(self, agent_id: str) -> str | None:
        with self._lock:
            if self._commits is None:      # every ref read once, in one call
                self._commits = dict(line.split() for line in self._git(
                    "for-each-ref", "--format=%(refname:lstrip=2) %(objectname)",
                    "refs/agents/").splitlines())
            if agent_id not in self._commits:
                try:
                    self._commits[agent_id] = self._git(
                        "rev-parse", "--verify", "--quiet", f"refs/agents/{agent_id}").strip()
                except RuntimeError:
                    return None          # not remembered: another process may add it later
            return self._commits[agent_id]

    def commit(self, agent_id: str) -> str:
        """The commit sha of an agent; KeyError if it is not in the store."""
        commit = self._commit_of(agent_id)
        if not commit:
            raise KeyError(f"no agent {agent_id!r} in {self.path}")
        return commit

    def __contains__(self, agent_id: str) -> bool:
        return self._commit_of(agent_id) is not None

    def files(self, agent_id: str) -> dict[str, str]:
        """The agent's files as ``{relative path: text}`` (a copy: the caller may change it)."""
        with self._lock:
            if agent_id not in self._files:
                self._remember(agent_id, self._read_tree(f"{self.commit(agent_id)}^{{tree}}"))
            self._files.move_to_end(agent_id)
            return dict(self._files[agent_id])

    def _read_tree(self, tree: str, prefix: str = "") -> dict[str, str]:
        files = {}
        kind, body = self._read_object(tree)
        while body:
            head, _, rest = body.partition(b"\0")
            mode, _, name = head.partition(b" ")
            sha, body = rest[:20].hex(), rest[20:]
            path = prefix + name.decode("utf-8", "replace")
            if mode == b"40000":
                files.update(self._read_tree(sha, path + "/"))
            elif mode not in (b"160000", b"120000"):     # a submodule, a symlink: not files
                files[path] = self._read_object(sha)[1].decode("utf-8", "replace")
        return files

    def _read_object(self, name: str) -> tuple[str, bytes]:
        """One object through a long-lived ``git cat-file --batch`` (loose or packed alike)."""
        if self._reader is None or self._reader.poll() is not None:
            self._reader = subprocess.Popen(
                ["git", "--git-dir", str(self.path), "cat-file", "--batch"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, **_GIT_ENV})
            weakref.finalize(self, _stop, self._reader)
        self._reader.stdin.write(name.encode() + b"\n")
        self._reader.stdin.flush()
        header = self._reader.stdout.readline().split()
        if len(header) != 3:
            raise RuntimeError(f"git cat-file: no object {name!r} in {self.path}")
        body = self._reader.stdout.read(int(header[2]) + 1)[:-1]
        return header[1].decode(), body

    def close(self) -> None:
        """Ends the object reader (a store is still usable after: it starts another)."""
        with self._lock:
            if self._reader is not None:
                _stop(self._reader)
                self._reader = None

    def export(self, agent_id: str, dest: str | Path) -> Path:
        """Writes a runnable copy of the agent into ``dest`` (created; must be empty if it exists)."""
        dest = Path(dest)
        if dest.exists() and any(dest.iterdir()):
            raise FileExistsError(f"{dest} exists and is not empty")
        files = self.files(agent_id)
        dest.mkdir(parents=True, exist_ok=True)
        write_files(files, dest)
        return dest

    def lineage(self, agent_id: str) -> list[str]:
        """Commit messages from the agent back to the seed (first parents), newest first."""
        return self._git("log", "--first-parent", "--format=%s", self.commit(agent_id)).splitlines()


def read_folder(folder: str | Path, *, hidden: bool = False,
                undecodable: str = "replace") -> dict[str, str]:
    """Reads a folder as ``{relative path: text}``, in path order, bytecode caches and git
    metadata (``.git``: a repository task's history is not the agent's work) left out.

    The one folder reader: an agent's folder (hidden files left out too); with
    ``hidden=True, undecodable="skip"``, a task workspace as the agent left it (every file it
    wrote counts, a binary or unreadable one is skipped rather than diffed as text); with
    ``hidden=True, undecodable="error"``, a task folder of a suite (bad data is an error).

    Args:
        hidden: Keep files and folders whose name starts with a dot.
        undecodable: ``"replace"`` bytes that are not UTF-8, ``"skip"`` such files (and files
            that cannot be read), or ``"error"``: raise UnicodeDecodeError.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"agent folder {folder} does not exist")
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or "__pycache__" in rel.parts or path.suffix == ".pyc" or \
                ".git" in rel.parts or \
                (not hidden and any(p.startswith(".") for p in rel.parts)):
            continue
        if undecodable == "skip":
            try:
                files[rel.as_posix()] = path.read_text()
            except (UnicodeDecodeError, OSError):
                continue
        else:
            files[rel.as_posix()] = path.read_text(
                encoding="utf-8", errors="strict" if undecodable == "error" else "replace")
    return files


def _nest(files: dict[str, str]) -> dict:
    """``{"a/b.py": text}`` as ``{"a": {"b.py": text}}``."""
    root: dict = {}
    for path, text in files.items():
        *folders, name = PurePosixPath(path).parts
        node = root
        for folder in folders:
            node = node.setdefault(folder, {})
            if not isinstance(node, dict):
                raise ValueError(f"{path!r}: {folder!r} is a file and a folder")
        if isinstance(node.get(name), dict):
            raise ValueError(f"{path!r} is a file and a folder")
        node[name] = text
    return root


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.stdin.close()
        process.wait(timeout=10)
    process.stdout.close()


def _write_atomically(path: Path, data: bytes) -> None:
    """Writes a file that no reader sees half-written (a crash leaves the old one or none)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
