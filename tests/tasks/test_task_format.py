"""Task and TaskSuite: validation, ordering, subsets."""

import pytest
from tasks_helpers import make_task

from qdagents.tasks import Task, TaskSuite, write_files


def task(task_id: str, kind: str = "bugfix") -> Task:
    return Task(id=task_id, problem="p", files={"a.py": ""}, hidden_tests={"test_a.py": ""},
                reference={"a.py": ""}, kind=kind)


def test_task_is_frozen():
    with pytest.raises(AttributeError):
        task("a").id = "b"


@pytest.mark.parametrize("bad", ["/etc/passwd", "../up.py", "a/../../b.py", ""])
def test_task_refuses_paths_outside_the_workspace(bad):
    with pytest.raises(ValueError):
        Task(id="t", problem="p", files={bad: ""}, hidden_tests={"test_a.py": ""}, reference={})


def test_task_needs_hidden_tests_and_a_known_kind():
    with pytest.raises(ValueError):
        Task(id="t", problem="p", files={}, hidden_tests={}, reference={})
    with pytest.raises(ValueError):
        task("t", kind="refactor")


def test_test_modules_are_the_test_files_only():
    t = make_task(**{"helpers.py": "", "sub/thing_test.py": ""})
    assert t.test_modules == ["sub/thing_test.py", "test_adder_hidden.py"]


def test_suite_order_subset_and_head():
    suite = TaskSuite(name="s", tasks=[task("a"), task("b"), task("c")])
    assert len(suite) == 3 and [t.id for t in suite] == ["a", "b", "c"]
    assert suite["b"].id == "b"
    assert suite.subset(["c", "a"]).ids == ["a", "c"]  # suite order, not request order
    assert suite.head(2).ids == ["a", "b"] and suite.head(10).ids == ["a", "b", "c"]
    assert suite.head(0).ids == []
    with pytest.raises(KeyError):
        suite.subset(["a", "zzz"])


def test_suite_rejects_duplicate_ids():
    with pytest.raises(ValueError):
        TaskSuite(name="s", tasks=[task("a"), task("a")])


def test_write_workspace_and_reference(tmp_path):
    t = make_task()
    t.write_workspace(tmp_path / "plain")
    t.write_workspace(tmp_path / "solved", solved=True)
    assert "a - b" in (tmp_path / "plain" / "adder.py").read_text()
    assert "a + b" in (tmp_path / "solved" / "adder.py").read_text()
    assert not (tmp_path / "plain" / "test_adder_hidden.py").exists()
    with pytest.raises(ValueError):
        write_files({"../x.py": ""}, tmp_path)
