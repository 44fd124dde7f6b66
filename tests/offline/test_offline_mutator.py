"""The mutator role: answer format, edits that apply and compose, targets, failed-edit retries."""

import random
import re

import pytest

from offline_helpers import FIXTURES, SEED_AGENT, apply_answer, load_agent, variant
from qdagents.emitters import EditError, parse_edits
from qdagents.offline._model import OfflineModel
from qdagents.offline._bench import run_task
from qdagents.offline._catalogue import CATALOGUE, FINE_EDIT_TOOLS, remove_tool, tool_names
from qdagents.offline._mutator import TARGETS, render

SEED = SEED_AGENT.read_text()
BLOCK = re.compile(r"^agent\.py\n<<<<<<< SEARCH\n.*?\n=======\n.*?\n>>>>>>> REPLACE$", re.S | re.M)


def request(code, target=None, fitness=0.25):
    text = (f"# Parent agent\nFitness: {fitness:.3f} (share of tasks solved)\n"
            "Descriptors: tool_count=2, edit_granularity=0.03, token_cost=4500\n"
            "\n# Evaluation feedback (failed tasks)\ninventory: hidden tests failed\n"
            + (f"\nTarget: {target}\n" if target else "")
            + f"\n# Files\n### File: agent.py\n```python\n{code.rstrip()}\n```\n")
    return [{"role": "system", "content": "You improve coding agents."},
            {"role": "user", "content": text}]


def mutate(code, target=None, seed=0, retry=True):
    """One mutator answer applied to ``code`` (after one retry if the first edit fails)."""
    messages = request(code, target)
    answer = OfflineModel().respond("mutator", messages, None, seed)["message"]["content"]
    try:
        return apply_answer({"agent.py": code}, answer)["agent.py"], answer
    except ValueError as error:
        if not retry:
            raise
        messages += [{"role": "assistant", "content": answer},
                     {"role": "user", "content": f"Your edit failed: {error}"}]
        answer = OfflineModel().respond("mutator", messages, None, seed)["message"]["content"]
        return apply_answer({"agent.py": code}, answer)["agent.py"], answer


def test_answer_is_a_rationale_then_blocks():
    answer = OfflineModel().respond("mutator", request(SEED), None, 1)["message"]["content"]
    rationale, rest = answer.split("\n\n", 1)
    assert rationale.startswith("I will") and "<<<<<<<" not in rationale
    assert BLOCK.search(rest)
    assert all(edit.path == "agent.py" for edit in parse_edits(answer))


def test_same_request_same_answer():
    model = OfflineModel()
    assert model.respond("mutator", request(SEED), None, 5) == \
        model.respond("mutator", request(SEED), None, 5)


@pytest.mark.parametrize("mutation", CATALOGUE, ids=lambda m: m.name)
def test_every_catalogue_entry_makes_working_code(mutation):
    with_fine = variant("add str_replace tool")
    fine_only = apply_answer({"agent.py": with_fine}, render("agent.py", remove_tool(
        with_fine, random.Random(0), "finer edits")))["agent.py"]  # write_file removed
    bases = [SEED, variant("add str_replace tool"), fine_only]
    base, edits = next(((b, e) for b in bases if (e := mutation.make(b, random.Random(0), None))),
                       (None, None))
    assert edits, f"{mutation.name} should apply to the seed agent or a near variant"
    code = apply_answer({"agent.py": base}, render("agent.py", edits))["agent.py"]
    assert code != base
    agent = load_agent(code)
    assert set(tool_names(code)) == set(agent.DISPATCH) == {
        t["function"]["name"] for t in agent.TOOLS}


def test_mutations_compose_and_the_result_still_runs(tmp_path):
    code = SEED
    for step in range(30):
        target = random.Random(step).choice(TARGETS + (None,))
        code, _ = mutate(code, target, seed=step)
        load_agent(code)
    assert len(code.splitlines()) > len(SEED.splitlines())
    (tmp_path / "agent.py").write_text(code)
    run = run_task(tmp_path, FIXTURES / "average_rating")
    assert run.exit_code == 0 and run.llm_calls >= 1


def _effect(before, after):
    old, new = tool_names(before), tool_names(after)
    fine = lambda names: sum(n in FINE_EDIT_TOOLS for n in names)  # noqa: E731
    return {"more tools": len(new) > len(old), "fewer tools": len(new) < len(old),
            "finer edits": fine(new) > fine(old) or ("write_file" in set(old) - set(new)),
            "coarser edits": fine(new) < fine(old) or ("write_file" in set(new) - set(old))}


@pytest.mark.parametrize("target", ["more tools", "fewer tools", "finer edits", "coarser edits"])
def test_tool_targets_are_honoured(target):
    base = variant("add run_tests tool", "add str_replace tool")
    for seed in range(12):
        after, _ = mutate(base, target, seed)
        assert _effect(base, after)[target], (target, seed)


@pytest.mark.parametrize("target, names", [
    ("fewer tokens", {"lower MAX_STEPS", "trim old tool results", "lower OUTPUT_LIMIT",
                      "shorter system prompt"}),
    ("more tokens", {"raise MAX_STEPS", "plan first", "longer system prompt", "raise OUTPUT_LIMIT",
                     "ask for a test loop", "add run_tests tool"})])
def test_token_targets_are_honoured(target, names):
    for seed in range(12):
        _, answer = mutate(SEED, target, seed)
        assert re.search(r"\(([^;)]+)", answer)[1] in names


def test_about_one_answer_in_twenty_does_not_apply_and_the_retry_does():
    failures = 0
    for seed in range(300):
        try:
            mutate(SEED, seed=seed, retry=False)
        except ValueError:
            failures += 1
            mutate(SEED, seed=seed)  # the retry after the error message applies
    assert 3 <= failures <= 36


def test_answers_are_edits_the_emitters_parse():
    """The mutator has no parser of its own: what it writes is what ``emitters`` reads."""
    applied = 0
    for seed in range(20):
        answer = OfflineModel().respond("mutator", request(SEED), None, seed)["message"]["content"]
        assert parse_edits(answer)            # always SEARCH/REPLACE blocks, never free text
        try:
            assert apply_answer({"agent.py": SEED}, answer)["agent.py"] != SEED
            applied += 1
        except EditError:                     # a deliberately wrong SEARCH (about 1 in 20)
            continue
    assert applied >= 15


def test_full_rewrite_request_gets_the_whole_file():
    messages = request(SEED)
    messages[1]["content"] += "\nAnswer with a full rewrite of agent.py."
    answer = OfflineModel().respond("mutator", messages, None, 0)["message"]["content"]
    code = answer.split("```python\n")[1].rsplit("\n```", 1)[0]
    assert code != SEED.rstrip() and "TOOLS = [" in code
    load_agent(code)


def test_asks_for_files_when_none_are_shown():
    answer = OfflineModel().respond("mutator", [{"role": "user", "content": "improve it"}], None, 0)
    assert "### File:" in answer["message"]["content"]
