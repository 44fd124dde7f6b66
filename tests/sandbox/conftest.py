"""Fixtures for the sandbox tests: which backends exist here, and a harness to run an "agent".

A backend that isn't available makes its tests skip, unless ``QDAGENTS_REQUIRE_SANDBOXES=1``: then
it is a failure (CI machines that are meant to have bwrap and docker must not pass by skipping).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from qdagents.sandbox import Limits, Mount, SandboxResult, make_sandbox
import sandbox_support
from sandbox_support import require_backend

class AgentHarness:
    """Runs a Python program as an agent: ``/agent/agent.py`` (read-only) in ``/workspace``.

    ``mode`` is ``bwrap``, ``docker`` (a container per command) or ``docker-session`` (one
    container; after the command, :attr:`probe` holds what a second command in the *same*
    container saw: every process's command line).
    """

    PROBE = ("import os\n"
             "for p in os.listdir('/proc'):\n"
             "    if p.isdigit():\n"
             "        try: print(p, open(f'/proc/{p}/cmdline','rb').read().replace(b'\\0', b' '))\n"
             "        except OSError: pass\n")

    def __init__(self, mode: str, root: Path):
        self.mode = mode
        self.sandbox = make_sandbox("bwrap" if mode == "bwrap" else "docker")
        self.workspace = root / "workspace"
        self.agent = root / "agent"
        self.workspace.mkdir()
        self.agent.mkdir()
        self.probe: SandboxResult | None = None

    def mounts(self, extra=()) -> list[Mount]:
        return [Mount(self.workspace, "/workspace", writable=True),
                Mount(self.agent, "/agent"), *extra]

    def run(self, code: str, *, limits: Limits = Limits(seconds=20), mounts=(),
            env: dict[str, str] | None = None) -> SandboxResult:
        (self.agent / "agent.py").write_text(textwrap.dedent(code))
        all_mounts = self.mounts(mounts)
        kwargs = dict(workdir="/workspace", mounts=all_mounts, env=env or {}, limits=limits)
        argv = ["python3", "/agent/agent.py"]
        if self.mode != "docker-session":
            result = self.sandbox.run(argv, **kwargs)
        else:
            with self.sandbox.session(all_mounts, limits=limits) as session:
                result = session.run(argv, **kwargs)
                if not (result.failure or "").startswith("sandbox setup failed"):
                    self.probe = session.run(["python3", "-c", self.PROBE], **kwargs)
                    assert self.probe.exit_code == 0, self.probe
        assert isinstance(result, SandboxResult)
        print(f"[{self.mode}] {result}")  # shown with `pytest -rP`: how each attack failed
        return result


@pytest.fixture
def require():
    """:func:`require_backend`, for tests that build their own sandbox."""
    return require_backend


@pytest.fixture
def sandbox_conftest():
    """The module with the skip-or-fail rule (to test the rule itself)."""
    return sandbox_support


@pytest.fixture(params=[pytest.param("bwrap", marks=pytest.mark.bwrap),
                        pytest.param("docker", marks=pytest.mark.docker),
                        pytest.param("docker-session", marks=pytest.mark.docker)])
def harness(request, tmp_path) -> AgentHarness:
    """One :class:`AgentHarness` per safe backend (skipped when the backend is missing)."""
    require_backend(request.param.split("-")[0])
    return AgentHarness(request.param, tmp_path)

