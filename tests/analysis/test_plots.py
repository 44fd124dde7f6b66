"""Every figure is written as a non-empty PNG and PDF; the tree layout is tidy."""

import json
import sqlite3

import numpy as np
import pytest

from qdagents.plots import plot_heatmaps, plot_lineage, plot_qd_curves, plot_run, tree_layout
from qdagents.rundata import RunData


def assert_figure_files(paths, stem):
    assert [p.name for p in paths] == [f"{stem}.png", f"{stem}.pdf"]
    png, pdf = (p.read_bytes() for p in paths)
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000


@pytest.mark.parametrize("plot, stem", [(plot_heatmaps, "heatmaps"),
                                        (plot_qd_curves, "qd_curves"),
                                        (plot_lineage, "lineage")])
def test_each_plot_writes_png_and_pdf(fake_run, tmp_path, plot, stem):
    assert_figure_files(plot(RunData.load(fake_run.path), tmp_path), stem)


def test_plot_run_draws_everything_into_the_plots_folder(make_fake_run, tmp_path):
    fake = make_fake_run(tmp_path / "run", agents=60)
    paths = plot_run(fake.path)
    assert {p.name for p in paths} == {f"{s}.{e}" for s in ("heatmaps", "qd_curves", "lineage")
                                       for e in ("png", "pdf")}
    assert all(p.parent == fake.path / "plots" and p.stat().st_size > 0 for p in paths)


def test_plots_of_a_run_with_only_the_seed(make_fake_run, tmp_path):
    fake = make_fake_run(tmp_path / "one", agents=1, pending=0)
    assert len(plot_run(fake.path)) == 6


def test_tree_layout_is_tidy(fake_run):
    run = RunData.load(fake_run.path)
    position, parent = tree_layout(run)
    assert set(position) == set(run.agents)
    children = {}
    for child, p in parent.items():
        if p is not None:
            assert position[child][1] == position[p][1] + 1  # one row per generation
            children.setdefault(p, []).append(position[child][0])
    for p, xs in children.items():  # a parent is centred over its children
        assert position[p][0] == pytest.approx((min(xs) + max(xs)) / 2)
    leaves = [position[a][0] for a in run.agents if a not in children]
    assert sorted(leaves) == list(np.arange(len(leaves)))  # leaves take consecutive columns
    # no two agents of a generation share a position
    assert len(set(position.values())) == len(position)


def test_a_corrupt_parent_cycle_does_not_hang_the_layout(make_fake_run, tmp_path):
    fake = make_fake_run(tmp_path / "cycle", agents=8, pending=0)
    with sqlite3.connect(fake.path / "run.sqlite") as db:
        ids = [r[0] for r in db.execute("SELECT id FROM agents ORDER BY step")]
        db.execute("UPDATE agents SET parents = ? WHERE id = ?", (json.dumps([ids[1]]), ids[0]))
        db.execute("UPDATE agents SET parents = ? WHERE id = ?", (json.dumps([ids[0]]), ids[1]))
    run = RunData.load(fake.path)
    position, _ = tree_layout(run)
    assert set(position) == set(run.agents) and len(run.depths()) == len(run.agents)
    assert_figure_files(plot_lineage(run, tmp_path), "lineage")


def test_lineage_marks_tampering_apart_from_failures(make_fake_run, tmp_path, monkeypatch):
    """An evaluation the judge failed for tampering is its own red mark in the lineage, not one
    more grey failure."""
    import sqlite3

    from qdagents import plots

    run = make_fake_run(tmp_path / "run", agents=120)
    db = sqlite3.connect(run.path / "run.sqlite")
    failed = [r[0] for r in db.execute("SELECT agent_id FROM evaluations WHERE failure IS NOT NULL")]
    db.execute("UPDATE evaluations SET failure = 'tampering: the solution replaced the socket' "
               "WHERE agent_id = ?", (failed[0],))
    db.commit()
    db.close()
    legends = []

    def keep(fig, out_dir, stem):
        legends.extend(t.get_text() for ax in fig.axes if ax.get_legend()
                       for t in ax.get_legend().get_texts())
        return []

    monkeypatch.setattr(plots, "save", keep)
    plots.plot_lineage(run.path, tmp_path / "plots")
    assert "tampering (1)" in legends
    others = [t for t in legends if t.startswith("evaluation failed")]
    assert others == ([f"evaluation failed ({len(failed) - 1})"] if len(failed) > 1 else [])
