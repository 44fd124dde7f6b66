from pathlib import Path

import numpy as np
import pytest
import yaml

from qdagents.emitters import EMITTERS, Parent, make_emitter

CONF = Path(__file__).resolve().parents[2] / "qdagents" / "conf" / "emitters"


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_emitters_conf_builds_as_the_loop_builds_it(path):
    spec = yaml.safe_load(path.read_text())
    for name, options in spec.items():
        assert options["kind"] in EMITTERS and options.get("weight", 1.0) >= 0
        emitter = make_emitter(options["kind"], name=name, **{
            k: v for k, v in options.items() if k not in ("kind", "weight")})
        assert emitter.name == name and emitter.parents_needed in (1, 2)


def test_mixed_has_the_three_emitters_and_the_baseline_runs_offline():
    spec = yaml.safe_load((CONF / "mixed.yaml").read_text())
    assert {o["kind"] for o in spec.values()} == {"llm_mutation", "llm_crossover",
                                                  "random_structural"}
    assert spec["llm_mutation"]["directed"] is True
    parent = Parent(id="p", files={"agent.py": "MAX_STEPS = 3\n"}, fitness=0, descriptors={})
    child = make_emitter("random_structural").propose([parent], complete=None,
                                                      rng=np.random.default_rng(0))
    assert child.files["agent.py"] in ("MAX_STEPS = 6\n", "MAX_STEPS = 2\n")
