"""Sandbox availability for tests: a skip, or a failure when CI requires every sandbox.

A plain module (not conftest) so test files can import it unambiguously."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

import pytest

REQUIRE_SANDBOXES = os.environ.get("QDAGENTS_REQUIRE_SANDBOXES") == "1"


def bwrap_works() -> bool:
    if not shutil.which("bwrap"):
        return False
    probe = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"],
                           capture_output=True)
    return probe.returncode == 0


def need(available: bool, what: str) -> None:
    """Skips without ``what``; fails instead when CI requires every sandbox."""
    if available:
        return
    if REQUIRE_SANDBOXES:
        pytest.fail(f"{what} is required (QDAGENTS_REQUIRE_SANDBOXES=1) but not available")
    pytest.skip(f"{what} not available")




REQUIRE = REQUIRE_SANDBOXES


@lru_cache(maxsize=None)
def backend_status(name: str):
    """What ``qdagents sandbox check`` says of one backend (cached for the session)."""
    from qdagents.sandbox._select import bwrap_status, docker_status

    return {"bwrap": bwrap_status, "docker": docker_status}[name]()


def require_backend(name: str):
    """Skips the calling test when ``name`` can't run here (fails it under REQUIRE)."""
    status = backend_status(name)
    if not status.available:
        message = f"sandbox backend {name} unavailable: {status.detail}"
        if REQUIRE:
            pytest.fail(f"{message} (QDAGENTS_REQUIRE_SANDBOXES=1)")
        pytest.skip(message)
    return status
