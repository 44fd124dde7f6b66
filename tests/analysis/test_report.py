"""The report over a fake sweep (2 conditions x 3 seeds), checked against numbers computed here
from the fake loop's own bookkeeping, not through qdagents."""

import csv
import itertools

import numpy as np
import pytest

from qdagents.report import find_runs, group_runs, report

METRIC_TRUTH = {"qd_score": lambda t: t["qd_score"], "coverage": lambda t: 100 * t["coverage"],
                "best_fitness": lambda t: t["best_fitness"],
                "evaluations": lambda t: t["evaluations"], "tokens": lambda t: t["tokens"],
                "cost_usd": lambda t: t["cost_usd"]}


def read_csv(path):
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def written(fake_sweep, tmp_path_factory):
    sweep, _ = fake_sweep
    return report([sweep], tmp_path_factory.mktemp("report"))


def truth_by_condition(runs, metric):
    values = {}
    for run in runs:
        values.setdefault(run.condition, []).append(METRIC_TRUTH[metric](run.truth))
    return values


def test_finds_and_groups_every_run(fake_sweep):
    sweep, runs = fake_sweep
    assert len(find_runs([sweep])) == 6
    assert len(find_runs([sweep, sweep / "0", runs[1].path])) == 6  # no duplicates
    groups = group_runs([sweep])
    assert list(groups) == ["selection=dgm", "selection=uniform"]
    assert all([r.seed for r in g] == [0, 1, 2] for g in groups.values())


def test_report_writes_every_file(written):
    assert set(written) == {"runs_csv", "table_md", "table_csv", "pairwise_md", "pairwise_csv",
                            "curves_png", "curves_pdf", "heatmaps_png", "heatmaps_pdf"}
    assert all(path.stat().st_size > 0 for path in written.values())
    assert written["curves_png"].read_bytes().startswith(b"\x89PNG")
    assert written["heatmaps_pdf"].read_bytes().startswith(b"%PDF")


def test_table_medians_and_intervals(written, fake_sweep):
    _, runs = fake_sweep
    rows = {row["condition"]: row for row in read_csv(written["table_csv"])}
    for metric in METRIC_TRUTH:
        for condition, values in truth_by_condition(runs, metric).items():
            row = rows[condition]
            assert int(row["n"]) == 3
            assert float(row[metric]) == pytest.approx(np.median(values))
            # three seeds: the bootstrap interval of the median is the range of the runs
            assert float(row[f"{metric}_ci_low"]) == pytest.approx(min(values))
            assert float(row[f"{metric}_ci_high"]) == pytest.approx(max(values))
    table = written["table_md"].read_text()
    assert "| selection=dgm | 3 |" in table and "QD-score" in table


def test_pairwise_tests_and_effect_sizes(written, fake_sweep, exact_mann_whitney_p):
    _, runs = fake_sweep
    rows = read_csv(written["pairwise_csv"])
    assert len(rows) == len(METRIC_TRUTH)  # one pair of conditions per metric
    for row in rows:
        values = truth_by_condition(runs, row["metric"])
        a, b = values[row["condition_a"]], values[row["condition_b"]]
        p = exact_mann_whitney_p(a, b)
        assert float(row["p_value"]) == pytest.approx(p)
        assert float(row["p_holm"]) == pytest.approx(p)  # a family of one test
        wins = sum((x > y) + 0.5 * (x == y) for x, y in itertools.product(a, b))
        assert float(row["a12"]) == pytest.approx(wins / 9)
    assert "p (Holm)" in written["pairwise_md"].read_text()


def test_holm_is_applied_within_each_metric(fake_sweep, make_fake_run, tmp_path,
                                           exact_mann_whitney_p):
    sweep, runs = fake_sweep
    third = [make_fake_run(tmp_path / f"greedy{seed}", condition="selection=best", seed=seed,
                           agents=40) for seed in range(3)]
    rows = read_csv(report([sweep, tmp_path], tmp_path / "report")["pairwise_csv"])
    assert len(rows) == 3 * len(METRIC_TRUTH)
    for metric in METRIC_TRUTH:
        family = [r for r in rows if r["metric"] == metric]
        values = truth_by_condition(runs + third, metric)
        ps = [exact_mann_whitney_p(values[r["condition_a"]], values[r["condition_b"]])
              for r in family]
        order = sorted(range(3), key=lambda i: ps[i])
        expected, running = {}, 0.0
        for rank, i in enumerate(order):  # Holm step-down, written out again
            running = max(running, min(1.0, (3 - rank) * ps[i]))
            expected[i] = running
        for i, r in enumerate(family):
            assert float(r["p_holm"]) == pytest.approx(expected[i])
