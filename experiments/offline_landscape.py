"""The offline landscape: how the seed agent and some mutated variants fare with the offline model.

Runs each variant on every task of the built-in suite (or the fixture tasks under
``tests/offline/fixtures`` when the suite is missing) through the run's own evaluation path
(:func:`qdagents.offline._bench.run_task`: the evaluator, the gateway with the offline model, the
hidden-test harness, the ``process`` sandbox), and prints one row per variant: fitness, tools
offered, lines the model emitted vs lines that changed, tokens and LLM calls per task.

Variants are built from the seed the way a run builds them: the offline mutator's SEARCH/REPLACE
answers are parsed and applied to the code. Named variants apply chosen catalogue entries;
"walk" variants follow whatever the mutator answers to a sequence of ``Target:`` requests.

    PYTHONPATH=. python experiments/offline_landscape.py [--seed 0] [--tasks DIR] [--workers 4]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qdagents.offline._model import OfflineModel  # noqa: E402
from qdagents.evaluation import TaskResult  # noqa: E402
from qdagents.offline._bench import run_task  # noqa: E402
from qdagents.offline._catalogue import CATALOGUE, tool_names  # noqa: E402
from qdagents.emitters import apply_edits, parse_edits  # noqa: E402
from qdagents.offline._mutator import render  # noqa: E402

SEED_AGENT = ROOT / "qdagents" / "seed_agent" / "agent.py"
BUILTIN = ROOT / "qdagents" / "tasks" / "builtin"
FIXTURES = ROOT / "tests" / "offline" / "fixtures"

#: Named variants: catalogue entries applied in order to the seed agent.
NAMED = {
    "seed": [],
    "test-loop prompt": ["ask for a test loop"],
    "run_tests": ["add run_tests tool"],
    "run_tests+str_replace": ["add run_tests tool", "add str_replace tool"],
    "run_tests+str_replace, steps x3": ["add run_tests tool", "add str_replace tool",
                                        "raise MAX_STEPS", "raise MAX_STEPS"],
    "same, trimmed context": ["add run_tests tool", "add str_replace tool", "raise MAX_STEPS",
                              "raise MAX_STEPS", "trim old tool results",
                              "shorter system prompt"],
    "test-loop prompt, steps x3": ["ask for a test loop", "raise MAX_STEPS", "raise MAX_STEPS"],
    "6 tools, line edits, steps x3": ["add run_tests tool", "add replace_lines tool",
                                      "add read_file tool", "add list_files tool",
                                      "raise MAX_STEPS", "raise MAX_STEPS"],
    "plan + long prompt, test loop": ["ask for a test loop", "plan first",
                                      "longer system prompt", "raise OUTPUT_LIMIT"],
    "frugal: short prompt, 2 steps": ["shorter system prompt", "lower MAX_STEPS",
                                       "lower MAX_STEPS"],
    "verbose: plan, 6 tools, steps x3": ["ask for a test loop", "plan first",
                                         "longer system prompt", "add run_tests tool",
                                         "add replace_lines tool", "add read_file tool",
                                         "add list_files tool", "raise MAX_STEPS",
                                         "raise MAX_STEPS"],
    "output limit /8": ["ask for a test loop", "lower OUTPUT_LIMIT",
                                  "lower OUTPUT_LIMIT", "lower OUTPUT_LIMIT"],
}
#: Mutator walks: the ``Target:`` of each successive request.
WALKS = {
    "walk: finer, more tokens, ...": ["finer edits", "more tokens", "more tokens", "more tools",
                                      "more tokens"],
    "walk: more tools, fewer tokens": ["more tools", "more tools", "fewer tokens",
                                       "fewer tokens", "more tokens"],
}


def named_variant(code: str, names: list[str], seed: int) -> str:
    """Applies catalogue entries by name, through the same SEARCH/REPLACE text the mutator sends."""
    by_name = {m.name: m for m in CATALOGUE}
    for i, name in enumerate(names):
        edits = by_name[name].make(code, random.Random(f"{seed}/{i}"), None)
        if not edits:
            raise ValueError(f"{name!r} does not apply at step {i}")
        code = apply_edits({"agent.py": code}, parse_edits(render("agent.py", edits)))["agent.py"]
    return code


def walked_variant(code: str, targets: list[str], seed: int, model: OfflineModel) -> str:
    """Asks the offline mutator for one change per target, retrying once after a failed edit."""
    for step, target in enumerate(targets):
        request = (f"# Parent agent\nFitness: 0.200\nTarget: {target}\n\n# Files\n"
                   f"### File: agent.py\n```python\n{code.rstrip()}\n```\n")
        messages = [{"role": "user", "content": request}]
        for _attempt in range(2):
            answer = model.respond("mutator", messages, None, seed * 100 + step)["message"]
            try:
                code = apply_edits({"agent.py": code}, parse_edits(answer["content"]))["agent.py"]
                break
            except ValueError as error:
                messages += [answer, {"role": "user", "content": f"Your edit failed: {error}"}]
    return code


def task_dirs(root: Path | None) -> list[Path]:
    for candidate in ([root] if root else [BUILTIN, FIXTURES]):
        if candidate and candidate.is_dir():
            found = sorted(p for p in candidate.iterdir() if (p / "problem.md").is_file())
            if found:
                return found
    raise SystemExit("no tasks found")


def evaluate(code: str, tasks: list[Path], seed: int, workers: int) -> list[TaskResult]:
    with tempfile.TemporaryDirectory(prefix="qd-variant-") as folder:
        (Path(folder) / "agent.py").write_text(code)
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda task: run_task(Path(folder), task, seed=seed), tasks))


def row(name: str, code: str, runs: list[TaskResult]) -> str:
    n = len(runs)
    emitted, changed = sum(r.lines_emitted for r in runs), sum(r.lines_changed for r in runs)
    tools = len(set().union(*(r.tools_offered for r in runs))) if runs else 0
    return (f"{name:32} {sum(r.passed for r in runs) / n:7.2f} {tools:5d} "
            f"{emitted / n:8.1f} {changed / n:8.1f} {changed / max(1, emitted):6.2f} "
            f"{sum(r.tokens for r in runs) / n:9.0f} {sum(r.llm_calls for r in runs) / n:6.1f} "
            f"{sum(r.seconds for r in runs) / n:5.2f} {max(r.seconds for r in runs):5.2f}  "
            f"{','.join(tool_names(code))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", type=Path, default=None, help="folder of task folders")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    tasks = task_dirs(args.tasks)
    seed_code = SEED_AGENT.read_text()
    model = OfflineModel()
    variants = {name: named_variant(seed_code, names, args.seed) for name, names in NAMED.items()}
    variants |= {name: walked_variant(seed_code, targets, args.seed, model)
                 for name, targets in WALKS.items()}
    print(f"{len(tasks)} tasks from {tasks[0].parent}, seed {args.seed}")
    print(f"{'variant':32} {'fitness':>7} {'tools':>5} {'emitted':>8} {'changed':>8} "
          f"{'gran.':>6} {'tokens':>9} {'calls':>6} {'s':>5} {'max s':>5}  tools offered")
    start = time.monotonic()
    for name, code in variants.items():
        print(row(name, code, evaluate(code, tasks, args.seed, args.workers)), flush=True)
    print(f"(per task means; emitted/changed are lines; gran. = changed / emitted; "
          f"{time.monotonic() - start:.0f}s in all)")


if __name__ == "__main__":
    main()
