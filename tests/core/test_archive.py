import pytest

from qdagents.archive import Archive, DescriptorSpec

SPECS = [DescriptorSpec("tool_count", "tools", 0.5, 4.5, 4),
         DescriptorSpec("edit_granularity", "fraction", 0.0, 1.0, 2)]


def test_elite_replacement_and_stats():
    archive = Archive(specs=SPECS, seed=0)
    assert archive.add("a", 0.2, [1, 0.1]).status == "new"
    assert archive.add("b", 0.1, [1, 0.2]).status == "not_added"
    assert archive.add("c", 0.5, [1, 0.3]).status == "improve"
    assert archive.add("d", 0.4, [3, 0.9]).status == "new"
    assert [e["id"] for e in archive.elites()] == ["c", "d"]
    assert archive.stats == {"elites": 2, "coverage": 2 / 8, "qd_score": pytest.approx(0.9),
                             "best": 0.5}
    assert archive.is_elite("c") and not archive.is_elite("a")


def test_out_of_range_is_clipped_and_counted():
    archive = Archive(specs=SPECS, seed=0)
    inserted = archive.add("far", 0.3, [40, -1.0])
    assert inserted.clipped and archive.clipped == 1
    assert archive.elites()[0]["descriptors"] == [4.5, 0.0]
    assert not archive.add("near", 0.3, [2, 0.5]).clipped and archive.clipped == 1


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown archive kind"):
        Archive(specs=SPECS, kind="hexagons")
