"""qdagents.plugins in process: every form a part may take in config, and the errors that name
the key when it does not fit (the whole path through `qdagents run` is tests/test_out_of_tree_plugins.py)."""

import textwrap

import numpy as np
import pytest

from qdagents import plugins
from qdagents.config import ConfigError
from qdagents.descriptors import DESCRIPTORS, Descriptor
from qdagents.selection import Selection

MODULE = '''
import numpy as np
from qdagents.descriptors import Descriptor

def file_count(tasks, files):
    return float(len(files))

FILES = Descriptor(name="files", label="files (count)", unit="files", low=0, high=10, bins=5,
                   measure=file_count)

class Halved(Descriptor):
    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "measure", lambda tasks, files: len(files) / 2)

def size_of(files):
    return float(len(files))

def favourite(candidates, children, *, favourite, **_):
    return np.ones(len(candidates)) / len(candidates)

def no_context(candidates, children):
    return np.ones(len(candidates)) / len(candidates)

class FirstAlways:
    def __init__(self, *, bonus=0.0):
        self.bonus = bonus
    def choose(self, candidates, children, rng, k=1, *, curiosity=None):
        return [candidates[0]] * k

class Mute:
    name, parents_needed, needs_workshop = "mute", 1, False
    def __init__(self, *, name):
        self.name = name
    def propose(self, parents, *, complete, rng, target=None, workshop=None):
        raise NotImplementedError

class OldEmitter:
    parents_needed, directed, needs_workshop = 1, False, False
    def __init__(self, *, name):
        self.name = name
    def propose(self, parents, *, complete, rng):
        raise NotImplementedError

class NoElites:
    def __init__(self, *, specs, seed=None):
        self.specs, self.stats = specs, {}
    def add(self, agent_id, fitness, descriptors):
        pass
    def is_elite(self, agent_id):
        return False

class FewStats(NoElites):
    def elites(self):
        return []
'''


@pytest.fixture(autouse=True)
def user_module(tmp_path, monkeypatch):
    (tmp_path / "mine.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "broken.py").write_text("raise RuntimeError('half written')\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_descriptor_forms():
    built_in = plugins.descriptor({"name": "tool_count", "bins": 4}, key="k")
    assert built_in.name == "tool_count" and built_in.bins == 4 and built_in.low == 0.5
    instance = plugins.descriptor({"_target_": "mine.FILES", "high": 20}, key="k")
    assert (instance.name, instance.high, instance.measure([], {"a": "", "b": ""})) == \
        ("files", 20, 2.0)
    renamed = plugins.descriptor({"_target_": "mine.FILES", "name": "n_files"}, key="k")
    assert renamed.name == "n_files"
    measure = plugins.descriptor({"_target_": "mine.file_count", "low": 0, "high": 3, "bins": 3,
                                  "unit": "files"}, key="k")
    assert measure.name == "file_count" and measure.unit == "files" and measure.bins == 3
    cls = plugins.descriptor({"_target_": "mine.Halved", "name": "half", "high": 5, "bins": 5},
                             key="k")
    assert isinstance(cls, Descriptor) and cls.measure([], {"a": ""}) == 0.5
    novelty = plugins.descriptor({"name": "code_novelty"}, key="k",
                                 group={"novelty_k": 5, "embedding_model": "openai/x"})
    assert (novelty.k, novelty.embedding_model) == (5, "openai/x")
    with pytest.raises(ConfigError, match=r"k\.bins: expected a positive integer"):
        plugins.descriptor({"_target_": "mine.file_count", "low": 0, "high": 3, "bins": 0},
                           key="k")
    with pytest.raises(ConfigError, match="descriptors.axes: descriptor names must be distinct"):
        plugins.descriptors({"axes": [{"name": "tool_count"}, {"name": "tool_count"}]})
    assert [d.name for d in plugins.descriptors({"axes": [{"name": n} for n in DESCRIPTORS]})] \
        == list(DESCRIPTORS)


def test_selection_forms():
    rng = np.random.default_rng(0)
    pool = [{"id": "a", "fitness": 0.1, "seq": 1}, {"id": "b", "fitness": 0.9, "seq": 2}]
    built_in = plugins.selection({"name": "best", "pool": "all"}, ranges=None)
    assert isinstance(built_in, Selection) and built_in.choose(pool, {}, rng)[0]["id"] == "b"
    from_function = plugins.selection({"_target_": "qdagents.selection.latest", "pool": "all"},
                                      ranges=None)
    assert from_function.choose(pool, {}, rng, k=2) == [pool[1], pool[1]]
    from_class = plugins.selection({"_target_": "mine.FirstAlways", "bonus": 1.0}, ranges=None)
    assert from_class.bonus == 1.0 and from_class.choose(pool, {}, rng) == [pool[0]]


def test_parts_that_do_not_fit_name_their_key():
    with pytest.raises(ConfigError, match=r"emitters.quiet: emitter Mute lacks directed"):
        plugins.emitter("quiet", {"_target_": "mine.Mute"})
    with pytest.raises(ConfigError, match=r"emitters.old: emitter OldEmitter.propose cannot be "
                                          r"called as propose\(…, complete=…, rng=…, target=…"):
        plugins.emitter("old", {"_target_": "mine.OldEmitter"})
    with pytest.raises(ConfigError, match="archive: archive NoElites lacks elites"):
        plugins.archive({"_target_": "mine.NoElites"}, axes=[], seed=0)
    with pytest.raises(ConfigError, match="archive: the archive's stats must be a dict with "
                                          "elites, coverage, qd_score, best; missing elites"):
        plugins.archive({"_target_": "mine.FewStats"}, axes=[], seed=0)
    with pytest.raises(ConfigError, match=r"archive.kind: 'hexagons' is not one of grid"):
        plugins.archive({"kind": "hexagons"}, axes=[], seed=0)
    with pytest.raises(ConfigError, match="selection._target_: no module found for "
                                          "'nowhere_at_all.rule'"):
        plugins.locate("nowhere_at_all.rule", "selection")
    with pytest.raises(ConfigError, match=r"selection._target_: importing 'broken' failed: "
                                          r"RuntimeError\('half written'\)"):
        plugins.selection({"_target_": "broken.rule"}, ranges=None)
    with pytest.raises(ConfigError, match="selection._target_: expected a dotted path"):
        plugins.selection({"_target_": "rule"}, ranges=None)


def test_function_forms_with_the_wrong_signature_name_their_key():
    """A measure or rule that cannot take the runner's call is refused when the run is built,
    not found by the first evaluation's TypeError (which would be scored as the agent's)."""
    with pytest.raises(ConfigError, match=r"descriptors.axes\[0\]: descriptor measure size_of "
                                          r"cannot be called as measure\(…, …\)"):
        plugins.descriptor({"_target_": "mine.size_of", "low": 0, "high": 3},
                           key="descriptors.axes[0]")
    with pytest.raises(ConfigError, match=r"selection: selection rule no_context cannot be called "
                                          r"as rule\(…, …, tournament_size=…, k_neighbours=…, "
                                          r"ranges=…, curiosity=…\): .*'tournament_size'"):
        plugins.selection({"_target_": "mine.no_context"}, ranges=None)
    with pytest.raises(ConfigError, match="missing a required argument: 'favourite'"):
        plugins.selection({"_target_": "mine.favourite"}, ranges=None)
    rule = plugins.selection({"_target_": "mine.favourite", "favourite": "a"}, ranges=None)
    assert rule.choose([{"id": "a"}], {}, np.random.default_rng(0)) == [{"id": "a"}]
