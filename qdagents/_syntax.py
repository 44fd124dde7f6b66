"""Parsing Python source from many threads at once.

CPython 3.11 keeps the AST's recursion-depth bookkeeping in state that threads share, so two
threads parsing or compiling at the same moment can fail with "SystemError: AST constructor
recursion depth mismatch" (CPython gh-106905). The controller parses on many threads (the
gateway answers agents from many, the task checks and emitters run on workers), so every parse
and compile of the host process goes through one lock.
"""

from __future__ import annotations

import ast
import threading

__all__ = ["PARSE_LOCK", "compile_source", "parse"]

#: Held around every ``ast.parse`` and ``compile`` of the host process.
PARSE_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse``, one thread at a time (raises SyntaxError and ValueError as it does)."""
    with PARSE_LOCK:
        return ast.parse(source, filename=filename)


def compile_source(source: str, filename: str = "<unknown>"):
    """``compile(source, filename, "exec")``, one thread at a time."""
    with PARSE_LOCK:
        return compile(source, filename, "exec")
