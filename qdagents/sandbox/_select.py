"""Which sandbox backends work on this machine, and the ``auto`` choice among them."""

from __future__ import annotations

import inspect
import subprocess
from dataclasses import dataclass

from qdagents.sandbox._base import Limits, Sandbox

INSTALL_HINT = ("no safe sandbox backend works here. Install one of: bubblewrap "
                "(`apt-get install bubblewrap`), or docker (`apt-get install docker.io`, start the "
                "engine, then `qdagents sandbox build-image --offline`). sandbox=process runs "
                "agents without isolation (trusted code only).")


@dataclass(frozen=True)
class BackendStatus:
    """Whether a backend can run here, and what it found (or what is missing)."""

    name: str
    available: bool
    detail: str


def bwrap_status() -> BackendStatus:
    """Runs ``true`` in a real bwrap sandbox, with the layout and limits every command gets."""
    from qdagents.sandbox import _cgroup
    from qdagents.sandbox._bwrap import BwrapSandbox
    sandbox = BwrapSandbox()
    try:
        version = subprocess.run([sandbox.bwrap, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
    except OSError as error:
        return BackendStatus("bwrap", False, f"{sandbox.bwrap}: {error.strerror}; "
                                             "install it with `apt-get install bubblewrap`")
    result = sandbox.run(["true"], workdir="/", mounts=[], env={}, limits=Limits(seconds=20))
    if result.exit_code != 0:
        reason = result.failure or result.stderr.strip() or f"exit {result.exit_code}"
        return BackendStatus("bwrap", False, f"{version} cannot create a sandbox: {reason}")
    if not sandbox.cgroups:
        processes = ("processes bounded by RLIMIT_NPROC inside the user namespace"
                     if sandbox.prlimit else "processes NOT bounded (no prlimit binary)")
    elif _cgroup.UNAVAILABLE:
        processes = f"processes and tree memory NOT bounded ({_cgroup.UNAVAILABLE})"
    else:
        processes = "processes and tree memory bounded by a cgroup per command"
    from qdagents.sandbox._bwrap import _bwrap_help
    from qdagents.sandbox._seccomp import seccomp_filter
    extras = ["seccomp denylist" if seccomp_filter() else "no seccomp filter (not x86_64)"]
    if "--disable-userns" not in _bwrap_help(sandbox.bwrap):
        extras.append("nested user namespaces allowed (bubblewrap < 0.8)")
    return BackendStatus("bwrap", True, f"{version}; {processes}; {'; '.join(extras)}")


def docker_status(image: str | None = None) -> BackendStatus:
    """Asks the docker engine whether it answers and has the sandbox image."""
    from qdagents.sandbox._docker import DEFAULT_IMAGE
    image = image or DEFAULT_IMAGE
    try:
        import docker
        client = docker.from_env(timeout=5)
        version = client.version().get("Version", "?")
    except Exception as error:  # no SDK, no socket, engine down: all mean "not here"
        return BackendStatus("docker", False, f"no docker engine answers ({error}); start one "
                             "with `dockerd --bridge=none --iptables=false`")
    try:
        found = client.images.get(image)
    except Exception:
        return BackendStatus("docker", False, f"engine {version} answers but image {image} is "
                             "missing: run `qdagents sandbox build-image --offline`")
    return BackendStatus("docker", True, f"engine {version}; image {image} ({found.short_id})")


def check_sandboxes() -> list[BackendStatus]:
    """The status of every backend (for ``qdagents sandbox check``)."""
    return [BackendStatus("process", True, "always works; isolates nothing (trusted code only)"),
            bwrap_status(), docker_status()]


def _accepted(cls: type, options: dict) -> dict:
    params = inspect.signature(cls).parameters
    return {k: v for k, v in options.items() if k in params}


def auto_sandbox(**options) -> Sandbox:
    """Docker when an engine answers and has the image, else bwrap when it works, else an error.

    Options the chosen backend doesn't take (``image`` for bwrap, ``uid`` for docker) are dropped.
    """
    from qdagents.sandbox._bwrap import BwrapSandbox
    from qdagents.sandbox._docker import DockerSandbox
    docker = docker_status(options.get("image"))
    if docker.available:
        return DockerSandbox(**_accepted(DockerSandbox, options))
    bwrap = bwrap_status()
    if bwrap.available:
        return BwrapSandbox(**_accepted(BwrapSandbox, options))
    raise RuntimeError(f"{INSTALL_HINT}\n  docker: {docker.detail}\n  bwrap: {bwrap.detail}")
