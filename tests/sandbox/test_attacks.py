"""Attacks an untrusted agent might try, run against every backend that claims to be safe.

Each attack is a small Python program run as ``/agent/agent.py``; each test asserts that the
attack failed, that the host is untouched, and that ``run`` returned a result (never raised).
Network attacks only ever target loopback on this host.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import subprocess
import threading
import time
import uuid
from pathlib import Path

from qdagents.sandbox import BwrapSandbox, Limits, Mount, _bwrap


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker`` (a /proc scan; no psutil)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def report(result) -> dict:
    """The JSON object the attack printed last."""
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result
    return json.loads(lines[-1])


def test_read_outside_workspace(harness, tmp_path):
    secrets = tmp_path / "controller"
    (secrets / ".ssh").mkdir(parents=True)
    (secrets / "run.sqlite").write_text("SQLite format 3 controller-db-secret")
    (secrets / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY----- ssh-secret")
    targets = [str(secrets / "run.sqlite"), str(secrets / ".ssh" / "id_rsa"), "/etc/shadow",
               "/root", "/work", "/home", str(Path.cwd()), "/proc/1/root/etc/shadow",
               f"/proc/{os.getpid()}/root/etc/shadow", "/var/run/docker.sock"]
    result = harness.run(f"""
        import json, os
        seen = {{}}
        for path in {targets!r}:
            try:
                seen[path] = sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read()
            except OSError as error:
                seen[path] = type(error).__name__
        print(json.dumps(seen))
        """)
    seen = report(result)
    assert "secret" not in result.stdout + result.stderr
    assert Path("/etc/shadow").read_text().splitlines()[0] not in result.stdout
    for path, outcome in seen.items():
        if isinstance(outcome, list):  # the image's own (empty) folder, say: nothing of the host's
            assert not set(outcome) & set(os.listdir(path)), (path, outcome)
        else:
            assert outcome in ("FileNotFoundError", "PermissionError", "NotADirectoryError"), \
                (path, outcome)


def test_network_is_unreachable(harness, tmp_path):
    accepted = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    hidden = tmp_path / "private" / "controller.sock"
    hidden.parent.mkdir()
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(hidden))
    unix.listen()
    abstract = f"\0qdagents-test-{uuid.uuid4().hex}"
    abstract_server = socket.socket(socket.AF_UNIX)
    abstract_server.bind(abstract)
    abstract_server.listen()
    try:
        result = harness.run(f"""
            import json, socket
            tried = {{}}
            def attempt(name, family, address):
                s = socket.socket(family)
                s.settimeout(3)
                try:
                    s.connect(address)
                    tried[name] = "connected"
                except OSError as error:
                    tried[name] = type(error).__name__
            attempt("tcp", socket.AF_INET, ("127.0.0.1", {port}))
            attempt("unix", socket.AF_UNIX, {str(hidden)!r})
            attempt("abstract", socket.AF_UNIX, {abstract!r})
            try:
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("10.255.255.1", 9))
                tried["udp"] = "sent"
            except OSError as error:
                tried["udp"] = type(error).__name__
            print(json.dumps(tried))
            """)
    finally:
        stop.set()
        thread.join()
        server.close()
        unix.close()
        abstract_server.close()
    tried = report(result)
    assert "connected" not in tried.values() and tried["udp"] != "sent", tried
    assert not accepted


def test_environment_has_no_secrets(harness, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    result = harness.run(f"""
        import os
        print(sorted(os.environ.items()))
        for path in ("/proc/self/environ", "/proc/1/environ", "/proc/{os.getpid()}/environ"):
            try:
                print(path, open(path, "rb").read())
            except OSError as error:
                print(path, error)
        """, env={"QDAGENTS_PROBLEM": "/task/problem.md"})
    assert result.exit_code == 0, result
    assert "sk-test-secret" not in result.stdout + result.stderr
    assert "OPENAI_API_KEY" not in result.stdout
    assert "QDAGENTS_PROBLEM" in result.stdout


def test_fork_bomb_is_bounded(harness):
    marker = f"bomb-{uuid.uuid4().hex}"
    limits = Limits(seconds=8, processes=32)
    started = time.monotonic()
    result = harness.run(f"""
        import os, sys, time
        count = 0
        try:
            while count < 500:          # flat: count how many we may hold at once
                if os.fork() == 0:
                    time.sleep(3)
                    os._exit(0)
                count += 1
            print("UNBOUNDED", count, flush=True)
            sys.exit(0)
        except OSError:
            print("BOUNDED", count, flush=True)
        end = time.time() + 3           # then a real bomb, now that we know it is bounded
        while time.time() < end:
            try:
                os.fork()
            except OSError:
                pass
        os.execvp("python3", ["python3", "-c", "import time; time.sleep(600)", "{marker}"])
        """, limits=limits)
    assert time.monotonic() - started < limits.seconds + 10
    assert "UNBOUNDED" not in result.stdout, result
    assert "BOUNDED" in result.stdout, result
    assert int(result.stdout.split("BOUNDED")[1].split()[0]) <= limits.processes
    time.sleep(0.2)
    assert not processes_with(marker)
    assert subprocess.run(["true"]).returncode == 0  # the host can still fork


def test_memory_beyond_limit(harness):
    limits = Limits(seconds=30, memory_mb=256)
    result = harness.run("""
        import os
        held, got = [], 0
        try:
            huge = bytearray(8 * 1024 ** 3)
            print("HUGE", flush=True)
        except MemoryError:
            pass
        try:
            while got < 2048:
                held.append(b"x" * (16 * 1024 * 1024))
                got += 16
        except MemoryError:
            pass
        print("HELD", got, flush=True)
        del held
        written = 0
        try:                            # tmpfs pages are memory too
            for i in range(64):
                with open(f"/tmp/fill{i}", "wb") as out:
                    out.write(os.urandom(1024 * 1024) * 32)
                written += 32
        except OSError:
            pass
        print("TMP", written, flush=True)
        """, limits=limits)
    assert "HUGE" not in result.stdout, result
    held = int(result.stdout.split("HELD")[1].split()[0])
    assert held <= limits.memory_mb, result
    if "TMP" in result.stdout:
        assert int(result.stdout.split("TMP")[1].split()[0]) <= limits.memory_mb, result


def test_infinite_loop_is_killed(harness):
    started = time.monotonic()
    result = harness.run("while True: pass", limits=Limits(seconds=2))
    assert time.monotonic() - started < 2 + 10
    assert result.timed_out and result.exit_code is None
    assert result.failure.startswith("timed out"), result


def test_write_outside_workspace(harness, tmp_path):
    host_dir = tmp_path / "host-only"
    host_dir.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    (harness.agent / "tool.py").write_text("original")
    targets = [str(host_dir / "planted"), str(victim), "/etc/passwd", "/usr/lib/planted",
               "/root/planted", "/work/planted", "/agent/tool.py", "/agent/planted"]
    result = harness.run(f"""
        import json, os
        done = {{}}
        for path in {targets!r}:
            try:
                with open(path, "w") as out:
                    out.write("pwned")
                done[path] = "written"
            except OSError as error:
                done[path] = type(error).__name__
        for name, call in (("chmod", lambda: os.chmod("/agent/tool.py", 0o777)),
                           ("symlink", lambda: os.symlink({str(victim)!r}, "evil")),
                           ("hardlink", lambda: os.link("/agent/tool.py", "hard"))):
            try:
                call()
                done[name] = "done"
            except OSError as error:
                done[name] = type(error).__name__
        open("answer.py", "w").write("ok")
        print(json.dumps(done))
        """)
    done = report(result)
    for path in targets:
        assert done[path] != "written", (path, done)
    assert done["chmod"] != "done" and done["hardlink"] != "done", done
    assert not (host_dir / "planted").exists()
    assert victim.read_text() == "original" and victim.stat().st_uid == os.getuid()
    assert (harness.agent / "tool.py").read_text() == "original"
    assert (harness.workspace / "answer.py").read_text() == "ok"  # the workspace is writable


def test_cannot_signal_the_controller(harness):
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: received.append(True))
    victim = subprocess.Popen(["sleep", "60"])
    try:
        result = harness.run(f"""
            import json, os, signal
            outcome = {{}}
            for pid, sig in (({os.getpid()}, signal.SIGUSR1), ({os.getpid()}, signal.SIGTERM),
                             ({victim.pid}, signal.SIGKILL)):
                try:
                    os.kill(pid, sig)
                    outcome[f"{{pid}}:{{sig}}"] = "sent"
                except OSError as error:
                    outcome[f"{{pid}}:{{sig}}"] = type(error).__name__
            print(json.dumps(outcome))
            """)
        time.sleep(0.2)
        assert victim.poll() is None, "the sandbox killed a host process"
        assert not received, "the sandbox signalled the controller"
    finally:
        signal.signal(signal.SIGUSR1, previous)
        victim.kill()
        victim.wait()
    assert all(outcome != "sent" for outcome in report(result).values()), result


def test_no_process_survives_run(harness):
    marker = f"daemon-{uuid.uuid4().hex}"
    result = harness.run(f"""
        import os, subprocess, sys
        sleeper = ["python3", "-c", "import time; time.sleep(1000)", "{marker}"]
        if os.fork() == 0:              # classic double fork + setsid daemon
            os.setsid()
            if os.fork() == 0:
                devnull = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.execvp("python3", sleeper)
            os._exit(0)
        subprocess.Popen(sleeper, start_new_session=True)  # and one holding our stdout
        print("spawned", flush=True)
        """, limits=Limits(seconds=20))
    assert "spawned" in result.stdout, result
    assert not result.timed_out, result
    time.sleep(0.2)
    assert not processes_with(marker), "a process outlived run()"
    if harness.probe is not None:  # a later command in the same container doesn't see it either
        assert marker not in harness.probe.stdout


def test_output_flood_is_capped(harness):
    result = harness.run("""
        import sys
        chunk = "x" * (1 << 20)
        for _ in range(300):
            sys.stdout.write(chunk)
            sys.stderr.write(chunk)
        print("END")
        """, limits=Limits(seconds=60))
    assert result.exit_code == 0, result.failure
    assert len(result.stdout) < 30_000 and len(result.stderr) < 30_000
    assert result.stdout.rstrip().endswith("END")


def test_privilege_escalation_fails(harness):
    result = harness.run("""
        import ctypes, json, os
        libc = ctypes.CDLL(None, use_errno=True)
        tried = {}
        try:
            os.setuid(0)
            tried["setuid"] = "root"
        except OSError as error:
            tried["setuid"] = type(error).__name__
        tried["unshare-user"] = libc.unshare(0x10000000) == 0
        tried["mount"] = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0
        tried["chroot"] = libc.chroot(b"/tmp") == 0
        tried["uid"] = os.getuid()
        if os.uname().machine == "x86_64":  # kernel surface behind classic container escapes
            for name, number in (("bpf", 321), ("userfaultfd", 323), ("keyctl", 250),
                                 ("io_uring_setup", 425), ("open_by_handle_at", 304),
                                 ("perf_event_open", 298), ("fsopen", 430)):
                tried[name] = libc.syscall(number, 0, 0, 0, 0, 0) >= 0
                tried[name + "_errno"] = ctypes.get_errno()
        print(json.dumps(tried))
        """)
    tried = report(result)
    assert tried["setuid"] != "root" and tried["uid"] != 0, tried
    assert not tried["unshare-user"] and not tried["mount"] and not tried["chroot"], tried
    blocked = ["keyctl", "open_by_handle_at", "fsopen", "bpf", "perf_event_open"]
    if harness.mode == "bwrap":  # the seccomp denylist; docker's own profile differs by version
        blocked += ["userfaultfd", "io_uring_setup"]
    assert not any(tried.get(name) for name in blocked), tried


def test_mounted_socket_is_the_way_out(harness, tmp_path):
    folder = tmp_path / "gateway"
    folder.mkdir(mode=0o700)
    path = folder / "gateway.sock"

    class Echo(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"pong:" + self.rfile.readline())

    server = socketserver.UnixStreamServer(str(path), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    code = """
        import os, socket
        s = socket.socket(socket.AF_UNIX)
        s.connect(os.environ["QDAGENTS_GATEWAY"])
        s.sendall(b"ping\\n")
        print(s.recv(100).decode())
        """
    try:
        as_file = harness.run(code, mounts=[Mount(path, "/run/qdagents/gateway.sock")],
                              env={"QDAGENTS_GATEWAY": "/run/qdagents/gateway.sock"})
        as_folder = harness.run(code, mounts=[Mount(folder, "/run/qdagents")],
                                env={"QDAGENTS_GATEWAY": "/run/qdagents/gateway.sock"})
    finally:
        server.shutdown()
        server.server_close()
    assert "pong:ping" in as_file.stdout, as_file
    assert "pong:ping" in as_folder.stdout, as_folder
    assert folder.stat().st_uid == os.getuid() and path.stat().st_uid == os.getuid()
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)



def test_sandbox_init_is_out_of_reach(harness):
    result = harness.run("""
        import ctypes, json, os, signal
        libc = ctypes.CDLL(None, use_errno=True)
        tried = {"ptrace": libc.ptrace(16, 1, None, None) == 0}  # PTRACE_ATTACH to pid 1
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(1, sig)
                tried[sig.name] = "sent"
            except OSError as error:
                tried[sig.name] = type(error).__name__
        print(json.dumps(tried))
        """)
    tried = report(result)
    assert not tried["ptrace"] and not result.timed_out, result  # a traced init would hang
    if harness.mode.startswith("docker"):  # the session's init must survive for the next task
        assert "sent" not in tried.values(), tried
    if harness.probe is not None:
        assert harness.probe.exit_code == 0


def test_installed_task_answers_are_hidden(harness, tmp_path):
    """An agent (or a solution) looks for the package's built-in hidden tests and references
    under the system folders. bwrap covers every installed copy with an empty read-only tmpfs
    (shown here on a folder of the host's /usr it is told to hide); the docker image has no
    qdagents at all."""
    if harness.mode == "bwrap":
        hidden = next(p for p in ("/usr/share/doc", "/usr/share/common-licenses", "/usr/share/man")
                      if os.path.isdir(p) and os.listdir(p))
        harness.sandbox = BwrapSandbox(hide=(hidden,))
    else:
        hidden = "/usr/share/doc"
    result = harness.run(f"""
        import glob, importlib.util, json, os
        seen = {{"listing": sorted(os.listdir({hidden!r})) if os.path.isdir({hidden!r}) else [],
                "spec": str(importlib.util.find_spec("qdagents")),
                "answers": [p for pattern in ("/usr/lib*/python3*/*-packages/qdagents/*",
                                              "/usr/local/lib*/python3*/*-packages/qdagents/*")
                            for p in glob.glob(pattern)][:5]}}
        try:
            open(os.path.join({hidden!r}, "planted"), "w")
            seen["write"] = "ok"
        except OSError as error:
            seen["write"] = type(error).__name__
        print(json.dumps(seen))
        """)
    seen = report(result)
    assert seen["spec"] == "None" and seen["answers"] == [], seen
    if harness.mode == "bwrap":
        assert seen["listing"] == [] and seen["write"] == "OSError" and os.listdir(hidden), seen


def test_installed_copies_are_found(tmp_path):
    site = tmp_path / "usr" / "local" / "lib" / "python3.11" / "dist-packages"
    (site / "qdagents" / "tasks" / "builtin" / "x" / "hidden").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "python3" / "dist-packages").mkdir(parents=True)
    patterns = [str(tmp_path) + p for p in _bwrap.INSTALL_PATTERNS]
    found = _bwrap.installed_package_dirs(patterns, roots=(str(tmp_path / "usr"),))
    assert found == (str(site / "qdagents"),)
    default = BwrapSandbox(hide=None)
    assert default.hide == _bwrap.installed_package_dirs()
