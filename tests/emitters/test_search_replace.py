import pytest

from qdagents.emitters import EditError, apply_edits, parse_edits

ANSWER = """Add a retry.

agent.py
<<<<<<< SEARCH
MAX_STEPS = 5
=======
MAX_STEPS = 10
>>>>>>> REPLACE

tools.py
<<<<<<< SEARCH
=======
def extra():
    return 1
>>>>>>> REPLACE
"""


def test_parse_and_apply():
    edits = parse_edits(ANSWER)
    assert [e.path for e in edits] == ["agent.py", "tools.py"]
    files = apply_edits({"agent.py": "A = 1\nMAX_STEPS = 5\n"}, edits)
    assert files["agent.py"] == "A = 1\nMAX_STEPS = 10\n"
    assert "def extra" in files["tools.py"]


def test_errors_are_messages_for_the_model():
    with pytest.raises(EditError, match="no SEARCH/REPLACE block"):
        parse_edits("I would change the loop.")
    with pytest.raises(EditError, match="not found"):
        apply_edits({"agent.py": "MAX_STEPS = 7\n"}, parse_edits(ANSWER))
    with pytest.raises(EditError, match="found 2 times"):
        apply_edits({"agent.py": "MAX_STEPS = 5\nMAX_STEPS = 5\n"}, parse_edits(ANSWER))
    escape = "../../etc/passwd\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE"
    with pytest.raises(EditError, match="inside the agent folder"):
        apply_edits({}, parse_edits(escape))
