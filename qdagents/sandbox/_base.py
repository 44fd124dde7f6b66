"""The sandbox protocol shared by every backend.

A sandbox runs one command on untrusted agent code. Whatever happens inside (a crash, a hang, a
fork bomb, an attempt to escape) comes back as a :class:`SandboxResult` with a readable
``failure``; it never raises into the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: Largest amount of stdout/stderr kept from one command, in characters.
OUTPUT_CAP = 20_000

#: Environment every backend gives the command, on top of what the caller passes. Nothing from
#: the controller's own environment is inherited.
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}


@dataclass(frozen=True)
class Mount:
    """A host path made visible inside the sandbox at ``target``."""

    source: Path
    target: str
    writable: bool = False


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed command."""

    seconds: float = 60.0
    memory_mb: int = 1024
    processes: int = 64
    file_mb: int = 64


@dataclass
class SandboxResult:
    """What one sandboxed command did. ``failure`` is None when it ran to a normal exit."""

    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    failure: str | None = None


class Sandbox(Protocol):
    """Runs a command with a working directory, mounts, an environment and limits."""

    name: str

    def run(self, argv: list[str], *, workdir: str, mounts: list[Mount],
            env: dict[str, str], limits: Limits) -> SandboxResult:
        ...


def trim(text: str | bytes, cap: int = OUTPUT_CAP) -> str:
    """Decodes and keeps the head and tail of long output, marking what was cut."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if len(text) <= cap:
        return text
    half = cap // 2
    return f"{text[:half]}\n[... {len(text) - cap} characters cut ...]\n{text[-half:]}"
