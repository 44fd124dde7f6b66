import numpy as np

from qdagents.emitters import empty_neighbours, target_toward_empty_neighbour
from qdagents.archive import Archive
from qdagents.descriptors import DESCRIPTORS

SPECS = [DESCRIPTORS["tool_count"].axis(low=0.5, high=4.5, bins=4),
         DESCRIPTORS["edit_granularity"].axis(low=0.0, high=1.0, bins=2)]


def test_empty_neighbours_by_hand():
    archive = Archive(specs=SPECS, seed=0)
    archive.add("p", 0.5, [2, 0.1])      # bins (1, 0)
    archive.add("q", 0.5, [3, 0.1])      # bins (2, 0): the "more tools" neighbour is taken
    # neighbours of (1, 0): (0, 0) empty -> fewer tools; (2, 0) taken; (1, 1) empty -> finer
    assert sorted(empty_neighbours(archive, [2, 0.1])) == [("edit_granularity", 1),
                                                          ("tool_count", -1)]
    # by name too; an edge bin has no neighbour outside the grid
    assert sorted(empty_neighbours(archive, {"tool_count": 3, "edit_granularity": 0.1})) == \
        [("edit_granularity", 1), ("tool_count", 1)]
    picks = {target_toward_empty_neighbour(archive, [2, 0.1], np.random.default_rng(s))
             for s in range(20)}
    assert picks == {"fewer tools", "finer edits"}


def test_no_empty_neighbour_and_other_kinds():
    archive = Archive(specs=[DESCRIPTORS["token_cost"].axis(low=0, high=10, bins=2)], kind="keep_all")
    archive.add("a", 0.1, [1.0])
    assert target_toward_empty_neighbour(archive, [1.0], np.random.default_rng(0)) == "more tokens"
    archive.add("b", 0.1, [9.0])
    assert target_toward_empty_neighbour(archive, [1.0], np.random.default_rng(0)) is None
    archive = Archive(specs=[DESCRIPTORS["agent_lines"].axis(low=0, high=100, bins=3)], kind="novelty",
                      novelty_threshold=0.01)
    archive.add("a", 0.1, [50.0])
    assert target_toward_empty_neighbour(archive, [50.0], np.random.default_rng(1)) in {
        "more lines of agent code", "fewer lines of agent code"}
