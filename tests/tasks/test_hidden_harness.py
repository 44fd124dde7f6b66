"""The hidden-test harness: verdicts and reasons, on the plain-process backend and on bwrap.

What a cheating solution cannot do is in test_verdict_attacks.py (bwrap and docker)."""

import os
import shutil

import pytest
from tasks_helpers import make_task

from qdagents.sandbox import BwrapSandbox, Limits, ProcessSandbox
from qdagents.tasks import run_hidden_tests
from qdagents.tasks._harness import copy_clean

GOOD = {"adder.py": "def add(a, b):\n    return a + b\n"}
BAD = {"adder.py": "def add(a, b):\n    return a - b\n"}


@pytest.fixture(scope="module",
                params=["process", pytest.param("bwrap", marks=pytest.mark.bwrap)])
def sandbox(request):
    """Every harness test runs on the plain-process backend and, where it works, on bwrap."""
    if request.param == "process":
        return ProcessSandbox(warn=False)
    backend = BwrapSandbox()
    works = shutil.which("bwrap") and backend.run(["true"], workdir="/", mounts=[], env={},
                                                  limits=Limits(seconds=20)).exit_code == 0
    if not works:
        if os.environ.get("QDAGENTS_REQUIRE_SANDBOXES") == "1":
            pytest.fail("bubblewrap is required (QDAGENTS_REQUIRE_SANDBOXES=1) but does not work")
        pytest.skip("bubblewrap not available")
    return backend


def run(task, root, sandbox, limits, **options):
    return run_hidden_tests(task, root, sandbox=sandbox, limits=limits, **options)


# --- verdicts and reasons ---------------------------------------------------------------------


def test_correct_solution_passes(workspace, sandbox, limits):
    outcome = run(make_task(), workspace(GOOD), sandbox, limits)
    assert outcome.passed and outcome.tests_run == 3 and outcome.tests_failed == 0
    assert outcome.reason is None


def test_wrong_solution_fails_with_named_tests(workspace, sandbox, limits):
    outcome = run(make_task(), workspace(BAD), sandbox, limits)
    assert not outcome.passed
    assert (outcome.tests_run, outcome.tests_failed) == (3, 2)
    assert outcome.reason.startswith("2 of 3 hidden tests failed: AddTest.test_negative: "
                                     "AssertionError: 1 != -3")
    assert "test_small" in outcome.log


def test_syntax_error_is_named(workspace, sandbox, limits):
    outcome = run(make_task(), workspace({"adder.py": "def add(a, b)\n    return a + b\n"}),
                  sandbox, limits)
    assert not outcome.passed
    assert outcome.reason.startswith("syntax error in adder.py line 1")
    assert outcome.tests_failed == outcome.tests_run == 3  # counted from the test file


def test_missing_module_is_named(workspace, sandbox, limits):
    outcome = run(make_task(), workspace({"other.py": ""}), sandbox, limits)
    assert not outcome.passed
    assert "ModuleNotFoundError: No module named 'adder'" in outcome.reason


def test_hanging_test_fails_alone(workspace, sandbox, limits):
    hidden = """
        import unittest
        from adder import add, spin

        class T(unittest.TestCase):
            def test_a(self):
                self.assertEqual(add(1, 2), 3)

            def test_b_hangs(self):
                spin()

            def test_c(self):
                self.assertEqual(add(2, 2), 4)
        """
    source = GOOD["adder.py"] + "def spin():\n    while True:\n        pass\n"
    outcome = run(make_task(hidden), workspace({"adder.py": source}), sandbox, limits,
                  test_seconds=1)
    assert (outcome.tests_run, outcome.tests_failed) == (3, 1)
    assert "T.test_b_hangs: timed out after 1s" in outcome.reason


def test_hang_that_blocks_the_alarm_is_stopped_by_the_supervisor(workspace, sandbox, limits):
    hidden = """
        import unittest
        from adder import add, spin

        class T(unittest.TestCase):
            def test_a_hangs(self):
                spin()

            def test_b(self):
                self.assertEqual(add(2, 2), 4)
        """
    source = GOOD["adder.py"] + (
        "import signal\n"
        "def spin():\n"
        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n")
    outcome = run(make_task(hidden), workspace({"adder.py": source}), sandbox, limits,
                  test_seconds=1)
    assert (outcome.tests_run, outcome.tests_failed) == (2, 1)
    assert "T.test_a_hangs: timed out after 1s" in outcome.reason


def test_test_that_kills_its_process_fails_alone(workspace, sandbox, limits):
    hidden = """
        import unittest
        from adder import add, die

        class T(unittest.TestCase):
            def test_a(self):
                self.assertEqual(add(1, 2), 3)

            def test_b_dies(self):
                die()

            def test_c(self):
                self.assertEqual(add(2, 2), 4)
        """
    source = GOOD["adder.py"] + "import os\ndef die():\n    os._exit(0)\n"
    outcome = run(make_task(hidden), workspace({"adder.py": source}), sandbox, limits)
    assert (outcome.tests_run, outcome.tests_failed) == (3, 1)
    assert "T.test_b_dies: the solution process exited with code 0 during the test" in outcome.reason


def test_bare_functions_subtests_and_static_skips(workspace, sandbox, limits):
    hidden = """
        import unittest
        from adder import add

        def test_plain_assert():
            assert add(2, 3) == 5

        class T(unittest.TestCase):
            def test_cases(self):
                for a, b in [(1, 1), (2, 5)]:
                    with self.subTest(a=a, b=b):
                        self.assertEqual(add(a, b), a + b)

            @unittest.skip("extra credit")
            def test_skipped_by_the_test_file(self):
                self.fail()
        """
    good = run(make_task(hidden), workspace(GOOD), sandbox, limits)
    assert good.passed and good.tests_run == 2  # the file's own skip is not counted
    bad = run(make_task(hidden), workspace(BAD), sandbox, limits)
    assert (bad.tests_run, bad.tests_failed) == (2, 2)
    assert "(a=1, b=1): AssertionError" in bad.reason


def test_class_fixture_error_fails(workspace, sandbox, limits):
    hidden = """
        import unittest
        from adder import add

        class T(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                add(None, 1)

            def test_a(self):
                self.assertEqual(add(1, 2), 3)
        """
    outcome = run(make_task(hidden), workspace(GOOD), sandbox, limits)
    assert not outcome.passed
    assert "TypeError" in outcome.reason


# --- what a solution cannot do ----------------------------------------------------------------


def test_printing_success_gains_nothing(workspace, sandbox, limits):
    source = BAD["adder.py"] + (
        "import os, sys\n"
        "print('.' * 3 + '\\nRan 3 tests in 0.001s\\n\\nOK')\n"
        "print('all tests passed', file=sys.stderr)\n"
        "os._exit(0)\n")
    outcome = run(make_task(), workspace({"adder.py": source}), sandbox, limits)
    assert not outcome.passed
    assert outcome.tests_failed >= 1


def test_own_conftest_and_site_hooks_gain_nothing(workspace, sandbox, limits):
    always_pass = ("import unittest\n"
                   "unittest.TestCase.run = lambda self, result=None: None\n")
    files = {**BAD, "conftest.py": always_pass, "sitecustomize.py": always_pass,
             "usercustomize.py": always_pass, "evil.pth": "import sitecustomize\n",
             "sub/conftest.py": always_pass}
    outcome = run(make_task(), workspace(files), sandbox, limits)
    assert not outcome.passed and outcome.tests_failed == 2


def test_modified_or_shadowed_hidden_tests_gain_nothing(workspace, sandbox, limits):
    trivial = "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        pass\n"
    files = {**BAD, "test_adder_hidden.py": trivial, "test_visible.py": trivial}
    outcome = run(make_task(), workspace(files), sandbox, limits)
    assert (outcome.tests_run, outcome.tests_failed) == (3, 2)
    # a package of the same name would win over the module on import
    package = {**BAD, "test_adder_hidden/__init__.py": trivial}
    outcome = run(make_task(), workspace(package), sandbox, limits)
    assert (outcome.tests_run, outcome.tests_failed) == (3, 2)


def test_stdlib_cannot_be_shadowed(workspace, sandbox, limits):
    fake = "class TestCase:\n    pass\ndef main():\n    pass\n"
    files = {**BAD, "unittest.py": fake, "random.py": "raise SystemExit('shadowed')\n"}
    hidden = "import random\n" + make_task().hidden_tests["test_adder_hidden.py"]
    outcome = run(make_task(hidden), workspace(files), sandbox, limits)
    assert (outcome.tests_run, outcome.tests_failed) == (3, 2)


def test_skipping_at_run_time_counts_as_failure(workspace, sandbox, limits):
    source = "import unittest\ndef add(a, b):\n    raise unittest.SkipTest('later')\n"
    outcome = run(make_task(), workspace({"adder.py": source}), sandbox, limits)
    assert (outcome.tests_run, outcome.tests_failed) == (3, 3)
    assert "SkipTest: later" in outcome.reason and not outcome.tampering


def test_workspace_is_only_read(workspace, sandbox, limits):
    root = workspace({**GOOD, "conftest.py": ""})
    before = sorted(p.name for p in root.iterdir())
    run(make_task(), root, sandbox, limits)
    assert sorted(p.name for p in root.iterdir()) == before


def test_copy_clean_drops_links_pipes_and_hooks(tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "pkg" / "mod.py").write_text("x = 1\n")
    (source / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (source / "conftest.py").write_text("")
    (source / "hook.pth").write_text("")
    secret = tmp_path / "secret.txt"
    secret.write_text("host file")
    os.symlink(secret, source / "link.txt")
    os.mkfifo(source / "pipe")
    copy_clean(source, target)
    found = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
    assert found == ["pkg", "pkg/mod.py"]


@pytest.mark.parametrize("seconds", [3])
def test_whole_run_timeout_is_reported(workspace, sandbox, seconds):
    source = "import time\nwhile True:\n    time.sleep(0.05)\n"
    outcome = run(make_task(), workspace({"adder.py": source}), sandbox, Limits(seconds=seconds))
    assert not outcome.passed
    assert "timed out" in outcome.reason


def test_unusable_workspace_is_a_failure_not_an_error(tmp_path, sandbox, limits):
    outcome = run(make_task(), tmp_path / "missing", sandbox, limits)
    assert not outcome.passed and "could not prepare the workspace" in outcome.reason
