"""Fixtures for the Dask tests: the offline gateway, its latency, a relay endpoint, a cluster."""

from __future__ import annotations

import pytest

try:
    import distributed  # noqa: F401  -- the `distributed` extra; `make test` installs it
except ImportError:
    import sandbox_support

    if sandbox_support.REQUIRE_SANDBOXES:
        raise
    pytest.skip("dask.distributed is not installed", allow_module_level=True)

from qdagents.llm import Gateway, register_offline_provider  # noqa: E402
from qdagents.llm import _provider  # noqa: E402
from qdagents.store import RunDatabase  # noqa: E402

@pytest.fixture
def db(tmp_path) -> RunDatabase:
    return RunDatabase(tmp_path / "run.sqlite")


@pytest.fixture
def gateway(db) -> Gateway:
    """The run's gateway with the offline model, recording into ``db``."""
    register_offline_provider()
    return Gateway(model="qdagents/coder", db=db, seed=0)


@pytest.fixture
def model_latency():
    """Sets the offline model's simulated latency for one test, then puts it back."""
    register_offline_provider()
    handler = _provider._handler
    handler._model()
    before = handler.model.latency

    def set_latency(seconds: float) -> None:
        handler.latency = handler.model.latency = seconds

    yield set_latency
    handler.latency = handler.model.latency = before
