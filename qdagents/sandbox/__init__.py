"""Sandboxes that run untrusted agent code: ``process``, ``bwrap`` and ``docker`` backends."""

from qdagents.sandbox._base import BASE_ENV, Limits, Mount, Sandbox, SandboxResult, trim
from qdagents.sandbox._process import ProcessSandbox

__all__ = ["BASE_ENV", "Limits", "Mount", "ProcessSandbox", "Sandbox", "SandboxResult", "trim",
           "make_sandbox"]


def make_sandbox(name: str, **options) -> Sandbox:
    """Builds the sandbox backend called ``name`` (``process``, ``bwrap``, ``docker``, ``auto``)."""
    if name == "process":
        return ProcessSandbox(**options)
    raise ValueError(f"unknown sandbox backend {name!r}; choose one of: process")
