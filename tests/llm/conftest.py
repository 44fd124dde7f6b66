"""Fixtures for the LLM layer tests (the fakes themselves are in ``llm_fakes.py``)."""

from __future__ import annotations

import pytest
from llm_fakes import FakeModel, FakeOpenAI

from qdagents.llm import MemoryRecorder, register_offline_provider
from qdagents.llm import _provider


@pytest.fixture
def fake_model():
    """A :class:`FakeModel` served as ``qdagents/coder`` and ``qdagents/mutator``."""
    register_offline_provider()
    previous = _provider._handler.model
    model = FakeModel()
    register_offline_provider(model)
    yield model
    _provider._handler.model = previous


@pytest.fixture
def recorder():
    return MemoryRecorder()


@pytest.fixture
def openai_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    server = FakeOpenAI()
    yield server
    server.close()
