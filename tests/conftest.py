"""Shared fixtures (helpers live in sandbox_support.py, importable from any test file)."""

import pytest

from sandbox_support import bwrap_works, need


@pytest.fixture
def bwrap_backend() -> str:
    need(bwrap_works(), "bubblewrap")
    return "bwrap"
