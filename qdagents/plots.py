"""Figures of one run: archive heatmaps, QD curves and the lineage tree.

Every figure is written as PNG (for a quick look) and PDF (for a paper) into the run's ``plots/``
folder, with a title, labelled axes with units and a colour bar. Fitness is always drawn on one
fixed scale, 0 to 1 (share of hidden tests passed), so figures of different runs compare by eye.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator
from ribs.archives import GridArchive
from ribs.visualize import grid_archive_heatmap

from qdagents.rundata import Descriptor, RunData, held_out_scores, tampered_agents

__all__ = ["plot_heatmaps", "plot_held_out", "plot_lineage", "plot_qd_curves", "plot_run"]

# matplotlib subsets fonts into the PDFs with fontTools, which logs every table at INFO level:
# under Hydra's logging that floods a run's output.
logging.getLogger("fontTools").setLevel(logging.WARNING)

CMAP = "viridis"
FITNESS_LABEL = "fitness (share of hidden tests passed)"
STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "figure.titlesize": 13,
         "legend.fontsize": 9, "xtick.labelsize": 9, "ytick.labelsize": 9,
         "axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": 200,
         "pdf.fonttype": 42}
EMPTY = {"facecolor": "0.93", "edgecolor": "0.75", "hatch": "////", "linewidth": 0}


def style() -> contextlib.AbstractContextManager:
    """The rc settings every figure of this package is drawn with."""
    return matplotlib.rc_context(STYLE)


def new_figure(rows: int = 1, cols: int = 1, *, figsize: tuple[float, float],
               **subplots) -> tuple[Figure, Any]:
    """A constrained-layout figure with its axes. Plain ``Figure`` objects, not pyplot: no global
    backend or figure registry is touched, so this works in threads, scripts and notebooks."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(rows, cols, **subplots)


def save(fig: Figure, out_dir: str | Path, stem: str) -> list[Path]:
    """Writes ``stem.png`` and ``stem.pdf`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path, bbox_inches="tight")
    return paths


def _as_run(run: RunData | str | Path) -> RunData:
    return run if isinstance(run, RunData) else RunData.load(run)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


def elite_count_label(count: int) -> str:
    return f"{count} elite" if count == 1 else f"{count} elites"


def _split_label(label: str) -> tuple[str, str]:
    """``"token cost (tokens per task)"`` -> ``("token cost", "tokens per task")``."""
    if label.endswith(")") and " (" in label:
        name, unit = label[:-1].rsplit(" (", 1)
        return name, unit
    return label, ""


def fitness_colorbar(fig: Figure, axes, **kwargs) -> None:
    """One colour bar for all ``axes``, on the fixed 0-1 fitness scale."""
    mappable = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=CMAP)
    fig.colorbar(mappable, ax=axes, label=FITNESS_LABEL, **kwargs)


def draw_grid(ax: Axes, x: Descriptor, y: Descriptor, cells: list[tuple[float, float, float]],
              *, xlabel: bool = True, ylabel: bool = True) -> None:
    """A 2-D archive panel: ``cells`` are (x, y, fitness) of elites, one per cell.

    Drawn with ``ribs.visualize.grid_archive_heatmap`` on a 2-D ``GridArchive``; empty cells show
    the hatched grey background, so an empty cell never looks like fitness 0.
    """
    archive = GridArchive(solution_dim=(), dims=[x.bins, y.bins],
                          ranges=[(x.low, x.high), (y.low, y.high)], solution_dtype=object)
    for cx, cy, fitness in cells:  # one elite per 2-D cell: add keeps the best if several
        archive.add_single(None, fitness, [np.clip(cx, x.low, x.high), np.clip(cy, y.low, y.high)])
    ax.add_patch(Rectangle((x.low, y.low), x.high - x.low, y.high - y.low, zorder=0, **EMPTY))
    grid_archive_heatmap(archive, ax, cmap=CMAP, vmin=0.0, vmax=1.0, cbar=None,
                         pcm_kwargs={"edgecolor": "white", "linewidth": 0.4})
    for axis, spec, set_ticks in ((ax.xaxis, x, ax.set_xticks), (ax.yaxis, y, ax.set_yticks)):
        width = (spec.high - spec.low) / spec.bins
        if np.isclose(width, 1.0) and np.isclose(spec.low % 1, 0.5):  # integer-valued axis
            centres = np.arange(spec.low + 0.5, spec.high, 1.0)
            set_ticks(centres[:: max(1, len(centres) // 8)])
    if xlabel:
        ax.set_xlabel(x.label)
    if ylabel:
        ax.set_ylabel(y.label)


def empty_cell_legend(fig: Figure) -> None:
    fig.legend(handles=[Patch(label="empty cell", **EMPTY)], loc="outside lower right",
               frameon=False)


def plot_heatmaps(run: RunData | str | Path, out_dir: str | Path) -> list[Path]:
    """The final archive as small multiples: descriptor 1 x descriptor 2, one panel per bin of
    descriptor 3 (token cost), all on one 0-1 colour scale."""
    run = _as_run(run)
    specs, data = run.descriptors, run.archive.data()
    if not 2 <= len(specs) <= 3:
        raise ValueError(f"heatmaps need a 2-D or 3-D archive, not {len(specs)}-D")
    grid = run.archive.int_to_grid_index(data["index"]) if len(data["index"]) else np.zeros((0, 3))
    slices = specs[2].bins if len(specs) == 3 else 1
    cols = min(slices, 4)
    rows = -(-slices // cols)
    with style():
        fig, axes = new_figure(rows, cols, figsize=(3.3 * cols + 1.2, 3.0 * rows + 0.9),
                               squeeze=False, sharex=True, sharey=True)
        for k, ax in enumerate(axes.flat):
            if k >= slices:
                ax.set_visible(False)
                continue
            mine = grid[:, 2] == k if len(specs) == 3 else np.ones(len(grid), bool)
            cells = [(m[0], m[1], f)
                     for m, f in zip(data["measures"][mine], data["objective"][mine])]
            draw_grid(ax, specs[0], specs[1], cells, xlabel=k + cols >= slices,
                      ylabel=k % cols == 0)
            if len(specs) == 3:
                name, unit = _split_label(specs[2].label)
                edges = np.linspace(specs[2].low, specs[2].high, specs[2].bins + 1)
                ax.set_title(f"{name} {_number(edges[k])}–{_number(edges[k + 1])} {unit}".strip()
                             + f"\n{elite_count_label(len(cells))}", fontsize=10)
            else:
                ax.set_title(elite_count_label(len(cells)), fontsize=10)
        fitness_colorbar(fig, axes, shrink=0.9 if rows > 1 else 1.0)
        stats = run.archive.stats
        fig.suptitle(f"Final archive — {run.name} (QD-score {stats.qd_score:.2f}, "
                     f"coverage {100 * stats.coverage:.1f}% of {run.archive.cells} cells)")
        empty_cell_legend(fig)
        return save(fig, out_dir, "heatmaps")


def plot_qd_curves(run: RunData | str | Path, out_dir: str | Path) -> list[Path]:
    """QD-score, coverage and best fitness of the archive against completed evaluations."""
    run = _as_run(run)
    stats = run.archive_stats
    cells = int(np.prod([d.bins for d in run.descriptors])) if run.descriptors else 0
    panels = [("qd_score", 1.0, "QD-score (sum of elite fitness)", "QD-score"),
              ("coverage", 100.0, f"coverage (% of {cells} cells)", "Coverage"),
              ("best", 1.0, "best fitness (share of tests passed)", "Best fitness")]
    with style():
        fig, axes = new_figure(1, 3, figsize=(12, 3.6))
        for ax, (key, scale, ylabel, title) in zip(axes, panels):
            ax.plot(stats["seq"], stats[key] * scale, drawstyle="steps-post", color="C0", lw=1.8,
                    marker="o" if len(stats["seq"]) < 20 else None, markersize=4)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set(xlabel="evaluations (completed)", ylabel=ylabel, title=title)
            ax.set_xlim(left=0)
            ax.set_ylim(bottom=0, top=1.02 if key == "best" else None)
            ax.grid(alpha=0.3)
        fig.suptitle(f"Archive over the run — {run.name}")
        return save(fig, out_dir, "qd_curves")


def tree_layout(run: RunData) -> tuple[dict[str, tuple[float, int]], dict[str, str | None]]:
    """A tidy tree by generation: each agent hangs under its first parent, one row per
    generation; leaves take consecutive columns in creation order and a parent is centred over
    its children. Returns (x, generation) per agent and the tree parent of each agent."""
    parent = {a.id: next((p for p in a.parents if p in run.agents and p != a.id), None)
              for a in run.agents.values()}
    children: dict[str | None, list[str]] = defaultdict(list)
    for agent_id, p in parent.items():
        children[p].append(agent_id)
    position: dict[str, tuple[float, int]] = {}
    leaf = 0
    while len(position) < len(parent):
        roots = [a for a in children[None] if a not in position]
        if not roots:  # the rest sits on a parent cycle (a corrupt record): cut it
            roots = [next(a for a in parent if a not in position)]
            children[parent[roots[0]]].remove(roots[0])
            parent[roots[0]] = None
        stack = [(root, 0, False) for root in reversed(roots)]
        while stack:
            node, generation, children_done = stack.pop()
            kids = children[node]
            if not kids:
                position[node] = (float(leaf), generation)
                leaf += 1
            elif children_done:
                position[node] = ((position[kids[0]][0] + position[kids[-1]][0]) / 2, generation)
            else:
                stack.append((node, generation, True))
                stack.extend((kid, generation + 1, False) for kid in reversed(kids))
    return position, parent


def plot_lineage(run: RunData | str | Path, out_dir: str | Path) -> list[Path]:
    """The lineage tree: every agent a node coloured by fitness, elites outlined in black, failed
    evaluations grey, tampering (evaluations the judge failed for it) as red crosses, the path
    from the seed agent to the best agent in red."""
    run = _as_run(run)
    position, parent = tree_layout(run)
    fitness = dict(zip(run.evaluations["agent_id"], run.evaluations["fitness"]))
    tampered = tampered_agents(run)
    failed = run.failed() - tampered
    elites = run.elites()
    elite_ids = {e.id for e in elites}
    best = elites[0].id if elites else None
    path = []
    while best is not None and best not in path:
        path.append(best)
        best = parent.get(best)
    n = max(len(position), 1)
    leaves = max((x for x, _ in position.values()), default=0) + 1
    generations = max((g for _, g in position.values()), default=0) + 1
    size = float(np.clip(3000 / n, 10, 60))
    with style():
        fig, ax = new_figure(figsize=(float(np.clip(leaves * 0.075, 8, 22)) + 1.5,
                                      float(np.clip(generations * 0.45, 4, 12)) + 1.2))
        tree_edges = [(position[p], position[c]) for c, p in parent.items() if p]
        ax.add_collection(LineCollection(tree_edges, colors="0.6", linewidths=0.6, zorder=1))
        extra = [(position[p], position[a.id]) for a in run.agents.values()
                 for p in a.parents[1:] if p in position]
        ax.add_collection(LineCollection(extra, colors="0.55", linewidths=0.6, linestyles=":",
                                         alpha=0.5, zorder=1))
        if len(path) > 1:
            xy = np.array([position[a] for a in path])
            ax.plot(xy[:, 0], xy[:, 1], color="crimson", lw=2.2, zorder=2, solid_capstyle="round")
        groups = {"pending": [a for a in position if a not in fitness and a not in failed
                              and a not in tampered],
                  "failed": [a for a in position if a in failed],
                  "tampered": [a for a in position if a in tampered],
                  "other": [a for a in position if a in fitness and a not in failed
                            and a not in tampered and a not in elite_ids],
                  "elite": [a for a in position if a in elite_ids]}
        xy = {k: np.array([position[a] for a in v]).reshape(-1, 2) for k, v in groups.items()}
        ax.scatter(*xy["pending"].T, s=size, facecolors="white", edgecolors="0.5",
                   linewidths=0.6, zorder=3)
        ax.scatter(*xy["failed"].T, s=size, color="0.6", marker="X", linewidths=0, zorder=3)
        ax.scatter(*xy["tampered"].T, s=size * 1.8, color="red", marker="X",
                   edgecolors="darkred", linewidths=0.6, zorder=5)
        for key, edge in (("other", "none"), ("elite", "black")):
            ax.scatter(*xy[key].T, c=[fitness[a] for a in groups[key]], cmap=CMAP, vmin=0,
                       vmax=1, s=size * (1.6 if key == "elite" else 1.0), edgecolors=edge,
                       linewidths=0.9, zorder=4 if key == "elite" else 3)
        if path:
            bx, by = position[path[0]]
            ax.scatter([bx], [by], marker="*", s=size * 8, c=[fitness[path[0]]], cmap=CMAP,
                       vmin=0, vmax=1, edgecolors="crimson", linewidths=1.4, zorder=5)
            ax.annotate(f"best ({fitness[path[0]]:.2f})", (bx, by), xytext=(0, -14),
                        textcoords="offset points", ha="center", va="top", color="crimson",
                        fontsize=9, fontweight="bold", zorder=6,
                        bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0, "pad": 1})
        for root in (a for a, p in parent.items() if p is None):
            ax.annotate("seed", position[root], xytext=(0, 9), textcoords="offset points",
                        ha="center", va="bottom", fontsize=9, fontweight="bold")
        ax.set_xlim(-1, leaves)
        ax.set_ylim(generations - 0.4, -0.8)
        ax.set_xticks([])
        ax.spines[["bottom"]].set_visible(False)
        ax.set_yticks(range(0, generations, max(1, generations // 12)))
        ax.set_xlabel("agents (tidy tree layout; leaves in creation order)")
        ax.set_ylabel("generation (steps from the seed agent)")
        fitness_colorbar(fig, ax, pad=0.01, fraction=0.03)
        marker = {"marker": "o", "linestyle": "none", "markersize": 7}
        handles = [
            Line2D([], [], markerfacecolor=matplotlib.colormaps[CMAP](0.6), markeredgecolor="black",
                   label=f"elite ({len(elite_ids)})", **marker),
            Line2D([], [], markerfacecolor=matplotlib.colormaps[CMAP](0.6), markeredgecolor="none",
                   label=f"not an elite ({len(groups['other'])})", **marker),
            Line2D([], [], color="0.6", marker="X", linestyle="none", markersize=7,
                   label=f"evaluation failed ({len(groups['failed'])})"),
            Line2D([], [], color="red", marker="X", linestyle="none", markersize=9,
                   label=f"tampering ({len(groups['tampered'])})"),
            Line2D([], [], markerfacecolor="white", markeredgecolor="0.5",
                   label=f"not evaluated ({len(groups['pending'])})", **marker),
            Line2D([], [], color="crimson", lw=2.2, label="seed → best"),
            Line2D([], [], color="0.6", lw=0.8, ls=":", label="second parent (crossover)")]
        shown = [bool(elite_ids), bool(groups["other"]), bool(groups["failed"]),
                 bool(groups["tampered"]), bool(groups["pending"]), len(path) > 1, bool(extra)]
        handles = [h for h, show in zip(handles, shown) if show]
        narrow = leaves < 60  # legend beside a narrow tree, below a wide one
        ax.legend(handles=handles, loc="upper left", frameon=False,
                  bbox_to_anchor=(1.0, 1.0) if narrow else (0.0, -0.02),
                  ncol=1 if narrow else len(handles))
        ax.set_title(f"Lineage of {len(position)} agents — {run.name}")
        return save(fig, out_dir, "lineage")


def plot_held_out(run: RunData | str | Path, out_dir: str | Path) -> list[Path]:
    """Seen against held-out fitness of every agent scored on both (elites outlined, the best
    starred): points under the diagonal generalise worse than the archive's fitness says. Nothing
    is drawn for a run without held-out tasks."""
    run = _as_run(run)
    tasks, scores = held_out_scores(run)
    fitness = dict(zip(run.evaluations["agent_id"], run.evaluations["fitness"]))
    failed = run.failed()
    agents = [a for a in scores if a in fitness and a not in failed
              and not np.isnan(fitness[a])]
    if not tasks or not agents:
        return []
    elites = run.elites()
    elite_ids = {e.id for e in elites}
    with style():
        fig, ax = new_figure(figsize=(5.6, 5.0))
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--", zorder=1)
        for group, edge, label in ((False, "none", "other agents"), (True, "black", "elites")):
            chosen = [a for a in agents if (a in elite_ids) == group]
            if chosen:
                ax.scatter([fitness[a] for a in chosen], [scores[a] for a in chosen],
                           s=40 if group else 22, facecolor="tab:blue" if group else "0.7",
                           edgecolors=edge, linewidths=0.8, zorder=3 if group else 2,
                           label=f"{label} ({len(chosen)})")
        if elites and elites[0].id in scores:
            best = elites[0].id
            gap = fitness[best] - scores[best]
            ax.scatter([fitness[best]], [scores[best]], marker="*", s=220, color="crimson",
                       zorder=4, label=f"best (gap {gap:+.2f})")
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("fitness on seen tasks (the archive's)")
        ax.set_ylabel(f"fitness on {len(tasks)} held-out tasks")
        ax.legend(loc="upper left", frameon=False)
        ax.set_title(f"Generalisation — {run.name}")
        return save(fig, out_dir, "held_out")


def plot_run(run_dir: str | Path) -> list[Path]:
    """Draws every figure of one run into ``run_dir/plots/``; returns the files written."""
    run = RunData.load(run_dir)
    out = Path(run_dir) / "plots"
    return [*plot_heatmaps(run, out), *plot_qd_curves(run, out), *plot_lineage(run, out),
            *plot_held_out(run, out)]
