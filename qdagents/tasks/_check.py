"""Self-check of a suite: every reference must pass its hidden tests and every untouched
workspace must fail them.

A task whose reference fails is unsolvable (or its tests are broken in this sandbox); a task
whose starting files already pass gives free fitness. Either would corrupt a run's fitness
silently, so the check is run on every suite a run may use (``qdagents tasks check``).

A reference that fails only because the judge/solution boundary refuses something its tests
need (a test subclassing a solution class, arithmetic on an object the tests do not declare, a
callback reaching into a test's internals; see docs/tasks.md) is reported as *not carried*, with
what was refused, rather than as a broken task: the verdict is never weakened to let it pass.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from qdagents.sandbox import Limits, Sandbox
from qdagents.tasks._harness import TestOutcome
from qdagents.tasks._task import Task, TaskSuite

__all__ = ["CheckResult", "check_suite", "check_task"]


@dataclass(frozen=True)
class CheckResult:
    """What the self-check found for one task; ``ok`` when ``problems`` is empty.

    ``unavailable`` says why the task could not be checked here (e.g. its image is missing);
    such a task is not ``ok`` and has no outcomes.
    """

    task_id: str
    reference: TestOutcome | None
    untouched: TestOutcome | None
    problems: list[str] = field(default_factory=list)
    unavailable: str | None = None
    not_carried: str | None = None   # what the boundary refused that the reference's tests need

    @property
    def ok(self) -> bool:
        return not self.problems and self.unavailable is None


def check_task(task: Task, *, sandbox: Sandbox, limits: Limits) -> CheckResult:
    """Runs the task's verdict on its reference and on its untouched workspace."""
    why = task.unavailable(sandbox)
    if why:
        return CheckResult(task.id, None, None, unavailable=why)
    outcomes = {}
    for solved in (True, False):
        with tempfile.TemporaryDirectory(prefix="qdagents-check-") as workspace:
            try:
                task.prepare(Path(workspace), sandbox=sandbox, solved=solved)
            except Exception as error:  # e.g. a gold patch that does not apply
                outcomes[solved] = TestOutcome(False, 0, 0, f"could not prepare: {error}"[:400])
                continue
            outcomes[solved] = task.judge(Path(workspace), sandbox=sandbox, limits=limits)
    problems, not_carried = [], None
    failed = [t for t in outcomes[True].tests if not t.ok]
    refused = [t for t in failed if t.kind == "boundary"]
    if refused:
        not_carried = "; ".join(f"{t.name}: {t.error}" for t in refused[:3])[:400]
    if not task.reference:
        problems.append("no reference solution")
    elif not outcomes[True].passed and (len(refused) < len(failed) or not failed):
        problems.append(f"reference fails: {outcomes[True].reason}")
    if outcomes[False].passed:
        problems.append("untouched workspace passes the hidden tests")
    return CheckResult(task.id, outcomes[True], outcomes[False], problems,
                       not_carried=not_carried)


def check_suite(suite: TaskSuite, *, sandbox: Sandbox, limits: Limits = Limits(),
                workers: int = 1) -> list[CheckResult]:
    """Checks every task of ``suite``, ``workers`` at a time; results come in suite order."""
    def check(task: Task) -> CheckResult:
        return check_task(task, sandbox=sandbox, limits=limits)

    if workers <= 1:
        return [check(task) for task in suite]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(check, suite))
