"""Ablation reports: compare conditions (groups of runs differing only in their seed).

``report(paths, out_dir)`` finds every run under the given sweep or run directories, groups the
runs by ``meta.condition`` and writes a table of final metrics (median and bootstrap CI over
seeds) with the LLM use by model, pairwise tests (Mann-Whitney U, Holm-corrected within each
metric, Vargha-Delaney A12), curves against evaluations, tokens and dollars, and the final
archive of each condition.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from qdagents.plots import (draw_grid, elite_count_label, empty_cell_legend, fitness_colorbar,
                             new_figure, save, style)
from qdagents.rundata import RunData, summary_metrics
from qdagents.stats import a12, holm, mann_whitney_p, median_ci

__all__ = ["METRICS", "find_runs", "final_metrics", "group_runs", "report"]

# key, column title, format of one number
METRICS = [("qd_score", "QD-score", "{:.2f}"), ("coverage", "coverage (%)", "{:.1f}"),
           ("best_fitness", "best fitness", "{:.3f}"), ("evaluations", "evaluations", "{:.0f}"),
           ("tokens", "tokens", "{:,.0f}"), ("cost_usd", "USD", "{:.4g}")]
CURVE_Y = [("qd_score", 1.0, "QD-score (sum of elite fitness)"),
           ("coverage", 100.0, "coverage (% of cells)"),
           ("best", 1.0, "best fitness (share of tests passed)")]
CURVE_X = [("seq", "evaluations (completed)"), ("tokens", "LLM tokens (cumulative)"),
           ("cost_usd", "LLM cost (USD, cumulative)")]


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories (holding ``run.sqlite``) at or anywhere below ``paths``, e.g. a Hydra
    multirun directory, in sorted order without duplicates."""
    found: set[Path] = set()
    for path in map(Path, paths):
        if (path / "run.sqlite").is_file():
            found.add(path.resolve())
        else:
            found.update(p.parent.resolve() for p in path.rglob("run.sqlite"))
    return sorted(found)


def _wrap(name: str, width: int = 38) -> str:
    """A long condition name broken at its commas so titles and legends stay readable."""
    lines, line = [], ""
    for part in name.split(","):
        if line and len(line) + len(part) + 1 > width:
            lines.append(line + ",")
            line = part
        else:
            line = f"{line},{part}" if line else part
    return "\n".join(lines + [line])


def _short_names(runs: list[RunData]) -> list[str]:
    """Condition names without the overrides every run shares (a sweep's fixed settings)."""
    lists = [run.meta.get("condition_overrides") for run in runs]
    if len(runs) < 2 or not all(isinstance(items, list) for items in lists):
        return [run.condition for run in runs]
    common = set.intersection(*(set(items) for items in lists))
    return [",".join(o for o in items if o not in common) or run.condition
            for run, items in zip(runs, lists)]


def group_runs(paths: Iterable[str | Path]) -> dict[str, list[RunData]]:
    """Loaded runs by condition name, conditions sorted, runs by seed."""
    runs = [RunData.load(run_dir) for run_dir in find_runs(paths)]
    groups: dict[str, list[RunData]] = {}
    for run, name in zip(runs, _short_names(runs)):
        groups.setdefault(name, []).append(run)
    return {c: sorted(groups[c], key=lambda r: (r.seed is None, r.seed or 0, str(r.path)))
            for c in sorted(groups)}


def final_metrics(run: RunData) -> dict[str, float]:
    """The numbers of one run that the table compares (coverage in percent)."""
    summary = summary_metrics(run)
    best = summary["best"]["fitness"] if summary["best"] else None
    return {"qd_score": summary["qd_score"], "coverage": 100.0 * summary["coverage"],
            "best_fitness": np.nan if best is None else best,
            "evaluations": float(summary["evaluated"]), "tokens": float(summary["tokens"]),
            "cost_usd": summary["cost_usd"]}


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["condition"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if not rows:
        lines.append("| " + " | ".join(["(nothing to compare)"] + [""] * (len(header) - 1)) + " |")
    return lines


def _write_md(path: Path, title: str, note: str, header: list[str], rows: list[list[str]],
              after: list[str] = ()) -> Path:
    lines = [f"# {title}", "", note, "", *_md_table(header, rows), *after]
    path.write_text("\n".join(lines) + "\n")
    return path


LLM_FIGURES = ("calls", "prompt_tokens", "completion_tokens", "cost_usd", "provider_faults")


def _llm_by_model(groups: dict[str, list[RunData]]) -> list[str]:
    """A section of ``table.md``: per condition and model, calls, tokens, USD and provider faults
    summed over the condition's runs (``summary --json``'s ``llm.by_model``), so the cost of each
    model of an ensemble, and a provider that kept failing, are seen beside the final metrics."""
    rows = []
    for condition, runs in groups.items():
        models: dict[str, dict] = {}
        for run in runs:
            for model, figures in (run.llm.get("by_model") or {}).items():
                totals = models.setdefault(model, dict.fromkeys(LLM_FIGURES, 0))
                for key in LLM_FIGURES:
                    totals[key] += figures.get(key, 0)
        rows += [[condition, model, f"{t['calls']:,}", f"{t['prompt_tokens']:,}",
                  f"{t['completion_tokens']:,}", f"{t['cost_usd']:.4g}",
                  f"{t['provider_faults']:,}"] for model, t in sorted(models.items())]
    if not rows:
        return []
    return ["", "## LLM use by model", "", "Sums over the condition's runs.", "",
            *_md_table(["condition", "model", "calls", "prompt tokens", "completion tokens",
                        "USD", "provider faults"], rows)]


def _tables(finals: dict[str, list[dict]], out: Path, after: list[str] = ()) -> dict[str, Path]:
    table_rows, table_md = [], []
    for condition, runs in finals.items():
        row, cells = {"condition": condition, "n": len(runs)}, [condition, str(len(runs))]
        for key, _, fmt in METRICS:
            ci = median_ci([r[key] for r in runs])
            row |= {key: ci.median, f"{key}_ci_low": ci.low, f"{key}_ci_high": ci.high}
            cells.append(f"{fmt.format(ci.median)} [{fmt.format(ci.low)}, {fmt.format(ci.high)}]")
        table_rows.append(row)
        table_md.append(cells)
    pair_rows, pair_md = [], []
    pairs = list(itertools.combinations(finals, 2))
    for key, title, fmt in METRICS:
        samples = [([r[key] for r in finals[a]], [r[key] for r in finals[b]]) for a, b in pairs]
        p_values = [mann_whitney_p(x, y) for x, y in samples]
        for (a, b), (x, y), p, p_holm in zip(pairs, samples, p_values, holm(p_values)):
            effect = a12(x, y)
            pair_rows.append({"metric": key, "condition_a": a, "condition_b": b, "n_a": len(x),
                              "n_b": len(y), "median_a": float(np.median(x)),
                              "median_b": float(np.median(y)), "p_value": p, "p_holm": p_holm,
                              "a12": effect})
            pair_md.append([title, a, b, fmt.format(np.median(x)), fmt.format(np.median(y)),
                            f"{p:.3g}", f"{p_holm:.3g}", f"{effect:.2f}"])
    return {
        "table_csv": _write_csv(out / "table.csv", table_rows),
        "table_md": _write_md(out / "table.md", "Final metrics per condition",
                              "Median [95% percentile-bootstrap CI, 10 000 resamples] over seeds; "
                              "n = runs. With 3 seeds the interval is the range of the runs.",
                              ["condition", "n"] + [t for _, t, _ in METRICS], table_md, after),
        "pairwise_csv": _write_csv(out / "pairwise.csv", pair_rows),
        "pairwise_md": _write_md(out / "pairwise.md", "Pairwise comparisons",
                                 "Two-sided Mann-Whitney U p-value, Holm-corrected over the pairs "
                                 "of each metric; A12 = P(a run of A beats a run of B), ties half "
                                 "(0.5 = no effect; 0.56 / 0.64 / 0.71 small / medium / large).",
                                 ["metric", "A", "B", "median A", "median B", "p", "p (Holm)",
                                  "A12"], pair_md),
    }


def _step_values(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The archive's value at each grid point: the last record at or before it (the archive only
    changes when an evaluation completes); NaN before the first and after the last record."""
    index = np.searchsorted(x, grid, side="right") - 1
    values = y[np.clip(index, 0, None)].astype(float)
    values[(index < 0) | (grid > x[-1])] = np.nan
    return values


def _curves(groups: dict[str, list[RunData]], out: Path) -> list[Path]:
    colours = {c: f"C{i % 10}" for i, c in enumerate(groups)}
    with style():
        fig, axes = new_figure(3, 3, figsize=(13.5, 10), sharex="col", sharey="row")
        for col, (xkey, xlabel) in enumerate(CURVE_X):
            runs = [r for rs in groups.values() for r in rs
                    if len(r.archive_stats["seq"]) and not np.isnan(r.archive_stats[xkey]).all()]
            top = max((np.nanmax(r.archive_stats[xkey]) for r in runs), default=1.0)
            grid = (np.arange(0, int(top) + 1) if xkey == "seq"
                    else np.linspace(0.0, top, 400))
            unit = 1e6 if xkey == "tokens" and top >= 1e6 else 1e3 if xkey == "tokens" else 1.0
            xlabel = xlabel.replace("tokens (", {1e6: "tokens (millions, ", 1e3:
                                                 "tokens (thousands, "}.get(unit, "tokens ("))
            for row, (ykey, scale, ylabel) in enumerate(CURVE_Y):
                ax = axes[row, col]
                for condition, members in groups.items():
                    values = np.array([_step_values(r.archive_stats[xkey],
                                                    r.archive_stats[ykey] * scale, grid)
                                       for r in members if r in runs]).reshape(-1, len(grid))
                    complete = ~np.isnan(values).any(axis=0) if len(values) else grid < 0
                    if not complete.any():
                        continue
                    v = values[:, complete]
                    ax.fill_between(grid[complete] / unit, v.min(axis=0), v.max(axis=0),
                                    color=colours[condition], alpha=0.2, linewidth=0, step="post")
                    ax.plot(grid[complete] / unit, np.median(v, axis=0), color=colours[condition],
                            lw=1.8, drawstyle="steps-post", label=f"{_wrap(condition, 60)} (n={len(values)})")
                ax.grid(alpha=0.3)
                ax.set_ylim(bottom=0, top=1.02 if ykey == "best" else None)
                if row == 2:
                    ax.set_xlabel(xlabel)
                if col == 0:
                    ax.set_ylabel(ylabel)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3),
                   frameon=False, fontsize=10)
        fig.suptitle("Archive over the run: median across seeds, band = min–max")
        return save(fig, out, "curves")


def _heatmaps(groups: dict[str, list[RunData]], finals: dict[str, list[dict]],
              out: Path) -> list[Path]:
    """One panel per condition: the median-QD-score run's final archive, collapsed over the third
    descriptor by taking the best elite of each (descriptor 1, descriptor 2) column."""
    cols = min(len(groups), 4)
    rows = -(-len(groups) // cols)
    with style():
        fig, axes = new_figure(rows, cols, figsize=(3.8 * cols + 1.2, 3.4 * rows + 0.8),
                               squeeze=False, sharex=True, sharey=True)
        for ax in axes.flat[len(groups):]:
            ax.set_visible(False)
        for k, ((condition, runs), ax) in enumerate(zip(groups.items(), axes.flat)):
            order = np.argsort([f["qd_score"] for f in finals[condition]], kind="stable")
            run = runs[order[(len(order) - 1) // 2]]
            data = run.archive.data()
            cells = [(m[0], m[1], f) for m, f in zip(data["measures"], data["objective"])]
            draw_grid(ax, run.descriptors[0], run.descriptors[1], cells,
                      xlabel=k + cols >= len(groups), ylabel=k % cols == 0)
            ax.set_title(f"{_wrap(condition)}\nseed {run.seed} (median QD-score run), "
                         f"{elite_count_label(len(data['index']))}", fontsize=10)
        fitness_colorbar(fig, axes)
        third = groups[next(iter(groups))][0].descriptors[2:]
        over = (f" (each cell: best elite over all {third[0].label.split(' (')[0]} bins)"
                if third else "")
        fig.suptitle(f"Final archive per condition{over}")
        empty_cell_legend(fig)
        return save(fig, out, "heatmaps")


def report(paths: Iterable[str | Path], out_dir: str | Path) -> dict[str, Path]:
    """Writes the comparison of every condition found under ``paths`` into ``out_dir``.

    Returns the files written: ``runs_csv`` (one row per run), ``table_md``/``table_csv``
    (``table_md`` ends with the LLM use by model),
    ``pairwise_md``/``pairwise_csv``, ``curves_png``/``curves_pdf`` and
    ``heatmaps_png``/``heatmaps_pdf``.
    """
    paths = list(paths)
    groups = group_runs(paths)
    if not groups:
        raise FileNotFoundError(f"no run.sqlite under {[str(p) for p in paths]}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    finals = {c: [final_metrics(r) for r in runs] for c, runs in groups.items()}
    written = {"runs_csv": _write_csv(out / "runs.csv", [
        {"condition": c, "seed": r.seed, "run": str(r.path)} | f
        for c, runs in groups.items() for r, f in zip(runs, finals[c])])}
    written |= _tables(finals, out, _llm_by_model(groups))
    written |= dict(zip(["curves_png", "curves_pdf"], _curves(groups, out)))
    written |= dict(zip(["heatmaps_png", "heatmaps_pdf"], _heatmaps(groups, finals, out)))
    return written
