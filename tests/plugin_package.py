"""An out-of-tree plug-in package, written into a temporary folder by the tests that use it.

``write_plugin_package(root)`` writes ``root/qdplug`` (one part of each pluggable kind: emitter,
selection rule, descriptor, archive, task-suite loader, sandbox backend, each logging its use to
the file named by ``$QDPLUG_LOG``) and ``root/conf`` (Hydra config groups naming them by
``_target_``), as a researcher's own package would be. Nothing here is imported from the checkout
by qdagents: the run finds it through ``PYTHONPATH`` and ``hydra.searchpath``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

PARTS = '''
"""A researcher's own parts for qdagents, one of each kind."""

import os
from pathlib import Path

import numpy as np

from qdagents.archive import Insertion
from qdagents.emitters import EmitFailure, Proposal, grid_position
from qdagents.sandbox import ProcessSandbox
from qdagents.tasks import TaskSuite, load_task_folder

HERE = Path(__file__).parent


def note(kind):
    with open(os.environ["QDPLUG_LOG"], "a") as log:
        log.write(kind + "\\n")


class AppendStep:
    """Emitter: the parent with one more step allowed (no LLM)."""

    parents_needed, directed, needs_workshop = 1, False, False

    def __init__(self, *, name, increment=1):
        self.name, self.increment = name, increment

    def propose(self, parents, *, complete, rng, target=None, workshop=None):
        note("emitter")
        files = dict(parents[0].files)
        extra = int(rng.integers(1, 1000))
        files["agent.py"] = files["agent.py"] + f"\\n# variant {extra * self.increment}\\n"
        if files == parents[0].files:
            raise EmitFailure("nothing changed")
        return Proposal(files=files, message=f"variant {extra}")


def fittest_newest(candidates, children, *, tie_break="newest", **_):
    """Selection rule: the fittest candidate, the newest among equals."""
    note("selection")
    fitness = np.array([c["fitness"] for c in candidates])
    seq = np.array([c["seq"] for c in candidates])
    best = np.flatnonzero(fitness == fitness.max())
    pick = best[np.argmax(seq[best])] if tie_break == "newest" else best[0]
    p = np.zeros(len(candidates))
    p[pick] = 1.0
    return p


def comment_lines(tasks, files):
    """Descriptor: comment lines in agent.py (unit: lines)."""
    note("descriptor")
    return float(sum(line.lstrip().startswith("#") for line in files["agent.py"].splitlines()))


class FirstComeArchive:
    """Archive: the first agent to reach a grid cell keeps it."""

    def __init__(self, *, specs, seed=None):
        self.specs, self.cells = list(specs), {}

    def add(self, agent_id, fitness, descriptors):
        note("archive")
        cell = grid_position(self.specs, descriptors)
        if cell in self.cells:
            return Insertion(status="not_added", cell=-1, clipped=False)
        self.cells[cell] = {"id": agent_id, "fitness": float(fitness),
                            "descriptors": [float(v) for v in descriptors]}
        return Insertion(status="new", cell=len(self.cells) - 1, clipped=False)

    def elites(self):
        return sorted(self.cells.values(), key=lambda e: -e["fitness"])

    def is_elite(self, agent_id):
        return any(e["id"] == agent_id for e in self.cells.values())

    @property
    def stats(self):
        total = int(np.prod([s.bins for s in self.specs]))
        fitness = [e["fitness"] for e in self.cells.values()]
        return {"elites": len(fitness), "coverage": len(fitness) / total,
                "qd_score": float(sum(fitness)), "best": max(fitness, default=None)}


def load_word_tasks(repeat=1):
    """Task-suite loader: this package's own benchmark."""
    note("loader")
    return TaskSuite(name="words", tasks=[load_task_folder(HERE / "tasks" / "word_count",
                                                           task_id=f"word_count_{i}")
                                          for i in range(int(repeat))])


class LoggedSandbox(ProcessSandbox):
    """Sandbox backend: the process backend, logging each command (trusted code only)."""

    name = "logged-process"

    def run(self, argv, *, workdir, mounts, env, limits):
        note("sandbox")
        return super().run(argv, workdir=workdir, mounts=mounts, env=env, limits=limits)
'''

TASK = {
    "problem.md": """\
        # The word counter skips a word

        `words.py` counts the words of a text: `count_words(text)` returns how many
        whitespace-separated words it holds. It always says one word too few. Fix the bug in
        `words.py`. Run the visible tests with `python3 test_visible.py`.
        """,
    "workspace/words.py": """\
        def count_words(text):
            \"\"\"How many whitespace-separated words ``text`` holds.\"\"\"
            return len(text.split()) - 1
        """,
    "workspace/test_visible.py": """\
        import unittest

        from words import count_words


        class CountTest(unittest.TestCase):
            def test_three(self):
                self.assertEqual(count_words("one two three"), 3)


        if __name__ == "__main__":
            unittest.main()
        """,
    "hidden/test_words_hidden.py": """\
        import unittest

        from words import count_words


        class CountTest(unittest.TestCase):
            def test_three(self):
                self.assertEqual(count_words("one two three"), 3)

            def test_empty(self):
                self.assertEqual(count_words(""), 0)

            def test_spaces(self):
                self.assertEqual(count_words("  a   b  "), 2)


        if __name__ == "__main__":
            unittest.main()
        """,
    "reference/words.py": """\
        def count_words(text):
            \"\"\"How many whitespace-separated words ``text`` holds.\"\"\"
            return len(text.split())
        """,
}

CONF = {
    "emitters/append_step.yaml": """\
        append_step:
          _target_: qdplug.parts.AppendStep
          weight: 1.0
          increment: 2
        """,
    "selection/fittest_newest.yaml": """\
        _target_: qdplug.parts.fittest_newest
        pool: all
        tie_break: newest
        """,
    "descriptors/comments.yaml": """\
        axes:
          - _target_: qdplug.parts.comment_lines
            name: comment_lines
            label: comment lines (lines)
            unit: lines
            low: 0
            high: 20
            bins: 4
          - name: token_cost
            low: 0.0
            high: 20000.0
            bins: 5
        """,
    "archive/first_come.yaml": """\
        _target_: qdplug.parts.FirstComeArchive
        """,
    "tasks/words.yaml": """\
        _target_: qdplug.parts.load_word_tasks
        repeat: 2
        """,
    "sandbox/logged.yaml": """\
        _target_: qdplug.parts.LoggedSandbox
        """,
}

#: The overrides that pick every part from the package's config groups.
OVERRIDES = ["emitters=append_step", "selection=fittest_newest", "descriptors=comments",
             "archive=first_come", "tasks=words", "sandbox=logged"]


def write_plugin_package(root: Path) -> Path:
    """Writes the package and its config groups under ``root``; returns ``root``."""
    package = root / "qdplug"
    (package / "tasks" / "word_count").mkdir(parents=True)
    (package / "__init__.py").write_text('"""qdplug: parts for qdagents."""\n')
    (package / "parts.py").write_text(PARTS.lstrip())
    for path, text in TASK.items():
        target = package / "tasks" / "word_count" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    for path, text in CONF.items():
        target = root / "conf" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    return root
