"""Fixtures for the tasks tests: a plain-process sandbox, limits, a workspace writer."""

from pathlib import Path

import pytest
from tasks_helpers import dedent

from qdagents.sandbox import Limits, ProcessSandbox
from qdagents.tasks import write_files


@pytest.fixture(scope="session")
def sandbox():
    return ProcessSandbox(warn=False)


@pytest.fixture(scope="session")
def limits():
    return Limits(seconds=30)


@pytest.fixture
def workspace(tmp_path):
    """Returns a function that writes files into a fresh workspace folder and returns it."""
    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "workspace"
        root.mkdir(exist_ok=True)
        write_files(dedent(files), root)
        return root
    return write
