"""Runs a task's hidden tests inside the sandbox; stdlib only, run as ``python3 -I -S runner.py``.

The process splits in two. The *supervisor* reads the result nonce from a file (and deletes it)
before any solution code exists in the process, then forks a *worker* that zeroes its copy of the
nonce, imports the hidden test modules (which import the solution) and reports each test over a
pipe. Only the supervisor, which never imports solution code, writes ``result.json`` with the
nonce, so a solution cannot forge a result by printing or by writing files: it never sees the
nonce. The supervisor also watches the clock, so a test that hangs (or a solution that disables
the per-test alarm, or kills the worker) fails that test only and the worker is restarted at the
next test.

Stdlib modules come before the workspace on ``sys.path`` (``-S`` drops site-packages), so a
workspace file cannot shadow ``unittest`` or any other stdlib module.
"""

import argparse
import ast
import importlib.util
import inspect
import json
import os
import select
import signal
import sys
import time
import traceback
import unittest

GRACE_SECONDS = 1.0  # the supervisor's margin over the worker's own per-test alarm
MAX_RESTARTS = 20
TRACE_CAP = 2000
MESSAGE_CAP = 1_000_000
TAMPERED = "unittest tampered with"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--test-seconds", type=float, default=10.0)
    parser.add_argument("--deadline", type=float, default=50.0)
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args()
    nonce = read_nonce(os.path.join(args.results, "nonce"))
    make_undumpable(True)
    result = supervise(args, nonce)
    result["nonce"] = nonce.decode("ascii")
    write_atomically(os.path.join(args.results, "result.json"), json.dumps(result))


def read_nonce(path: str) -> bytearray:
    """Reads the nonce into a bytearray (which the worker can zero), then deletes the file."""
    buffer = bytearray(64)
    with open(path, "rb", buffering=0) as file:
        size = file.readinto(buffer)
    os.unlink(path)
    del buffer[size:]
    return buffer


def make_undumpable(flag: bool) -> None:
    """PR_SET_DUMPABLE: with 0, same-user processes cannot read this process's memory."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(4, int(flag), 0, 0, 0)
    except Exception:  # not Linux, or no libc: the nonce is still out of the worker's memory
        pass


def write_atomically(path: str, text: str) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w") as file:
        file.write(text)
    os.replace(temporary, path)


# --- supervisor -------------------------------------------------------------------------------


def supervise(args, nonce: bytearray) -> dict:
    """Runs workers until every planned test has a result, restarting after a hang or crash."""
    deadline = time.monotonic() + args.deadline
    plan, results, extra, start, restarts = None, {}, [], 0, 0
    while True:
        run = run_worker(args, nonce, start, deadline)
        if plan is None:
            plan = run["plan"]
            extra.extend(run["import_problems"])
            if plan is None:
                count = sum(count_tests(os.path.join(args.workspace, m)) for m in args.modules)
                extra.append(as_problem({"name": "hidden tests", "count": count,
                                         "error": f"{run['death']} before any test ran"}))
                break
        extra.extend(run["problems"])
        results.update(run["results"])
        if run["done"]:
            break
        if run["current"] is None:  # died between tests: go on from the first without a result
            if not run["results"]:
                break  # died before finishing any test (a class fixture?): a retry would too
            start = next((i for i in range(len(plan)) if i not in results), len(plan))
        else:
            results[run["current"]] = {"ok": False, "error": run["death"], "trace": ""}
            start = run["current"] + 1
        restarts += 1
        if run["out_of_time"] or restarts > MAX_RESTARTS or start >= len(plan):
            break
    tampered = [p for p in extra if p["name"] == TAMPERED]
    if tampered:  # no verdict of that run can be trusted: every test fails
        return {"tests": [{**tampered[0], "count": max(len(plan or []), 1)}]}
    tests = []
    for index, name in enumerate(plan or []):
        outcome = results.get(index, {"ok": False, "error": "did not run", "trace": ""})
        tests.append({"name": name, "count": 1, **outcome})
    return {"tests": tests + extra}


def run_worker(args, nonce: bytearray, start: int, deadline: float) -> dict:
    """Forks one worker from test ``start`` on and collects what it reports until it ends."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        nonce[:] = bytes(len(nonce))
        worker(args, start, write_end)
    os.close(write_end)
    run = {"plan": None, "import_problems": [], "problems": [], "results": {}, "done": False,
           "current": None, "death": "", "out_of_time": False}
    started, pending = 0.0, b""
    while True:
        now = time.monotonic()
        limit = deadline
        if run["current"] is not None:
            limit = min(limit, started + args.test_seconds + GRACE_SECONDS)
        if now >= limit:
            run["out_of_time"] = now >= deadline
            seconds = args.deadline if run["out_of_time"] else args.test_seconds
            run["death"] = f"timed out after {seconds:g}s"
            kill(pid)
            break
        ready, _, _ = select.select([read_end], [], [], limit - now)
        if not ready:
            continue
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        pending = pending[-MESSAGE_CAP:]
        for line in lines:
            try:
                if handle(run, json.loads(line)) == "start":
                    started = time.monotonic()
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # not a message the worker's own code writes
        if run["done"]:  # a grandchild may still hold the pipe open; nothing more is needed
            break
    os.close(read_end)
    status = reap(pid)
    if not run["death"]:
        run["death"] = f"the test process {status}"
    return run


def handle(run: dict, message: dict) -> str:
    """Applies one worker message to ``run``; returns its type."""
    kind = message["type"]
    if kind == "plan" and run["plan"] is None:
        run["plan"] = [str(name) for name in message["tests"]]
        run["import_problems"] = [as_problem(p) for p in message["problems"]]
    elif kind == "start":
        run["current"] = int(message["i"])
    elif kind == "end":
        run["results"][int(message["i"])] = {"ok": bool(message["ok"]),
                                             "error": str(message["error"]),
                                             "trace": str(message["trace"])}
        run["current"] = None
    elif kind == "problem":
        run["problems"].append(as_problem(message["problem"]))
    elif kind == "done":
        run["done"] = True
    return kind


def as_problem(problem: dict) -> dict:
    """A problem the worker reported is always a failure of at least one test."""
    try:
        count = max(1, min(int(problem.get("count", 1)), 10_000))
    except (TypeError, ValueError):
        count = 1
    return {"name": str(problem.get("name", "?")), "ok": False, "count": count,
            "problem": True, "error": str(problem.get("error", "")),
            "trace": str(problem.get("trace", ""))}


def kill(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except OSError:
            pass


def reap(pid: int) -> str:
    kill(pid)  # a worker that closed the pipe but keeps running is ended here
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"was killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


# --- worker -----------------------------------------------------------------------------------


class TestTimeout(BaseException):
    """Raised by the per-test alarm; a BaseException so ``except Exception`` in a solution
    does not swallow it."""


def worker(args, start: int, fd: int) -> None:
    """Imports the hidden tests, sends the plan, runs tests from ``start`` on; never returns."""
    try:
        os.setpgid(0, 0)
        make_undumpable(False)
        channel = os.fdopen(fd, "w", buffering=1)

        def send(**message) -> None:
            channel.write(json.dumps(message) + "\n")
            channel.flush()

        os.chdir(args.workspace)
        sys.path.append(args.workspace)
        sys.dont_write_bytecode = True
        signal.signal(signal.SIGALRM, alarm_handler(args.test_seconds))
        guarded = dict(vars(unittest.TestCase))
        tests, problems = collect(args.modules, args.test_seconds)
        send(type="plan", tests=[test_name(t) for t in tests], problems=problems)
        index = {id(test): i for i, test in enumerate(tests)}
        reporter = Reporter(send, index, args.test_seconds)
        unittest.TestSuite(tests[start:]).run(reporter)
        if dict(vars(unittest.TestCase)) != guarded:
            send(type="problem", problem={"name": TAMPERED, "ok": False,
                                          "error": "the solution modified unittest.TestCase"})
        send(type="done")
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(0)


def alarm_handler(seconds: float):
    def handler(signum, frame):
        raise TestTimeout(f"timed out after {seconds:g}s")
    return handler


def collect(modules: list[str], seconds: float) -> tuple[list, list]:
    """Imports each hidden test module; returns its tests (unittest cases and bare ``test_*``
    functions, minus those the test file itself skips) and a problem per module that failed."""
    tests, problems = [], []
    loader = unittest.TestLoader()
    for path in modules:
        name = os.path.splitext(os.path.basename(path))[0]
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                spec = importlib.util.spec_from_file_location(name, os.path.abspath(path))
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as error:  # noqa: BLE001 -- a broken solution is data
            sys.modules.pop(name, None)
            problems.append({"name": f"import {name}", "ok": False, "count": count_tests(path),
                             "error": describe_import_error(error),
                             "trace": traceback.format_exc()[-TRACE_CAP:]})
            continue
        try:
            found = list(flatten(loader.loadTestsFromModule(module)))
            found += [unittest.FunctionTestCase(value) for attribute, value in vars(module).items()
                      if attribute.startswith("test") and inspect.isfunction(value)
                      and value.__module__ == name]
            tests.extend(test for test in found if not statically_skipped(test))
        except Exception as error:  # noqa: BLE001 -- e.g. a test class whose __init__ fails
            problems.append({"name": f"collect {name}", "ok": False, "count": count_tests(path),
                             "error": f"{type(error).__name__}: {error}",
                             "trace": traceback.format_exc()[-TRACE_CAP:]})
    return tests, problems


def flatten(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from flatten(test)
        else:
            yield test


def statically_skipped(test) -> bool:
    """A test its own file marks ``@unittest.skip`` is left out: not the solution's doing."""
    method = getattr(test, getattr(test, "_testMethodName", ""), None)
    return bool(getattr(type(test), "__unittest_skip__", False)
                or getattr(method, "__unittest_skip__", False))


def count_tests(path: str) -> int:
    """How many tests a module that failed to import would have had (so fitness counts them)."""
    try:
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read())
    except (OSError, SyntaxError, ValueError):
        return 1
    count = 0
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            count += sum(isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                         and item.name.startswith("test") for item in node.body)
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            count += 1
    return max(count, 1)


def describe_import_error(error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        where = os.path.basename(error.filename or "?")
        return f"syntax error in {where} line {error.lineno}: {error.msg}"
    if isinstance(error, TestTimeout):
        return f"importing the tests {error}"
    return f"{type(error).__name__}: {error}".strip()


def test_name(test) -> str:
    if isinstance(test, unittest.FunctionTestCase):
        return test._testFunc.__name__
    return f"{type(test).__name__}.{test._testMethodName}"


class Reporter(unittest.TestResult):
    """Sends ``start``/``end`` for each test over the pipe and arms the per-test alarm."""

    def __init__(self, send, index: dict, seconds: float):
        super().__init__()
        self.send, self.index, self.seconds = send, index, seconds
        self.error = self.trace = None

    def startTest(self, test) -> None:
        super().startTest(test)
        self.error = self.trace = None
        self.send(type="start", i=self.index[id(test)])
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def stopTest(self, test) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        super().stopTest(test)
        self.send(type="end", i=self.index[id(test)], ok=self.error is None,
                  error=self.error or "", trace=self.trace or "")

    def fail_with(self, err, test, prefix: str = "") -> None:
        if isinstance(err, tuple):  # (type, value, traceback): keep the message's first line
            text = self._exc_info_to_string(err, test)
            lines = traceback.format_exception_only(err[0], err[1])[0].strip().splitlines()
            summary = lines[0] if lines else err[0].__name__
        else:
            text = summary = str(err)
        if self.error is None:
            self.error, self.trace = prefix + summary, text[-TRACE_CAP:]
        if id(test) not in self.index:  # setUpClass / tearDownModule and friends
            self.send(type="problem", problem={"name": str(test), "ok": False, "count": 1,
                                               "error": prefix + summary,
                                               "trace": text[-TRACE_CAP:]})

    def addError(self, test, err) -> None:
        super().addError(test, err)
        self.fail_with(err, test)

    def addFailure(self, test, err) -> None:
        super().addFailure(test, err)
        self.fail_with(err, test)

    def addSubTest(self, test, subtest, err) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.fail_with(err, test, prefix=f"{subtest._subDescription()}: ")

    def addSkip(self, test, reason) -> None:  # skipped while running: the solution's doing
        super().addSkip(test, reason)
        self.fail_with(f"skipped at run time: {reason}", test)

    def addUnexpectedSuccess(self, test) -> None:
        super().addUnexpectedSuccess(test)
        self.fail_with("unexpected success", test)


if __name__ == "__main__":
    main()
