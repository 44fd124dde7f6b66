"""Fixtures for the LLM layer tests (the fakes themselves are in ``llm_fakes.py``)."""

from __future__ import annotations

import pytest
from llm_fakes import FakeModel, FakeOpenAI

from qdagents.llm import MemoryRecorder, register_offline_provider
from qdagents.llm import _provider


@pytest.fixture
def use_model():
    """Serves a given model as ``qdagents/*`` for one test, then puts the previous one back."""
    register_offline_provider()
    previous = _provider._handler.model

    def use(model):
        register_offline_provider(model)
        return model

    yield use
    _provider._handler.model = previous


@pytest.fixture
def fake_model(use_model):
    """A :class:`FakeModel` served as ``qdagents/coder`` and ``qdagents/mutator``."""
    return use_model(FakeModel())


@pytest.fixture
def recorder():
    return MemoryRecorder()


@pytest.fixture
def openai_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    server = FakeOpenAI()
    yield server
    server.close()
