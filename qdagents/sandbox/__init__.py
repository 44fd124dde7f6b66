"""Sandboxes that run untrusted agent code: ``process``, ``bwrap`` and ``docker`` backends.

``bwrap`` (the default) and ``docker`` isolate; ``process`` doesn't (trusted code only). See
``docs/sandbox.md`` for what each backend blocks and how.
"""

from qdagents.sandbox._base import BASE_ENV, Limits, Mount, Sandbox, SandboxResult, trim
from qdagents.sandbox._bwrap import BwrapSandbox
from qdagents.sandbox._docker import DEFAULT_IMAGE, DockerSandbox, DockerSession, build_image
from qdagents.sandbox._process import ProcessSandbox
from qdagents.sandbox._select import BackendStatus, auto_sandbox, check_sandboxes

__all__ = ["BASE_ENV", "BackendStatus", "BwrapSandbox", "DEFAULT_IMAGE", "DockerSandbox",
           "DockerSession", "Limits", "Mount", "ProcessSandbox", "Sandbox", "SandboxResult",
           "build_image", "check_sandboxes", "make_sandbox", "trim"]

BACKENDS = ("process", "bwrap", "docker", "auto")


def make_sandbox(name: str, **options) -> Sandbox:
    """Builds the sandbox backend called ``name`` (``process``, ``bwrap``, ``docker``, ``auto``).

    ``auto`` picks docker when an engine answers and has the image, else bwrap when it works, and
    raises a RuntimeError saying how to install either when neither does.
    """
    if name == "process":
        return ProcessSandbox(**options)
    if name == "bwrap":
        return BwrapSandbox(**options)
    if name == "docker":
        return DockerSandbox(**options)
    if name == "auto":
        return auto_sandbox(**options)
    raise ValueError(f"unknown sandbox backend {name!r}; choose one of: {', '.join(BACKENDS)}")
