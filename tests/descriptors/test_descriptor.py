"""A descriptor is one object: its axis, its measure, and the phrases a directed emitter uses."""

import pytest

from qdagents.descriptors import DESCRIPTORS, CodeNovelty, Descriptor, measure
from qdagents.emitters import aim_of, landed


def test_builtin_descriptors_carry_everything_an_axis_needs():
    for d in DESCRIPTORS.values():
        assert d.label and d.unit and d.low < d.high and d.bins >= 1 and callable(d.measure)
        assert d.phrase(+1) != d.phrase(-1)
    assert DESCRIPTORS["tool_count"].phrase(+1) == "more tools"
    assert DESCRIPTORS["edit_granularity"].phrase(-1) == "coarser edits"
    assert DESCRIPTORS["code_novelty"].against_archive
    assert not DESCRIPTORS["token_cost"].against_archive


def test_a_new_axis_is_one_object():
    files_per_agent = Descriptor(name="files", label="files (count)", unit="files", low=0, high=10,
                                 bins=5, measure=lambda tasks, files: len(files))
    assert measure([files_per_agent, "agent_lines"], [], {"a.py": "x\n", "b.py": ""}) == \
        {"files": 2.0, "agent_lines": 1.0}
    assert files_per_agent.phrase(+1) == "higher files" and files_per_agent.phrase(-1) == "lower files"
    narrower = files_per_agent.axis(high=4, bins=2)
    assert (narrower.low, narrower.high, narrower.bins, narrower.name) == (0, 4, 2, "files")
    assert narrower.as_record() == {"name": "files", "label": "files (count)", "unit": "files",
                                    "low": 0.0, "high": 4.0, "bins": 2}
    with pytest.raises(NotImplementedError):
        files_per_agent.measure_against([1.0], [])
    with pytest.raises(ValueError, match="unknown descriptor"):
        measure(["charisma"], [], {})


def test_code_novelty_against_the_archive():
    novelty = CodeNovelty(name="code_novelty", k=2)
    assert novelty.measure_against([1.0, 0.0], []) == 1.0          # nothing to compare with
    # cosine distances 0 (same direction) and 1 (orthogonal) -> mean of the 2 nearest
    assert novelty.measure_against([1.0, 0.0], [[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]) == \
        pytest.approx(0.5)


def test_aim_and_landing_use_the_axes_phrases():
    axes = [DESCRIPTORS["tool_count"].axis(low=0.5, high=4.5, bins=4),
            DESCRIPTORS["token_cost"].axis(low=0, high=10, bins=2)]
    assert aim_of(axes, "more tools") == (0, +1) and aim_of(axes, "fewer tokens") == (1, -1)
    assert aim_of(axes, "finer edits") is None and aim_of(axes, None) is None
    assert landed(axes, "more tools", [1, 1], [2, 1]) is True       # bin 0 -> 1
    assert landed(axes, "more tools", [1, 1], [3, 1]) is False      # two bins: not as asked
    assert landed(axes, "fewer tokens", [1, 9], [1, 1]) is True
    assert landed(axes, "be nicer", [1, 1], [2, 1]) is None
