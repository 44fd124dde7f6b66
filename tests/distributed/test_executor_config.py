"""The ``executor`` config group: local by default, dask by config alone, bad values named."""

import pytest

from qdagents import ConfigError, compose
from qdagents.components import build_task_runner
from qdagents.config import condition_overrides


def test_local_is_the_default_and_builds_no_task_runner():
    cfg = compose([])
    assert cfg["executor"] == {"kind": "local"}
    assert build_task_runner(cfg, gateway=None) is None


def test_dask_is_a_config_change_only():
    local, dask = compose([]), compose(["executor=dask", "executor.address=tcp://h:8786"])
    assert dask["executor"]["kind"] == "dask" and dask["executor"]["address"] == "tcp://h:8786"
    assert {k: v for k, v in dask.items() if k != "executor"} == \
        {k: v for k, v in local.items() if k != "executor"}


def test_the_executor_is_not_part_of_the_experimental_condition():
    assert condition_overrides(["executor=dask", "executor.local_workers=8", "seed=1",
                                "selection=dgm"]) == ["selection=dgm"]


@pytest.mark.parametrize("override, message", [
    ("executor.kind=ray", "executor.kind: 'ray' is not one of local, dask"),
    ("executor.address=my-host", "executor.address: expected a scheduler address"),
    ("executor.local_workers=0", "executor.local_workers: expected an integer >= 1"),
    ("executor.relay_port=70000", "executor.relay_port: expected a port <= 65535"),
    ("executor.tls={ca_file:ca.pem}", "executor.tls: expected {ca_file, cert, key}"),
])
def test_bad_executor_values_are_named(override, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        compose(["executor=dask", override])


def test_a_run_recorded_before_executors_existed_still_validates():
    from qdagents.config import validate

    cfg = compose([])
    del cfg["executor"]
    assert validate(cfg) is cfg


def test_a_local_run_resumes_on_dask_with_the_defaults():
    """``qdagents resume RUN executor.kind=dask`` merges one key: the others take defaults."""
    from qdagents.config import validate

    cfg = compose([])
    cfg["executor"] = {"kind": "dask"}
    assert validate(cfg) is cfg
    cfg["executor"]["workerz"] = 3
    with pytest.raises(ConfigError, match="executor.workerz: not a key of executor=dask"):
        validate(cfg)
