import pytest

from qdagents.archive import Archive
from qdagents.descriptors import DESCRIPTORS

SPECS = [DESCRIPTORS["tool_count"].axis(low=0.5, high=4.5, bins=4),
         DESCRIPTORS["edit_granularity"].axis(low=0.0, high=1.0, bins=2)]


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


def test_cvt_archive_seeded_centroids_and_elitism():
    a = Archive(specs=SPECS, kind="cvt", seed=3, cells=6, samples=2000)
    b = Archive(specs=SPECS, kind="cvt", seed=3, cells=6, samples=2000)
    assert (a.archive.centroids == b.archive.centroids).all() and len(a.archive.centroids) == 6
    assert a.add("x", 0.2, [1.0, 0.1]).status == "new"
    assert a.add("y", 0.1, [1.0, 0.1]).status == "not_added"
    up = a.add("z", 0.5, [1.0, 0.1])
    assert up.status == "improve" and up.cell == a.cell_of([1.0, 0.1])
    assert a.add("far", 0.3, [40, 5]).clipped and a.clipped == 1
    elites = a.elites()
    assert [e["id"] for e in elites][0] == "z" and elites[0]["descriptors"] == pytest.approx([1, 0.1])
    assert any(e["descriptors"] == pytest.approx([4.5, 1.0]) for e in elites)   # own units
    assert a.is_elite("z") and not a.is_elite("x")
    n = len(a)
    assert a.stats["coverage"] == pytest.approx(n / 6) and a.stats["best"] == 0.5
    with pytest.raises(ValueError, match="cells"):
        Archive(specs=SPECS, kind="cvt", cells=0)


def test_novelty_archive_threshold_and_local_competition():
    # normalised space: tool_count / 4, edit_granularity / 1
    a = Archive(specs=SPECS, kind="novelty", seed=0, k_neighbors=1, novelty_threshold=0.2)
    assert a.add("a", 0.2, [0.5, 0.0]).status == "new"
    assert a.add("near", 0.9, [0.5, 0.1]).status == "not_added"     # distance 0.1 < 0.2
    assert a.add("b", 0.1, [2.5, 0.0]).status == "new"              # distance 0.5
    assert [e["id"] for e in a.elites()] == ["a", "b"] and not a.is_elite("near")
    assert a.elites()[1]["descriptors"] == pytest.approx([2.5, 0.0])
    # stats are projected on the 4x2 descriptor grid: cells (0,0) and (2,0); 0.2 + 0.1
    assert a.stats == {"elites": 2, "coverage": 2 / 8, "qd_score": pytest.approx(0.3),
                       "best": 0.2}
    lc = Archive(specs=SPECS, kind="novelty", k_neighbors=1, novelty_threshold=0.2,
                 local_competition=True)
    lc.add("a", 0.2, [0.5, 0.0])
    assert lc.add("worse", 0.1, [0.5, 0.1]).status == "not_added"
    assert lc.add("fitter", 0.9, [0.5, 0.1]).status == "improve"
    assert [e["id"] for e in lc.elites()] == ["fitter"] and isinstance(lc.elites()[0]["id"], str)


def test_keep_all_keeps_every_agent_with_grid_projected_stats():
    a = Archive(specs=SPECS, kind="keep_all")
    assert a.add("a", 0.2, [1, 0.1]).status == "new"
    assert a.add("b", 0.1, [1, 0.2]).status == "new"          # same grid cell, worse: still kept
    assert a.add("c", 0.4, [3, 0.9]).status == "new"
    assert a.add("far", 0.0, [40, 0.9]).clipped and a.clipped == 1
    assert a.add("a", 0.2, [1, 0.1]).status == "not_added"    # an id is kept once
    assert [e["id"] for e in a.elites()] == ["c", "a", "b", "far"] and len(a) == 4
    assert all(a.is_elite(x) for x in "abc") and not a.is_elite("zz")
    # grid cells (0,0): best 0.2; (2,1): 0.4; (3,1): 0.0 -> 3 of 8 cells, qd 0.6
    assert a.stats == {"elites": 4, "coverage": 3 / 8, "qd_score": pytest.approx(0.6),
                       "best": 0.4}
    assert a.cell_of([1, 0.1]) == a.grid_cell([1, 0.1]) == 0
    assert a.cell_of([3, 0.9]) == 2 * 2 + 1


def test_grid_stats_equal_stats_for_the_grid_and_empty_archives():
    archive = Archive(specs=SPECS, seed=0)
    archive.add("a", 0.2, [1, 0.1])
    archive.add("d", 0.4, [3, 0.9])
    assert archive.grid_stats() == archive.stats
    assert archive.grid_cell([3, 0.9]) == archive.cell_of([3, 0.9])
    for kind in ("novelty", "keep_all"):
        assert Archive(specs=SPECS, kind=kind).stats == {"elites": 0, "coverage": 0.0,
                                                         "qd_score": 0.0, "best": None}


def test_every_archive_conf_builds():
    from pathlib import Path

    import yaml

    from qdagents.archive import ARCHIVE_KINDS
    conf = Path(__file__).resolve().parents[2] / "qdagents" / "conf" / "archive"
    kinds = set()
    for path in conf.glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        spec.pop("samples", None)
        archive = Archive(specs=SPECS, seed=0, samples=2000, **spec)
        assert archive.add("a", 0.5, [1, 0.5]).status == "new" and archive.is_elite("a")
        kinds.add(spec["kind"])
    assert kinds == set(ARCHIVE_KINDS)
