"""Fixtures for the offline model tests."""

from __future__ import annotations

import shutil

import pytest

from offline_helpers import FIXTURES

#: The fixture tasks hold their own unittest files; they are data here, not tests to collect.
collect_ignore_glob = ["fixtures/*"]


@pytest.fixture
def task_copy(tmp_path, monkeypatch):
    """Copies a fixture task's workspace to a temp dir, chdirs there, returns its problem text."""
    def make(task_id: str) -> str:
        shutil.copytree(FIXTURES / task_id / "workspace", tmp_path, dirs_exist_ok=True)
        monkeypatch.chdir(tmp_path)
        return (FIXTURES / task_id / "problem.md").read_text()
    return make
