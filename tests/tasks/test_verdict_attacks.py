"""Attacks on the verdict, each kept as a test: a solution written to pass hidden tests it does
not solve, or to learn them, run through the real harness on bwrap and on docker.

Every attack below must end with the task *not* passed. Where the judge can see the attempt
(a broken protocol, a replaced socket, processes left behind), it must also be recorded as
tampering; where the attempt is plain data the solution is allowed to send (an always-equal
object, a lying ``__str__``), it must simply gain nothing. The first group follows the attack
classes of issue 9, the second is what an agent evolved against this harness with its source in
hand would try next.
"""

import textwrap

import pytest
from attack_agents import ALWAYS_EQUAL_CLASS
from tasks_helpers import HIDDEN, make_task

from qdagents.sandbox import Limits, make_sandbox
from qdagents.tasks import run_hidden_tests
from sandbox_support import require_backend

BAD = "def add(a, b):\n    return a - b\n"
GOOD = "def add(a, b):\n    return a + b\n"
LIMITS = Limits(seconds=60)


@pytest.fixture(scope="module", params=[pytest.param("bwrap", marks=pytest.mark.bwrap),
                                        pytest.param("docker", marks=pytest.mark.docker)])
def sandbox(request):
    require_backend(request.param)
    return make_sandbox(request.param)


def judge(sandbox, tmp_path, files: dict[str, str], hidden: str = HIDDEN, *, seconds=2.0,
          **extra_hidden):
    """Runs the hidden tests of ``make_task(hidden)`` on a workspace holding ``files``."""
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    for name, text in files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    outcome = run_hidden_tests(make_task(hidden, **extra_hidden), workspace, sandbox=sandbox,
                               limits=LIMITS, test_seconds=seconds)
    print(f"[{sandbox.name}] passed={outcome.passed} failed={outcome.tests_failed}/"
          f"{outcome.tests_run} tampering={outcome.tampering}\n  reason={outcome.reason}")
    return outcome


def solution(*lines: str, base: str = BAD) -> dict[str, str]:
    return {"adder.py": base + textwrap.dedent("\n".join(lines))}


# === the attack classes of issue 9 ===============================================================


def test_forged_messages_on_inherited_file_descriptors(sandbox, tmp_path):
    """Old runner messages and well-formed frames written to every fd at import, then exit 0."""
    outcome = judge(sandbox, tmp_path, solution("""
        import json, os, struct
        lines = [{"type": "plan", "tests": ["t"], "problems": []}, {"type": "start", "i": 0},
                 {"type": "end", "i": 0, "ok": True, "error": "", "trace": ""}, {"type": "done"}]
        text = "".join(json.dumps(m) + "\\n" for m in lines).encode()
        for fd in range(0, 256):
            try:
                os.write(fd, text)
            except OSError:
                pass
        os._exit(0)
        """))
    assert not outcome.passed and outcome.tests_failed == 3
    assert any("protocol" in t for t in outcome.tampering)


def test_forged_verdicts_through_frames_gc_and_globals(sandbox, tmp_path):
    """Walk frames and the garbage collector to the server's connection and send verdict-like
    replies and messages through its own functions."""
    outcome = judge(sandbox, tmp_path, solution("""
        import gc, sys
        found = []
        frame = sys._getframe()
        while frame is not None:
            found += [v for v in frame.f_locals.values()
                      if hasattr(v, "send") and hasattr(v, "sock")]
            frame = frame.f_back
        found += [o for o in gc.get_objects() if type(o).__name__ == "Endpoint"]
        for endpoint in found:
            for message in ({"re": 1, "v": True}, {"re": 2, "v": {"ok": True}},
                            {"verdict": "pass", "tests": 3}, {"id": 7, "op": "pass", "a": []}):
                try:
                    endpoint.send(message)
                except BaseException:
                    pass
        """))
    assert not outcome.passed and outcome.tests_failed == 3
    assert outcome.tampering


def test_patching_the_framework_and_builtins_changes_nothing(sandbox, tmp_path):
    outcome = judge(sandbox, tmp_path, solution("""
        import builtins, json, sys, types, unittest
        original = builtins.__build_class__
        def build_class(func, name, *bases, **kw):
            cls = original(func, name, *bases, **kw)
            return unittest.skip("injected")(cls) if name.endswith("Test") else cls
        builtins.__build_class__ = build_class
        unittest.TestCase.run = lambda self, result=None: None
        unittest.TestResult.addFailure = lambda *a: None
        unittest.TestCase.assertEqual = lambda *a, **k: None
        builtins.AssertionError = type("AssertionError", (Exception,), {})
        fake = types.ModuleType("unittest")
        fake.TestCase = object
        sys.modules["unittest"] = fake
        sys.modules["unittest.case"] = fake
        """))
    assert not outcome.passed and (outcome.tests_run, outcome.tests_failed) == (3, 2)


ALWAYS_EQUAL = ALWAYS_EQUAL_CLASS + """
def add(a, b):
    return AlwaysEqual()
"""

ASSERTIONS = """
import math
import unittest
from adder import add

class T(unittest.TestCase):
    def test_equal(self):
        self.assertEqual(add(1, 2), 3)

    def test_equal_reversed(self):
        self.assertEqual(3, add(1, 2))

    def test_true(self):
        self.assertTrue(add(1, 2) == 3)

    def test_is(self):
        self.assertIs(add(1, 2) == 3, True)

    def test_almost_equal(self):
        self.assertAlmostEqual(add(0.1, 0.2), 0.3)

    def test_ordering(self):
        self.assertGreater(add(2, 2), 3)
        self.assertLess(add(2, 2), 5)

    def test_raw_arithmetic(self):
        self.assertTrue(abs(add(0.25, 0.25) - 0.5) < 1e-9)

    def test_isclose(self):
        self.assertTrue(math.isclose(add(0.25, 0.25), 0.5))

    def test_membership(self):
        self.assertIn(2, add([1], [2]))

    def test_in_expected(self):
        self.assertIn(add(1, 1), [2])

    def test_count_equal(self):
        self.assertCountEqual(add([1], [2]), [1, 2])

    def test_string(self):
        self.assertEqual(str(add(1, 2)), "3")

    def test_sorted(self):
        self.assertEqual(sorted([add(1, 1), 1]), [1, 2])

    def test_dict_value(self):
        self.assertEqual({"sum": add(1, 2)}, {"sum": 3})
"""


def test_always_equal_and_always_true_objects_gain_nothing(sandbox, tmp_path):
    outcome = judge(sandbox, tmp_path, {"adder.py": ALWAYS_EQUAL}, ASSERTIONS)
    passed = [t.name for t in outcome.tests if t.ok]
    assert passed == ["T.test_string"], passed  # str() is the solution's to answer, honestly "3"
    honest = judge(sandbox, tmp_path, {"adder.py": GOOD}, ASSERTIONS)
    assert honest.passed, honest.reason


@pytest.mark.parametrize("how", [
    "import os\nos._exit(0)",
    "import sys\nsys.exit(0)",
    "import atexit, os\natexit.register(os._exit, 0)\nraise SystemExit(0)",
    "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
])
def test_exiting_with_success_at_import(sandbox, tmp_path, how):
    outcome = judge(sandbox, tmp_path, solution(how, base=GOOD))
    assert not outcome.passed and outcome.tests_failed == 3


@pytest.mark.parametrize("how", [
    "os._exit(0)", "sys.exit(0)", "os.kill(os.getpid(), signal.SIGKILL)",
    "os.killpg(0, signal.SIGKILL)", "os.kill(os.getppid(), signal.SIGKILL)",
    "os.kill(-1, signal.SIGKILL)",
])
def test_exiting_with_success_mid_test(sandbox, tmp_path, how):
    """One test's call exits in some way: that test fails; the others are judged normally
    (unless the solution killed its own server too: then they fail as well)."""
    outcome = judge(sandbox, tmp_path, solution(f"""
        import os, signal, sys
        calls = []
        def add(a, b):
            calls.append(1)
            if (a, b) == (-1, -2):
                {how}
            return a + b
        """, base=""))
    failed = [t.name for t in outcome.tests if not t.ok]
    if "getppid" in how or "-1" in how:  # the call may survive; the server does not
        assert not outcome.passed and any("server was killed" in t for t in outcome.tampering)
    else:
        assert failed == ["AddTest.test_negative"], outcome.reason


def test_reading_hidden_tests_and_constants_finds_nothing(sandbox, tmp_path):
    """Look everywhere the solution's process can: files, /proc, the environment, memory."""
    outcome = judge(sandbox, tmp_path, {"adder.py": """
        import gc, os, sys
        found = []

        def look(path, data, markers=(b"class Add" + b"Test(", b"(-1, -2), " + b"-3")):
            if any(m in data for m in markers):
                found.append(path)

        for folder, dirs, files in os.walk("/"):
            if folder.startswith(("/proc", "/sys", "/dev")):
                dirs[:] = []
                continue
            for name in files:  # every name; the contents of every file outside /usr
                path = os.path.join(folder, name)
                look(path, path.encode())
                if not path.startswith("/usr/") or "qdagents" in path or "hidden" in path:
                    try:
                        with open(path, "rb") as handle:
                            look(path, handle.read(1 << 20))
                    except OSError:
                        pass
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                for name in ("cmdline", "environ", "maps"):
                    try:
                        look(f"/proc/{pid}/{name}", open(f"/proc/{pid}/{name}", "rb").read())
                    except OSError:
                        pass
                try:
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        look(f"/proc/{pid}/fd/{fd}", os.readlink(f"/proc/{pid}/fd/{fd}").encode())
                except OSError:
                    pass
        look("environ", repr(os.environ).encode())
        for obj in gc.get_objects():
            if type(obj).__name__ == "code":
                look("code", repr(obj.co_consts).encode() + repr(obj.co_names).encode())
        frame = sys._getframe().f_back   # the server's frames (this module's hold the markers)
        while frame is not None:
            look("frame", repr(frame.f_locals).encode()[:100000])
            frame = frame.f_back
        try:
            import qdagents
            found.append("qdagents importable")
        except ImportError:
            pass

        def add(a, b):
            raise RuntimeError(f"found={sorted(set(found))[:5]}")
        """}, seconds=30)
    assert not outcome.passed
    assert "found=[]" in outcome.reason, outcome.reason


def test_threads_and_daemons_cannot_alter_later_tests(sandbox, tmp_path):
    """A thread that floods the connection, and a daemon that outlives the solution process."""
    outcome = judge(sandbox, tmp_path, {"adder.py": """
        import gc, os, socket, threading, time

        def flood():
            time.sleep(0.05)
            for obj in gc.get_objects():
                if isinstance(obj, socket.socket) and obj.family == socket.AF_UNIX:
                    try:
                        obj.sendall(b"\\x00\\x00\\x00\\x0b" + b'{"re":99,"v":1}'[:11])
                    except OSError:
                        pass

        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
            os._exit(0)
        threading.Thread(target=flood, daemon=True).start()

        def add(a, b):
            time.sleep(0.2)
            return a + b
        """})
    assert not outcome.passed
    assert any("outlived" in t for t in outcome.tampering) \
        or any("protocol" in t for t in outcome.tampering), outcome.tampering


def test_files_that_shadow_stdlib_and_framework_modules(sandbox, tmp_path):
    always = "import unittest\nunittest.TestCase.run = lambda self, result=None: None\n"
    trivial = "import unittest\nclass T(unittest.TestCase):\n    def test_ok(self):\n        pass\n"
    files = {"adder.py": BAD, "unittest.py": "TestCase = object\n", "json.py": "dumps = None\n",
             "socket.py": "raise SystemExit(0)\n", "struct.py": "raise SystemExit(0)\n",
             "conftest.py": always, "sitecustomize.py": always, "usercustomize.py": always,
             "evil.pth": "import sitecustomize\n", "qdverdict/__init__.py": "raise SystemExit\n",
             "test_adder_hidden.py": trivial, "test_adder_hidden/__init__.py": trivial}
    outcome = judge(sandbox, tmp_path, files)
    assert not outcome.passed and (outcome.tests_run, outcome.tests_failed) == (3, 2)


# === what an evolved adversary tries next =========================================================


@pytest.mark.parametrize("frame", [
    "struct.pack('>I', 0xFFFFFFF0) + b'x'",                   # a huge announced length
    "struct.pack('>I', 5) + b'\\xff\\xfe{}]'",                 # not ASCII JSON
    "frame({'re': 12345, 'v': 1})",                            # a reply to nobody
    "frame({'id': 1, 'op': 'read_file', 'a': ['/tests']})",    # an unknown request
    "frame({'id': 1, 'op': 'call', 'a': [{'j': 999}, {'L': []}, {'D': []}]})",  # a forged handle
    "frame({'re': 1, 'v': nested(200)})",                      # nesting beyond the limit
    "frame({'re': 1, 'v': {'zz': 1}})",                        # an unknown tag
    "struct.pack('>I', 3) + b'NaN'",                           # a JSON constant
])
def test_crafted_protocol_messages_are_tampering(sandbox, tmp_path, frame):
    outcome = judge(sandbox, tmp_path, solution(f"""
        import gc, json, os, socket, struct
        def frame(message):
            body = json.dumps(message).encode()
            return struct.pack(">I", len(body)) + body
        def nested(depth):
            value = 1
            for _ in range(depth):
                value = {{"L": [value]}}
            return value
        for obj in gc.get_objects():
            if isinstance(obj, socket.socket) and obj.family == socket.AF_UNIX:
                try:
                    obj.sendall({frame})
                except OSError:
                    pass
        """, base=GOOD))
    assert not outcome.passed
    assert any("protocol" in t for t in outcome.tampering), outcome.tampering


@pytest.mark.parametrize("value", [
    "'x' * (64 * 1024 * 1024)",              # a 64 MB string
    "functools.reduce(lambda v, _: [v], range(5000), 0)",  # nested 5000 deep
    "dict.fromkeys(range(3_000_000), 0)",    # 3 million items
    "2 ** (10 ** 7)",                        # a 10-million-bit int
])
def test_huge_and_deep_values_fail_their_test_only(sandbox, tmp_path, value):
    hidden = HIDDEN + textwrap.dedent("""
        def test_huge():
            from adder import huge
            huge()
        """)
    outcome = judge(sandbox, tmp_path, {"adder.py": GOOD + f"import functools\ndef huge():\n"
                                                   f"    return {value}\n"}, hidden, seconds=8)
    failed = [t.name for t in outcome.tests if not t.ok]
    assert failed == ["test_huge"], outcome.reason
    assert not outcome.tampering


MISBEHAVING = """
import itertools
class Weird:
    def __eq__(self, other): raise ValueError("no")
    def __hash__(self): return 10 ** 30
    def __len__(self): return -1
    def __bool__(self): raise ValueError("no")
    def __iter__(self): return itertools.repeat(7)
    def __getattr__(self, name): return self
    def __repr__(self):
        while True:
            pass
    def __str__(self): return "3"

class Liar(Exception):
    def __str__(self):
        while True:
            pass

def weird():
    return Weird()

def liar():
    raise Liar("boom")
"""

MISBEHAVING_TESTS = HIDDEN + """
from adder import weird, liar

class W(unittest.TestCase):
    def test_eq(self):
        self.assertEqual(weird(), weird())

    def test_len(self):
        self.assertEqual(len(weird()), 0)

    def test_in(self):
        self.assertIn(3, weird())

    def test_list(self):
        self.assertEqual(list(weird()), [])

    def test_attr_chain(self):
        self.assertEqual(weird().a.b.c.d, 3)

    def test_liar(self):
        with self.assertRaises(ValueError):
            liar()
"""


def test_misbehaving_objects_fail_their_own_tests(sandbox, tmp_path):
    outcome = judge(sandbox, tmp_path, {"adder.py": GOOD + MISBEHAVING}, MISBEHAVING_TESTS,
                    seconds=1)
    failed = sorted(t.name for t in outcome.tests if not t.ok)
    assert failed == ["W.test_attr_chain", "W.test_eq", "W.test_in", "W.test_len",
                      "W.test_liar", "W.test_list"], outcome.reason
    assert not outcome.tampering


def test_fork_bomb_in_the_solution_server(sandbox, tmp_path):
    outcome = judge(sandbox, tmp_path, solution("""
        import os
        def add(a, b):
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        """))
    assert not outcome.passed and outcome.tests_failed == 3


@pytest.mark.parametrize("replacement", [
    "os.symlink('/results/results.jsonl', path)", "os.symlink('/tests/test_adder_hidden.py', path)",
    "open(path, 'w').write('x')", "os.mkfifo(path)",
])
def test_replacing_the_socket_is_tampering(sandbox, tmp_path, replacement):
    outcome = judge(sandbox, tmp_path, solution(f"""
        import os
        path = "/channel/solution.sock"
        def add(a, b):
            os.unlink(path)
            {replacement}
            os._exit(0)
        """, base=""))
    assert not outcome.passed and outcome.tests_failed == 3
    assert any("socket was replaced" in t for t in outcome.tampering), outcome.tampering


def test_locking_the_socket_folder_gains_nothing(sandbox, tmp_path):
    outcome = judge(sandbox, tmp_path, solution("""
        import os
        for i in range(2000):
            open(f"/channel/junk{i}", "w").close()
        os.chmod("/channel", 0)
        def add(a, b):
            os._exit(0)
        """, base=""))
    assert not outcome.passed and outcome.tests_failed == 3


STAR = """
import math
import unittest
from adder import *

class T(unittest.TestCase):
    def test_abs(self):
        self.assertTrue(abs(half(1.0) - 0.5) < 1e-6)

    def test_isclose(self):
        self.assertTrue(math.isclose(half(3.0), 1.5))

    def test_round(self):
        self.assertEqual(round(half(1.0), 2), 0.5)
"""


def test_star_import_cannot_replace_builtins_or_modules(sandbox, tmp_path):
    outcome = judge(sandbox, tmp_path, {"adder.py": """
        import types
        def half(x):
            return 0.0
        abs = lambda x: 0.0
        round = lambda x, n=None: 0.5
        math = types.SimpleNamespace(isclose=lambda a, b: True)
        """}, STAR)
    assert [t.ok for t in outcome.tests] == [False, False, False], outcome.reason
    honest = judge(sandbox, tmp_path, {"adder.py": "import math\ndef half(x):\n    return x / 2\n"},
                   STAR)
    assert honest.passed, honest.reason


def test_solution_context_manager_cannot_swallow_assertions(sandbox, tmp_path):
    hidden = """
        import unittest
        from adder import Guard, add

        class T(unittest.TestCase):
            def test_inside(self):
                with Guard():
                    self.assertEqual(add(1, 2), 3)
        """
    outcome = judge(sandbox, tmp_path, solution("""
        class Guard:
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                return True
        """), hidden)
    assert not outcome.passed


def test_callbacks_leak_nothing_and_caught_assertions_still_fail(sandbox, tmp_path):
    hidden = """
        import unittest
        from adder import probe

        SECRET = 4242

        class T(unittest.TestCase):
            def test_callback(self):
                expected = SECRET
                numbers = (n for n in [1, 2, 3])
                self.assertEqual(probe(lambda x: self.assertEqual(x, expected), numbers), "ok")
        """
    outcome = judge(sandbox, tmp_path, {"adder.py": """
        def probe(check, numbers):
            found = []
            for attempt in ("__globals__", "__closure__", "__code__", "__self__", "gi_frame",
                            "__dict__", "__class__"):
                for target in (check, numbers):
                    try:
                        found.append(repr(getattr(target, attempt))[:50])
                    except Exception as error:
                        pass
            for guess in range(5000):
                try:
                    check(guess)
                    return "ok"
                except AssertionError as error:
                    if str(error):
                        found.append(str(error))
            raise RuntimeError(f"found={found}")
        """}, hidden)
    assert not outcome.passed
    assert "4242" not in (outcome.reason or "") + outcome.log or "found=[]" in outcome.reason
    assert any("'__globals__' of an object of the tests" in t for t in outcome.tampering)


def test_duck_typing_a_callback_is_not_tampering(sandbox, tmp_path):
    """What honest code asks of a callback (its name, hasattr checks, vars) is refused or
    answered, never recorded as tampering: only reaching for the tests' code or state is."""
    hidden = """
        import unittest
        from adder import apply

        class T(unittest.TestCase):
            def test_apply(self):
                self.assertEqual(apply(lambda x: x + 1, 2), 3)
        """
    outcome = judge(sandbox, tmp_path, {"adder.py": """
        def apply(function, value):
            assert callable(function) and getattr(function, "__name__", "") == "<lambda>"
            assert not hasattr(function, "_private") and not hasattr(function, "__wrapped__")
            try:
                vars(function)
            except TypeError:
                pass
            return function(value)
        """}, hidden)
    assert outcome.passed and not outcome.tampering, outcome.reason


def test_raising_framework_control_exceptions_gains_nothing(sandbox, tmp_path):
    outcome = judge(sandbox, tmp_path, solution("""
        import unittest, unittest.case
        KINDS = [unittest.case._ShouldStop, unittest.SkipTest, SystemExit, KeyboardInterrupt,
                 StopIteration, GeneratorExit]
        calls = []
        def add(a, b):
            calls.append(1)
            raise KINDS[len(calls) % len(KINDS)]("stop")
        """, base=""))
    assert not outcome.passed and outcome.tests_failed == 3


def test_replacing_the_server_code_gains_nothing(sandbox, tmp_path):
    """``sys.modules`` games: the solution rewrites the server that answers for it."""
    outcome = judge(sandbox, tmp_path, solution("""
        import sys
        server, wire = sys.modules.get("qdverdict.server"), sys.modules.get("qdverdict.wire")
        if server is not None:
            server.OPERATIONS.update({name: (lambda *a: True) for name in server.OPERATIONS})
            wire.Codec.encode = lambda self, value: 3
        """))
    assert not outcome.passed and outcome.tests_failed == 3
