import pytest

from qdagents.emitters import NoveltyFilter, shingle_similarity
from qdagents.emitters._novelty_filter import shingles


def test_shingle_similarity_by_hand():
    a = {"f.py": "a b c d"}
    b = {"f.py": "a b c e"}
    # the path is one token, then the code tokens: [f.py, a, b, c, d]
    assert shingles(a, k=2) == {("f.py", "a"), ("a", "b"), ("b", "c"), ("c", "d")}
    # k=2: shared {(f.py,a),(a,b),(b,c)} = 3, union 5
    assert shingle_similarity(a, b, k=2) == pytest.approx(3 / 5)
    assert shingle_similarity(a, a) == 1.0
    assert shingle_similarity({"f.py": "x = 1"}, {"f.py": "x   =\n1"}) == 1.0   # layout ignored
    assert shingle_similarity({"f.py": "p q r s t u"}, {"g.py": "v w x y z"}, k=3) == 0.0
    assert shingle_similarity({}, {}) == 1.0
    # fewer tokens than k: one shingle
    assert shingles({"f.py": "x"}, k=5) == {("f.py", "x")}
    with pytest.raises(ValueError):
        shingle_similarity(a, b, k=0)


def test_novelty_filter():
    code = {"agent.py": "\n".join(f"X{i} = {i}" for i in range(40))}
    near = {"agent.py": code["agent.py"].replace("X39 = 39", "X39 = 40")}
    far = {"agent.py": "\n".join(f"def f{i}(): return {i}" for i in range(40))}
    sim = shingle_similarity(code, near)
    assert 0.9 < sim < 1
    f = NoveltyFilter(threshold=0.9)
    reason = f.too_similar(near, [far, code])
    assert reason.startswith("too similar to known agent #1") and f"{sim:.3f}" in reason
    assert f.too_similar(far, [code, near]) is None
    assert f.too_similar(code, []) is None
    assert NoveltyFilter(threshold=1.0).too_similar(near, [code]) is None
    with pytest.raises(ValueError):
        NoveltyFilter(threshold=0)
