"""Bounded capture of a sandboxed command's output.

``subprocess.communicate`` keeps everything a command prints, so an agent printing in a loop for
a minute can exhaust the controller's memory. These helpers keep the head and the tail of each
stream and count what they drop, whatever the command prints.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import threading
import time
from collections.abc import Callable

from qdagents.sandbox._base import OUTPUT_CAP


class CappedOutput:
    """Keeps the first and last ``cap // 2`` bytes of a stream."""

    def __init__(self, cap: int = OUTPUT_CAP):
        self.half = cap // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.half:
            cut = len(self.tail) - self.half
            self.dropped += cut
            del self.tail[:cut]

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if self.dropped:
            return f"{head}\n[... {self.dropped} bytes cut ...]\n{tail}"
        return head + tail


def collect(proc: subprocess.Popen, seconds: float, kill: Callable[[], None],
            grace: float = 5.0, cancel: threading.Event | None = None) -> tuple[str, str, bool]:
    """Reads ``proc``'s stdout and stderr until it exits or ``seconds`` pass.

    On the deadline, or when ``cancel`` is set (the caller no longer needs the command), it calls
    ``kill`` and reads what is left for at most ``grace`` seconds (a process that escaped the kill
    and still holds a pipe can't hang the controller). Returns ``(stdout, stderr, timed_out)``;
    a cancelled command is not ``timed_out`` (the caller knows it cancelled it).
    """
    outputs = {proc.stdout: CappedOutput(), proc.stderr: CappedOutput()}
    deadline = time.monotonic() + seconds
    timed_out = killed = False
    with selectors.DefaultSelector() as selector:
        for stream in outputs:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if not killed and cancel is not None and cancel.is_set():
                killed = True
                kill()
                deadline = time.monotonic() + grace
                continue
            if left <= 0:
                if killed:
                    break
                timed_out = killed = True
                kill()
                deadline = time.monotonic() + grace
                continue
            if cancel is not None and not killed:
                left = min(left, 0.005)
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    outputs[key.fileobj].add(chunk)
                else:
                    selector.unregister(key.fileobj)
    for stream in outputs:
        stream.close()
    while True:  # the pipes are closed (or abandoned); the process may still run
        try:
            proc.wait(timeout=max(min(deadline - time.monotonic(), 0.05), 0.0))
            break
        except subprocess.TimeoutExpired:
            if killed and time.monotonic() >= deadline:
                proc.wait()
                break
            if not killed and (time.monotonic() >= deadline
                               or (cancel is not None and cancel.is_set())):
                timed_out = time.monotonic() >= deadline
                killed = True
                kill()
                deadline = time.monotonic() + grace
    out, err = (o.text() for o in outputs.values())
    return out, err, timed_out
