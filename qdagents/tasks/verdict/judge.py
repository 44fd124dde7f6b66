"""The judge: the trusted side of a hidden-test run, the only writer of verdicts.

Runs in a sandbox of its own (``python3 -I -S boot_judge.py --plan ... --results ...``): another
pid namespace or container than the solution's, so the solution can neither signal nor trace it
nor read its memory or files. It imports the hidden tests (from a folder only it mounts), which
import the workspace's modules through :mod:`.remote` as proxy modules, runs the tests with
``unittest``, and appends one JSON line per event to a results file only it can write:

    {"plan": [{"name", "module", "skip"}], "problems": [...]}   the tests found, before any runs
    {"start": i} ... {"end": i, "ok", "kind", "error", "trace"}  one test
    {"problem": {"name", "kind", "error", "trace", "module"}}    a module or fixture that failed
    {"tampering": reason}                                         as soon as detected
    {"done": true}                                                the end (also {"out_of_time"})

``kind`` says where a failure came from: ``assertion`` (a test's assertion), ``error`` (an
exception the solution raised), ``timeout``, ``died`` (the solution process ended), ``boundary``
(something the boundary refuses), ``tampering``, ``skipped``, ``test`` (an exception in the
test's own code, e.g. ``len(None)``), ``import``.
"""

import argparse
import importlib.util
import json
import os
import signal
import sys
import time
import traceback
import unittest

from . import imports, remote

TRACE_CAP = 2000
ERROR_CAP = 400


class Timeout(remote.TestTimeout):
    pass


def alarm(signum, frame):
    raise Timeout("timed out")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plan", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--tests", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args()
    with open(args.plan, encoding="utf-8") as handle:
        plan = json.load(handle)
    plan["tests_folder"], plan["socket"] = args.tests, args.socket
    out = open(args.results, "a", encoding="utf-8", buffering=1)

    def emit(**record) -> None:
        out.write(json.dumps(record) + "\n")
        out.flush()

    deadline = time.monotonic() + float(plan["deadline"])
    session = remote.Session(socket_path=plan["socket"],
                             workspace_modules=plan["workspace_modules"],
                             declared=plan["declared"], hidden_modules=set(plan["hidden_modules"]))
    session.incidents.on_tamper = lambda reason: emit(tampering=reason)
    imports.install(session, plan["tests_folder"])
    sys.dont_write_bytecode = True
    os.chdir(plan["tests_folder"])
    signal.signal(signal.SIGALRM, alarm)
    seconds = float(plan["test_seconds"])
    tests, problems = collect(plan, session, seconds, deadline)
    emit(plan=[{"name": test_name(t), "module": module_of(t), "skip": statically_skipped(t)}
               for t in tests], problems=problems)
    reporter = Reporter(emit, session, tests, seconds, deadline)
    unittest.TestSuite(tests[args.start:]).run(reporter)
    if reporter.out_of_time:
        emit(out_of_time=True)
    session.test_deadline = time.monotonic() + 5
    session.finish()
    emit(done=True)
    out.close()
    os._exit(0)  # nothing of the solution's may run at exit (there is nothing, but be sure)


# --- collecting -------------------------------------------------------------------------------


def collect(plan: dict, session: remote.Session, seconds: float, deadline: float):
    """Imports each hidden test module; returns its tests (unittest cases and bare ``test_*``
    functions) and a problem per module that failed to import or to be collected."""
    tests, problems = [], []
    loader = unittest.TestLoader()
    for path in plan["test_modules"]:
        name = os.path.splitext(os.path.basename(path))[0]
        full = os.path.join(plan["tests_folder"], path)
        try:
            limit = min(seconds, max(deadline - time.monotonic(), 0.1))
            session.test_deadline = time.monotonic() + limit
            session.incidents.sticky = []
            signal.setitimer(signal.ITIMER_REAL, limit + 0.5)
            try:
                loader_object = imports.HiddenLoader(name, full)
                spec = importlib.util.spec_from_file_location(name, full,
                                                                     loader=loader_object)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as error:  # noqa: BLE001 -- a broken solution is data
            sys.modules.pop(name, None)
            kind = "boundary" if isinstance(error, remote.BoundaryError) else "import"
            problems.append({"name": f"import {name}", "module": path, "kind": kind,
                             "error": describe_import_error(error, limit),
                             "trace": trace_of(error)})
            continue
        try:
            found = list(flatten(loader.loadTestsFromModule(module)))
            found += [unittest.FunctionTestCase(value) for attribute, value in vars(module).items()
                      if attribute.startswith("test") and callable(value)
                      and getattr(value, "__module__", None) == name
                      and type(value).__name__ == "function"]
        except Exception as error:  # noqa: BLE001 -- e.g. a test class whose __init__ fails
            problems.append({"name": f"collect {name}", "module": path, "kind": "test",
                             "error": short(f"{type(error).__name__}: {error}"),
                             "trace": trace_of(error)})
            continue
        for test in found:
            test._qd_module = path
        tests.extend(found)
    session.audit()
    return tests, problems


def flatten(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from flatten(test)
        else:
            yield test


def statically_skipped(test) -> bool:
    method = getattr(test, getattr(test, "_testMethodName", ""), None)
    return bool(getattr(type(test), "__unittest_skip__", False)
                or getattr(method, "__unittest_skip__", False))


def test_name(test) -> str:
    if isinstance(test, unittest.FunctionTestCase):
        return test._testFunc.__name__
    return f"{type(test).__name__}.{test._testMethodName}"


def module_of(test) -> str:
    return getattr(test, "_qd_module", "")


def describe_import_error(error: BaseException, seconds: float) -> str:
    if isinstance(error, SyntaxError):
        where = os.path.basename(error.filename or "?")
        return short(f"syntax error in {where} line {error.lineno}: {error.msg}")
    if isinstance(error, remote.TestTimeout):
        return f"importing the tests timed out after {seconds:g}s"
    if isinstance(error, (remote.SolutionGone, remote.Tampering, remote.BoundaryError)):
        return short(str(error))
    return short(f"{type(error).__name__}: {error}".strip())


def short(text: str) -> str:
    return text if len(text) <= ERROR_CAP else text[:ERROR_CAP - 3] + "..."


def trace_of(error: BaseException) -> str:
    try:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    except Exception:
        text = type(error).__name__
    return text[-TRACE_CAP:]


def kind_of(error: BaseException, failure_exception) -> str:
    if isinstance(error, remote.TestTimeout):
        return "timeout"
    if isinstance(error, remote.SolutionGone):
        return "died"
    if isinstance(error, remote.Tampering):
        return "tampering"
    if isinstance(error, remote.BoundaryError):
        return "boundary"
    if getattr(error, "__qd_from_solution__", False):
        return "error"
    if isinstance(error, failure_exception):
        return "assertion"
    return "test"


# --- running ----------------------------------------------------------------------------------


class Reporter(unittest.TestResult):
    """Reports each test as it ends, with the session's incidents folded into its verdict: a
    test during which the solution timed out, died, broke the protocol or hit the boundary
    fails, whatever its own code caught."""

    def __init__(self, emit, session: remote.Session, tests: list, seconds: float,
                 deadline: float):
        super().__init__()
        self.emit, self.session, self.seconds, self.deadline = emit, session, seconds, deadline
        self.index = {id(test): i for i, test in enumerate(tests)}
        self.current = None
        self.error = self.kind = self.trace = None
        self.out_of_time = False

    def startTest(self, test) -> None:
        if time.monotonic() >= self.deadline - 1:
            self.out_of_time = True
            self.stop()
        super().startTest(test)
        self.current = self.index.get(id(test))
        self.error = self.kind = self.trace = None
        self.session.incidents.sticky = []
        limit = min(self.seconds, max(self.deadline - time.monotonic(), 0.1))
        self.session.test_deadline = time.monotonic() + limit
        self.emit(start=self.current)
        signal.setitimer(signal.ITIMER_REAL, limit + 0.5)

    def stopTest(self, test) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        super().stopTest(test)
        self.session.audit()
        sticky = self.session.incidents.sticky
        ok = self.error is None and not sticky
        if sticky and (self.error is None or self.kind not in ("timeout", "died", "tampering")):
            self.kind, self.error = sticky[0]
            if self.kind == "timeout":
                self.error = f"timed out after {self.seconds:g}s"
            self.trace = self.trace or ""
        self.emit(end=self.current, ok=ok, kind=self.kind or "", error=short(self.error or ""),
                  trace=(self.trace or "")[-TRACE_CAP:])
        self.session.test_deadline = time.monotonic() + self.seconds  # fixtures that follow

    def record(self, test, err, prefix: str = "") -> None:
        if isinstance(err, tuple):
            kind = kind_of(err[1], getattr(test, "failureException", AssertionError))
            text = self._exc_info_to_string(err, test)
            if kind == "timeout":
                summary = f"timed out after {self.seconds:g}s"
            elif kind in ("died", "tampering", "boundary"):
                summary = str(err[1])
            else:
                lines = traceback.format_exception_only(err[0], err[1])[0].strip().splitlines()
                summary = lines[0] if lines else err[0].__name__
        else:
            kind, text, summary = "skipped", str(err), str(err)
        if id(test) not in self.index:  # setUpClass / tearDownModule and friends
            self.emit(problem={"name": str(test)[:200], "kind": kind, "error": short(summary),
                               "trace": text[-TRACE_CAP:], "module": ""})
            return
        if self.error is None:
            self.error, self.kind, self.trace = prefix + summary, kind, text

    def addError(self, test, err) -> None:
        super().addError(test, err)
        self.record(test, err)

    def addFailure(self, test, err) -> None:
        super().addFailure(test, err)
        self.record(test, err)

    def addSubTest(self, test, subtest, err) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.record(test, err, prefix=f"{subtest._subDescription()}: ")

    def addSkip(self, test, reason) -> None:  # skipped while running: the solution's doing?
        super().addSkip(test, reason)
        self.record(test, f"skipped: {reason}")

    def addUnexpectedSuccess(self, test) -> None:
        super().addUnexpectedSuccess(test)
        self.record(test, "unexpected success")
        self.kind = "assertion"
