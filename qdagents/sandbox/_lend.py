"""Lending mounted host paths to the sandbox's uid for the length of one command.

A docker sandbox runs as an unprivileged host uid (65534), so it can neither write a workspace the
controller created nor enter a ``mkdtemp`` (0700) folder nor connect to the gateway socket (connect
needs write permission on the socket). Rather than widen permissions for every host user
(``chmod o+rwx``), the mount sources are ``chown``-ed to the sandbox uid while the command runs and
given back afterwards: each path gets its previous owner, and files the command created get the
owner of the mount's root. Only a root controller can do this; otherwise the paths are left alone.

Symlinks are never followed (``lchown``, ``os.walk`` without ``followlinks``): an agent could plant
``workspace/x -> /etc/shadow`` and have the controller chown the host file on its behalf.
Lending is reference-counted per path within this process, so two concurrent commands mounting the
same folder don't give it back under each other's feet.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_lock = threading.Lock()
_lent: dict[str, tuple[int, dict[str, tuple[int, int]]]] = {}


def _walk(root: str) -> Iterator[str]:
    yield root
    if os.path.isdir(root) and not os.path.islink(root):
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                yield os.path.join(folder, name)


def _take(root: str, uid: int, gid: int) -> dict[str, tuple[int, int]]:
    owners = {}
    for path in _walk(root):
        try:
            info = os.lstat(path)
            owners[path] = (info.st_uid, info.st_gid)
            os.chown(path, uid, gid, follow_symlinks=False)
        except FileNotFoundError:
            pass
    return owners


def _give_back(root: str, owners: dict[str, tuple[int, int]]) -> None:
    default = owners.get(root)
    for path in _walk(root):
        owner = owners.get(path, default)
        if owner is not None:
            try:
                os.chown(path, *owner, follow_symlinks=False)
            except FileNotFoundError:
                pass


@contextmanager
def lend(sources: list[Path], uid: int, gid: int) -> Iterator[None]:
    """Makes ``sources`` (recursively) owned by ``uid:gid`` inside the block, when root."""
    if os.geteuid() != 0:
        yield
        return
    roots = sorted({os.path.abspath(s) for s in sources})
    with _lock:
        for root in roots:
            count, owners = _lent.get(root, (0, None))
            _lent[root] = (count + 1, owners if count else _take(root, uid, gid))
    try:
        yield
    finally:
        with _lock:
            for root in roots:
                count, owners = _lent.pop(root)
                if count > 1:
                    _lent[root] = (count - 1, owners)
                else:
                    _give_back(root, owners)
