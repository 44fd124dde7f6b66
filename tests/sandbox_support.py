"""Sandbox availability for tests: a skip, or a failure when CI requires every sandbox.

A plain module (not conftest) so test files can import it unambiguously."""

from __future__ import annotations

import os
import shutil
import subprocess

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


