"""An agent that loops or crashes on its first tasks, the same way each time, stops there
(issue 12): it does not hold a worker for every task's time limit."""

from qdagents.evaluation import Evaluator
from qdagents.llm import Gateway
from qdagents.sandbox import Limits, make_sandbox
from qdagents.tasks import TaskSuite

from test_evaluation_verdicts import FIXER, agent, calc_task  # noqa: F401 (agent: a fixture)

SUITE = TaskSuite(name="calc", tasks=[
    calc_task(f"plus{i}", "a - b" + " " * i, "a + b", 5, 10) for i in range(5)])
LOOPER = "while True:\n    pass\n"
CRASHER = "import sys\nsys.exit(3)\n"
#: Crashes on every task, but not the same way twice in a row (its code depends on the task).
#: Writes what a timed-out run's reason looks like, then exits as a success: the way it failed
#: comes from the sandbox's account of the process, so this is not "the same way" three times.
FORGER = "import sys\nprint('timed out after 1.5s', file=sys.stderr)\n"
VARIED = "import sys\nsys.exit(1 + len(open('calc.py').read()) % 3)\n"


def evaluator(backend, early_stop=3, seconds=30) -> Evaluator:
    return Evaluator(suite=SUITE, sandbox=make_sandbox(backend),
                     gateway=Gateway(model="qdagents/coder"), descriptors=["tool_count"],
                     agent_limits=Limits(seconds=seconds), test_limits=Limits(seconds=30),
                     early_stop=early_stop)


def test_an_agent_that_loops_stops_after_its_first_tasks(bwrap_backend, agent):
    evaluation = evaluator(bwrap_backend, seconds=1.5).evaluate("looper", agent(LOOPER))
    assert len(evaluation.tasks) == 3 and evaluation.fitness == 0.0
    assert evaluation.failure == ("stopped early: the agent failed the same way on its first 3 "
                                  "tasks (timed out after 1.5s)")


def test_an_agent_that_crashes_alike_stops_and_one_that_varies_does_not(bwrap_backend, agent):
    crashed = evaluator(bwrap_backend).evaluate("crasher", agent(CRASHER))
    assert len(crashed.tasks) == 3
    assert crashed.failure.startswith("stopped early") and "exited with code 3" in crashed.failure
    all_run = evaluator(bwrap_backend, early_stop=0).evaluate("crasher", agent(CRASHER))
    assert len(all_run.tasks) == 5 and all_run.failure.startswith("the agent failed to run")


def test_agents_that_do_not_fail_alike_run_every_task(bwrap_backend, agent, tmp_path):
    honest = evaluator(bwrap_backend).evaluate("fixer", agent(FIXER))
    assert len(honest.tasks) == 5 and honest.fitness == 1.0 and honest.failure is None
    (tmp_path / "agent" / "agent.py").write_text(VARIED)
    codes = [t.exit_code for t in evaluator(bwrap_backend, early_stop=0).evaluate(
        "varied", tmp_path / "agent").tasks]
    assert len(set(codes[:3])) > 1          # the premise: not the same way each time
    assert len(evaluator(bwrap_backend).evaluate("varied", tmp_path / "agent").tasks) == 5


def test_an_agent_cannot_forge_the_way_it_failed(bwrap_backend, agent):
    evaluation = evaluator(bwrap_backend).evaluate("forger", agent(FORGER))
    assert len(evaluation.tasks) == 5 and evaluation.failure is None
    assert all(t.exit_code == 0 and not t.passed for t in evaluation.tasks)
