"""The backends keep the sandbox contract: layout, environment, results, sessions, selection."""

from __future__ import annotations

import os
import socket
import subprocess
import warnings
from types import SimpleNamespace

import pytest

import qdagents.sandbox._select as select
from qdagents.sandbox import (BASE_ENV, BackendStatus, BwrapSandbox, DockerSandbox, Limits, Mount,
                              ProcessSandbox, check_sandboxes, make_sandbox)
from qdagents.sandbox._output import CappedOutput


def test_agent_contract_layout(harness, tmp_path):
    task = tmp_path / "task"
    task.mkdir()
    (task / "problem.md").write_text("fix it")
    (harness.workspace / "code.py").write_text("x = 1\n")
    result = harness.run("""
        import os, shutil, sys
        print(shutil.which("python3"), sys.version_info[:2] >= (3, 8))
        print(open(os.environ["QDAGENTS_PROBLEM"]).read())
        print(os.getcwd(), open("code.py").read().strip())
        open("code.py", "w").write("x = 2\\n")
        for path in ("/task/new", "/agent/new"):
            try:
                open(path, "w")
                print("wrote", path)
            except OSError:
                print("read-only", path)
        import json, http.client, unittest, subprocess  # the stdlib agents rely on
        print(subprocess.run(["python3", "-c", "print('child')"], capture_output=True).stdout)
        """, mounts=[Mount(task, "/task")], env={"QDAGENTS_PROBLEM": "/task/problem.md"})
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert lines[0].endswith("python3 True")
    assert "fix it" in result.stdout and "/workspace x = 1" in result.stdout
    assert "read-only /task/new" in result.stdout and "read-only /agent/new" in result.stdout
    assert "b'child\\n'" in result.stdout
    assert (harness.workspace / "code.py").read_text() == "x = 2\n"


def test_environment_is_exactly_base_plus_env(harness):
    result = harness.run("import os; print(' '.join(sorted(os.environ)))", env={"EXTRA": "1"})
    names = set(result.stdout.split())
    names.discard("PWD")  # bwrap sets it on --chdir; it names a sandbox path, nothing secret
    assert names == set(BASE_ENV) | {"EXTRA"}, result


def test_mount_ownership_is_given_back(harness):
    (harness.workspace / "given.py").write_text("x")
    before = {p.name: (p.stat().st_uid, p.stat().st_mode) for p in
              [harness.workspace, harness.agent, harness.workspace / "given.py"]}
    harness.run("import os; os.mkdir('made'); open('made/new.py', 'w').write('y')")
    after = {p.name: (p.stat().st_uid, p.stat().st_mode) for p in
             [harness.workspace, harness.agent, harness.workspace / "given.py"]}
    assert after == before
    assert (harness.workspace / "made" / "new.py").stat().st_uid == os.getuid()


def test_a_missing_mount_is_a_setup_failure_not_an_exception(harness, tmp_path):
    result = harness.run("print(1)", mounts=[Mount(tmp_path / "missing", "/missing")])
    assert result.exit_code is None and result.failure.startswith("sandbox setup failed")


def test_exit_codes_and_signals(harness):
    assert harness.run("import sys; sys.exit(3)").exit_code == 3
    killed = harness.run("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.failure == "killed by signal SIGKILL", killed


@pytest.mark.docker
def test_docker_session_reuses_one_container(tmp_path, require):
    require("docker")
    sandbox = DockerSandbox()
    inside, outside = tmp_path / "in", tmp_path / "out"
    (inside / "ws").mkdir(parents=True)
    outside.mkdir()
    kwargs = dict(env={}, limits=Limits(seconds=20))
    with sandbox.session([Mount(inside, "/data", writable=True)], limits=Limits()) as session:
        first = session.run(["python3", "-c", "import socket; print(socket.gethostname())"],
                            workdir="/data/ws", mounts=[Mount(inside / "ws", "/data/ws", True)],
                            **kwargs)
        container = session.container.id
        again = session.run(["python3", "-c", "print(2)"], workdir="/data",
                            mounts=[Mount(inside, "/data")], **kwargs)
        assert session.container.id == container and session.fallbacks == 0
        other = session.run(["python3", "-c", "print(3)"], workdir="/x",
                            mounts=[Mount(outside, "/x")], **kwargs)
        assert session.fallbacks == 1  # not inside the session's mounts: its own container
        session.run(["python3", "-c", "open('/tmp/.left', 'w'); open('/tmp/left', 'w')"],
                    workdir="/", mounts=[], **kwargs)
        later = session.run(["python3", "-c", "import os; print(os.listdir('/tmp'))"],
                            workdir="/", mounts=[], **kwargs)
        assert later.stdout == "[]\n", later  # each command starts with an empty /tmp
    assert (first.stdout, again.stdout, other.stdout) == ("sandbox\n", "2\n", "3\n")
    assert not sandbox.client.containers.list(all=True, filters={"id": container})


@pytest.mark.docker
def test_docker_session_survives_its_container_ending(require):
    require("docker")
    with DockerSandbox().session([], limits=Limits()) as session:
        assert session.run(["true"], workdir="/", mounts=[], env={},
                           limits=Limits()).exit_code == 0
        session.container.remove(force=True)
        assert session.run(["true"], workdir="/", mounts=[], env={},
                           limits=Limits()).exit_code == 0


def test_make_sandbox_names_its_choices():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert isinstance(make_sandbox("process"), ProcessSandbox)
    assert isinstance(make_sandbox("bwrap"), BwrapSandbox)
    with pytest.raises(ValueError, match="process, bwrap, docker, auto"):
        make_sandbox("chroot")


def test_auto_prefers_docker_then_bwrap_then_explains(monkeypatch):
    def status(name, ok):
        return lambda *a, **k: BackendStatus(name, ok, "test")

    monkeypatch.setattr(select, "docker_status", status("docker", False))
    monkeypatch.setattr(select, "bwrap_status", status("bwrap", True))
    assert isinstance(make_sandbox("auto", image="unused"), BwrapSandbox)
    monkeypatch.setattr(select, "bwrap_status", status("bwrap", False))
    with pytest.raises(RuntimeError) as error:
        make_sandbox("auto")
    assert "apt-get install bubblewrap" in str(error.value)
    assert "build-image --offline" in str(error.value)
    monkeypatch.setattr(select, "docker_status", status("docker", True))
    engine = SimpleNamespace(images=SimpleNamespace(get=lambda name: name))  # the image exists
    monkeypatch.setattr("qdagents.sandbox._docker._client", lambda *a, **k: engine)
    assert isinstance(make_sandbox("auto", uid=5), DockerSandbox)


def test_check_sandboxes_reports_every_backend():
    statuses = {s.name: s for s in check_sandboxes()}
    assert set(statuses) == {"process", "bwrap", "docker"}
    assert all(s.detail for s in statuses.values())


def test_unavailable_backend_skips_or_fails(monkeypatch, sandbox_conftest):
    conftest = sandbox_conftest
    monkeypatch.setattr(conftest, "backend_status", lambda name: BackendStatus(name, False, "gone"))
    monkeypatch.setattr(conftest, "REQUIRE", False)
    with pytest.raises(pytest.skip.Exception):
        conftest.require_backend("docker")
    monkeypatch.setattr(conftest, "REQUIRE", True)
    with pytest.raises(pytest.fail.Exception, match="QDAGENTS_REQUIRE_SANDBOXES"):
        conftest.require_backend("docker")


def test_capped_output_keeps_head_and_tail():
    out = CappedOutput(cap=10)
    for chunk in (b"abc", b"defgh", b"ijklmnop", b"qrst"):
        out.add(chunk)
    assert out.text() == "abcde\n[... 10 bytes cut ...]\npqrst"


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.docker
def test_docker_removes_containers_of_killed_controllers(require):
    require("docker")
    from qdagents.sandbox._docker import OWNER_LABEL
    sandbox = DockerSandbox()
    orphan = sandbox.client.containers.run(
        sandbox.image, ["sleep", "60"], detach=True, network_mode="none",
        labels={OWNER_LABEL: f"{socket.gethostname()}:{_dead_pid()}"})
    DockerSandbox()
    assert not sandbox.client.containers.list(all=True, filters={"id": orphan.id})


@pytest.mark.bwrap
def test_cgroups_of_killed_controllers_are_swept(require):
    require("bwrap")
    from qdagents.sandbox import _cgroup
    group = _cgroup.Cgroup.create(Limits())
    if group is None:
        pytest.skip(f"no cgroups here: {_cgroup.UNAVAILABLE}")
    group.remove()
    parent = group.dirs[0].parent
    stale = parent / f"run-{_dead_pid()}-stale"
    stale.mkdir()
    _cgroup._sweep()
    assert not stale.exists()
