"""Docker backend: a locked-down container per evaluation, one ``exec`` per command.

The container has no network (``network_mode="none"``), a read-only root filesystem with a
size-capped tmpfs ``/tmp``, no capabilities, ``no-new-privileges``, commands run as uid/gid 65534,
and it is bounded by cgroups (``mem_limit`` = ``memswap_limit``, ``nano_cpus``, ``pids_limit``).
Its pid 1 is a small reaper (:data:`INIT`) running as the container's (capability-less) root, so
commands can neither signal nor ptrace it; it ends after ``ttl`` seconds, so a container orphaned
by a killed controller ends by itself and ``auto_remove`` deletes it (and the next
:class:`DockerSandbox` on the same host removes it at once: containers are labelled with their
controller's host and pid). Each command is an ``exec`` that empties ``/tmp`` (left by the previous
command of the session), then runs through ``env -i`` (the environment is
exactly ``BASE_ENV`` + ``env``; docker would add ``HOSTNAME``) and ``prlimit`` (per-command
``RLIMIT_AS``/``FSIZE``/``CPU``); after it, ``kill -9 -1`` as the sandbox uid removes whatever it
left behind (pid 1 is immune: another uid, and the namespace's init).

Starting a container costs far more than an ``exec``, so :meth:`DockerSandbox.session` keeps one
container for many commands (all tasks of one evaluation); :meth:`DockerSandbox.run` is a
one-command session. The mounts are fixed when a container starts: a session runs a command in its
container when each of the command's mounts lies inside one of the session's mounts at the same
relative place (and is no more writable), and otherwise falls back to a one-command container.
Mount sources are lent to uid 65534 while a command runs (:mod:`qdagents.sandbox._mounts`).

A task may bring its own image (a SWE-bench instance's, with its repository and dependencies):
:meth:`DockerSandbox.with_image` is the same sandbox, with the same lock-down, in that image
(which needs ``python3``, ``/usr/bin/env`` and ``prlimit``, as any Debian or Ubuntu image has), and
:meth:`DockerSandbox.copy_out` copies a folder out of an image without running anything in it.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qdagents.sandbox._base import BASE_ENV, Limits, Mount, SandboxResult, trim
from qdagents.sandbox._mounts import check_mounts, lend
from qdagents.sandbox._output import CappedOutput

DEFAULT_IMAGE = "qdagents-sandbox:latest"
#: Run before each command of a session: what an earlier command left in the container's tmpfs
#: must not reach the next one (the image's root is read-only, so that is all it could leave).
WIPE_TMP = 'rm -rf /tmp/* /tmp/.[!.]* /tmp/..?* /dev/shm/* 2>/dev/null; exec "$@"'
#: The container's pid 1: reaps the orphans commands leave (a non-reaping init such as ``sleep``
#: lets killed processes stay zombies, and zombies count against ``pids_limit``), ignores every
#: signal it can, and ends after ``ttl`` seconds.
INIT = """import os, signal, sys, time
for sig in set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD}:
    signal.signal(sig, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
    signal.sigtimedwait([signal.SIGCHLD], 5)
"""
DOCKERFILE = Path(__file__).with_name("Dockerfile")
#: Label naming the controller (``host:pid``) that owns a sandbox container.
OWNER_LABEL = "qdagents.sandbox.owner"
log = logging.getLogger(__name__)


def _client(timeout: int = 60):
    import docker
    try:
        return docker.from_env(timeout=timeout)
    except docker.errors.DockerException as error:
        raise RuntimeError(f"no docker engine answers ({error}); start one with "
                           "`dockerd --bridge=none --iptables=false`") from error


class DockerSandbox:
    """Runs commands in locked-down docker containers (see the module docstring).

    Args:
        image: the sandbox image (``build_image`` makes it).
        user: ``uid:gid`` the commands run as.
        cpus: CPUs per container.
        ttl: seconds a session container lives at most (restarted transparently when it ends).
    """

    name = "docker"

    def __init__(self, *, image: str = DEFAULT_IMAGE, user: str = "65534:65534",
                 cpus: float = 1.0, ttl: float = 6 * 3600, client=None):
        self.image, self.user, self.cpus, self.ttl = image, user, cpus, ttl
        self.client = client or _client()
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        if client is None:
            self.require_image()
            self.sweep()

    def require_image(self) -> None:
        """Refuses to start without the image: docker would otherwise try to pull it from a
        registry, reaching for the network the sandbox is meant to live without."""
        import docker.errors

        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise RuntimeError(f"docker image {self.image} not found; build it with "
                               "`qdagents sandbox build-image --offline` (or without --offline "
                               "where a registry is reachable)") from None

    def has_image(self, image: str) -> bool:
        """Whether the engine has ``image`` locally (nothing is pulled)."""
        import docker.errors

        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            return False
        return True

    def with_image(self, image: str) -> DockerSandbox:
        """This sandbox (same engine, user, CPUs and lock-down) running commands in ``image``.

        Refuses a missing image rather than let docker pull it.
        """
        if image == self.image:
            return self
        if not self.has_image(image):
            raise RuntimeError(f"docker image {image} not found (nothing is pulled)")
        other = copy.copy(self)
        other.image = image
        return other

    def copy_out(self, image: str, path: str, dest: Path) -> None:
        """Copies the folder ``path`` of ``image`` to the new host folder ``dest``.

        The image's files come from a container that is created, never started, and removed:
        nothing in the image runs. Symlinks are kept as links; members ``tarfile``'s ``data``
        filter refuses (leading or linking outside ``dest``, absolute links, devices) are
        left out.
        """
        dest = Path(dest)
        if dest.exists():
            raise FileExistsError(f"{dest} exists")
        container = self.client.containers.create(image, ["true"], network_disabled=True,
                                                  labels={OWNER_LABEL: self.owner})
        try:
            stream, _ = container.get_archive(path)
            with tempfile.TemporaryDirectory(prefix=".copy-out-", dir=dest.parent) as scratch:
                archive_path = Path(scratch) / "folder.tar"
                with open(archive_path, "wb") as archive:
                    for chunk in stream:
                        archive.write(chunk)
                with tarfile.open(archive_path) as archive:
                    top = {m.name.split("/")[0] for m in archive.getmembers()}
                    archive.extractall(Path(scratch) / "tree", filter=_safe_member)
                if len(top) != 1:
                    raise RuntimeError(f"{image}:{path} did not come out as one folder")
                shutil.move(str(Path(scratch) / "tree" / top.pop()), dest)
        finally:
            container.remove(force=True)

    def sweep(self) -> None:
        """Removes sandbox containers whose controller (on this host) was killed before it could."""
        host = socket.gethostname()
        try:
            leftovers = self.client.containers.list(all=True, filters={"label": OWNER_LABEL})
        except Exception as error:  # best effort: the ttl ends them anyway
            log.debug("sweep: %s", error)
            return
        for container in leftovers:
            owner_host, _, pid = container.labels.get(OWNER_LABEL, "").rpartition(":")
            if owner_host == host and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                try:
                    container.remove(force=True)
                except Exception as error:
                    log.debug("sweep: %s", error)

    def run(self, argv: list[str], *, workdir: str, mounts: list[Mount],
            env: dict[str, str], limits: Limits,
            cancel: threading.Event | None = None) -> SandboxResult:
        with self.session(mounts, limits=limits) as session:
            return session.run(argv, workdir=workdir, mounts=mounts, env=env, limits=limits,
                               cancel=cancel)

    @contextmanager
    def session(self, mounts: list[Mount], *, limits: Limits = Limits()) -> Iterator[DockerSession]:
        """One container for many commands; its cgroup limits come from ``limits``."""
        session = DockerSession(self, list(mounts), limits)
        try:
            yield session
        finally:
            session.close()

    def start(self, mounts: list[Mount], limits: Limits):
        """Starts a session container (pid 1 sleeps; commands come as execs)."""
        from docker.types import LogConfig, Mount as DockerMount, Ulimit
        memory = f"{limits.memory_mb}m"
        file_size = limits.file_mb * 1024 * 1024
        return self.client.containers.run(  # pid 1 runs as root: commands can't ptrace it
            self.image, ["python3", "-S", "-c", INIT, str(self.ttl)], detach=True,
            auto_remove=True, user="0:0", working_dir="/", hostname="sandbox",
            environment=dict(BASE_ENV),
            network_mode="none", read_only=True, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], mem_limit=memory, memswap_limit=memory,
            nano_cpus=int(self.cpus * 1e9), pids_limit=limits.processes + 2,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={memory},mode=1777"},
            ulimits=[Ulimit(name="core", soft=0, hard=0),
                     Ulimit(name="fsize", soft=file_size, hard=file_size)],
            mounts=[DockerMount(m.target, str(m.source), type="bind", read_only=not m.writable)
                    for m in mounts],
            log_config=LogConfig(type="none"), labels={OWNER_LABEL: self.owner})


class DockerSession:
    """A running sandbox container; :meth:`run` is the :class:`Sandbox` protocol. One command at
    a time (the cleanup after a command kills every process of the sandbox uid)."""

    name = "docker"

    def __init__(self, sandbox: DockerSandbox, mounts: list[Mount], limits: Limits):
        self.sandbox, self.mounts, self.limits = sandbox, mounts, limits
        self.container = None
        self._lock = threading.Lock()
        self.fallbacks = 0

    def _inside(self, mount: Mount) -> bool:
        for own in self.mounts:
            try:
                rel = Path(mount.source).relative_to(own.source)
            except ValueError:
                continue
            same_place = Path(mount.target) == Path(own.target) / rel
            if same_place and (own.writable or not mount.writable):
                return True
        return False

    def run(self, argv: list[str], *, workdir: str, mounts: list[Mount],
            env: dict[str, str], limits: Limits,
            cancel: threading.Event | None = None) -> SandboxResult:
        if not all(self._inside(m) for m in mounts):
            self.fallbacks += 1
            log.info("mounts differ from the session's: running %s in its own container", argv)
            return self.sandbox.run(argv, workdir=workdir, mounts=mounts, env=env, limits=limits,
                                    cancel=cancel)
        start = time.monotonic()
        try:
            check_mounts(workdir, mounts)
        except (OSError, ValueError) as error:
            return SandboxResult(exit_code=None, stdout="", stderr=str(error), seconds=0.0,
                                 failure=f"sandbox setup failed: {error}")
        with self._lock, lend([m.source for m in mounts], *self._ids()):
            try:
                return self._exec(argv, workdir, env, limits, start, cancel)
            except Exception as error:  # the engine, not the agent: report, don't raise
                return SandboxResult(exit_code=None, stdout="", stderr=repr(error),
                                     seconds=time.monotonic() - start,
                                     failure=f"sandbox error: {error}")

    def _ids(self) -> tuple[int, int]:
        uid, _, gid = self.sandbox.user.partition(":")
        return int(uid), int(gid or uid)

    def _ensure(self):
        if self.container is not None:
            try:
                self.container.reload()
                if self.container.status == "running":
                    return self.container
            except Exception:  # removed after its ttl: start another
                pass
        self.container = self.sandbox.start(self.mounts, self.limits)
        return self.container

    def _exec(self, argv, workdir, env, limits, start, cancel=None) -> SandboxResult:
        from docker.utils.socket import frames_iter
        api = self.sandbox.client.api
        container = self.container or self._ensure()
        inner = ["/bin/sh", "-c", WIPE_TMP, "sh",
                 "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in {**BASE_ENV, **env}.items()),
                 "/usr/bin/prlimit", f"--as={limits.memory_mb * 1024 * 1024}",
                 f"--cpu={int(limits.seconds) + 1}", f"--fsize={limits.file_mb * 1024 * 1024}",
                 "--core=0", "--", *argv]
        try:
            exec_id = api.exec_create(container.id, inner, user=self.sandbox.user,
                                      workdir=workdir, stdin=False)["Id"]
        except Exception:  # the container ended (ttl, or removed): one retry on a fresh one
            self.container = None
            container = self._ensure()
            exec_id = api.exec_create(container.id, inner, user=self.sandbox.user,
                                      workdir=workdir, stdin=False)["Id"]
        ooms = _oom_kills(container.id)
        sock = api.exec_start(exec_id, socket=True)
        raw = getattr(sock, "_sock", sock)
        raw.settimeout(None)
        outputs = {1: CappedOutput(), 2: CappedOutput()}

        def read() -> None:
            try:
                for stream, data in frames_iter(sock, tty=False):
                    if stream in outputs:
                        outputs[stream].add(data)
            except OSError:
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        timed_out = self._wait(api, exec_id, reader, start + limits.seconds, cancel)
        cancelled = cancel is not None and cancel.is_set() and not timed_out
        self._cleanup(container)
        reader.join(5.0)
        if reader.is_alive():
            raw.close()
        info = api.exec_inspect(exec_id)
        code = None if timed_out or cancelled else info.get("ExitCode")
        failure = None
        if timed_out:
            failure = f"timed out after {limits.seconds:g}s"
        elif cancelled:
            failure = "cancelled by the caller"
        elif code == 126 and outputs[1].text().startswith("OCI runtime exec failed"):
            failure, code = f"sandbox setup failed: {outputs[1].text().strip()}", None
        elif code is not None and code > 128 and (code - 128) in signal.valid_signals():
            failure = f"killed by signal {signal.Signals(code - 128).name}"
            if code == 128 + signal.SIGKILL and _oom_kills(container.id) > ooms:
                failure = f"killed: memory limit ({self.limits.memory_mb} MB)"
        return SandboxResult(exit_code=code, stdout=trim(outputs[1].text()),
                             stderr=trim(outputs[2].text()), seconds=time.monotonic() - start,
                             timed_out=timed_out, failure=failure)

    @staticmethod
    def _wait(api, exec_id: str, reader: threading.Thread, deadline: float,
              cancel: threading.Event | None = None) -> bool:
        """Waits for the command to end (or ``cancel`` to be set); True when the deadline
        passed first.

        The command has ended when its output closes or when docker says its process exited:
        a child still holding stdout would otherwise keep the stream open (dockerd closes it
        only 2 s after the exit), and the cleanup that follows kills that child.
        """
        step = 0.01
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if cancel is not None and cancel.is_set():
                return False
            reader.join(min(step, left))
            if not reader.is_alive():
                return False
            info = api.exec_inspect(exec_id)  # ExitCode is None until the process has ended
            if not info.get("Running") and info.get("ExitCode") is not None:
                return False
            step = min(step * 2, 0.25 if cancel is None else 0.02)

    def _cleanup(self, container) -> None:
        """Kills every process of the sandbox uid except pid 1 (and the killer itself).

        Skipped when the container's ``pids.current`` (readable when the engine is local) shows
        only pid 1 left: that halves the cost of a short command.
        """
        if _cgroup_value(container.id, "pids", "pids.current") == 1:
            return
        try:
            container.exec_run(["/bin/sh", "-c", "kill -9 -1"], user=self.sandbox.user)
        except Exception as error:  # the container is gone: nothing is left in it either
            log.debug("cleanup exec failed: %s", error)

    def close(self) -> None:
        """Removes the container (and every process in it)."""
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except Exception as error:  # already removed by auto_remove
                log.debug("container removal: %s", error)
            self.container = None


def _safe_member(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """``tarfile``'s ``data`` filter, leaving a refused member out instead of failing."""
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError as error:
        log.info("copy_out: left out %s (%s)", member.name, error)
        return None


def _cgroup_value(container_id: str, controller: str, name: str, key: str = "") -> int | None:
    """Reads a container's cgroup file when the engine runs on this host (None otherwise)."""
    for folder in (f"/sys/fs/cgroup/{controller}/docker/{container_id}",
                   f"/sys/fs/cgroup/{controller}/system.slice/docker-{container_id}.scope",
                   f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope",
                   f"/sys/fs/cgroup/docker/{container_id}"):
        try:
            text = Path(folder, name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            if not key and len(words) == 1:
                return int(words[0])
            if key and len(words) == 2 and words[0] == key:
                return int(words[1])
    return None


def _oom_kills(container_id: str) -> int:
    """How often the container's memory cgroup OOM-killed a process (0 when unknown)."""
    return (_cgroup_value(container_id, "memory", "memory.oom_control", "oom_kill")
            or _cgroup_value(container_id, "memory", "memory.events", "oom_kill") or 0)


def debian_mirror() -> str:
    """The Debian mirror apt uses here (``deb.debian.org`` when none is configured)."""
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + \
            sorted(Path("/etc/apt/sources.list.d").glob("*")):
        if not path.is_file() or path.name.endswith((".disabled", ".save")):
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = line.split()
            if words[:1] == ["deb"] or words[:1] == ["URIs:"]:
                for word in words[1:]:
                    if word.startswith("http") and word.rstrip("/").endswith("/debian"):
                        return word
    return "http://deb.debian.org/debian"


def build_image(*, offline: bool, tag: str = DEFAULT_IMAGE) -> str:
    """Builds the sandbox image and returns its id.

    ``offline=True`` needs no registry: ``debootstrap`` a minimal Debian bookworm with ``python3``
    from the local apt mirror and ``docker import`` it (needs root and ``debootstrap``; about 40 s).
    ``python3`` rather than ``python3-minimal``: the minimal package lacks ``json``, ``http`` and
    ``unittest``, which agents and the test harness need. ``offline=False`` builds ``Dockerfile``
    (pulls ``python:3.11-slim``).
    """
    client = _client(timeout=600)
    if not offline:
        with open(DOCKERFILE, "rb") as handle:
            image, _ = client.images.build(fileobj=handle, tag=tag, rm=True, pull=True)
        return image.id
    if os.geteuid() != 0:
        raise RuntimeError("build_image(offline=True) runs debootstrap: run it as root")
    with tempfile.TemporaryDirectory(prefix="qdagents-image-") as scratch:
        root = os.path.join(scratch, "root")
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3", "bookworm",
                        root, debian_mirror()], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["sh", "-c", "rm -rf var/cache/apt/archives/*.deb var/lib/apt/lists/*"],
                       cwd=root, check=True)
        tarball = os.path.join(scratch, "root.tar")
        subprocess.run(["tar", "-C", root, "-cf", tarball, "."], check=True)
        repository, _, version = tag.rpartition(":")
        if not repository or "/" in version:
            repository, version = tag, "latest"
        client.api.import_image_from_file(
            tarball, repository=repository, tag=version,
            changes=[f"ENV PATH={BASE_ENV['PATH']}", "ENV LANG=C.UTF-8",
                     "USER 65534:65534", 'CMD ["python3"]'])
    return client.images.get(tag).id
