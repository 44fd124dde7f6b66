"""Checks on the caller's mounts, and lending mounted host paths to the sandbox's uid.

:func:`check_mounts` turns a controller mistake (a missing source, a relative target, a working
directory that doesn't exist) into a clear setup failure before anything starts, so it can't be
confused with what the agent did.

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

from qdagents.sandbox._base import Mount

_lock = threading.Lock()


def check_mounts(workdir: str, mounts: list[Mount]) -> bool:
    """Raises ``ValueError``/``FileNotFoundError`` unless the mounts and ``workdir`` make sense.

    Returns whether ``workdir`` lies in one of the mounts (else the backend checks it).
    """
    for mount in mounts:
        if not os.path.isabs(mount.target):
            raise ValueError(f"mount target must be absolute: {mount.target!r}")
        if not os.path.lexists(mount.source):
            raise FileNotFoundError(f"mount source does not exist: {mount.source}")
    if not os.path.isabs(workdir):
        raise ValueError(f"workdir must be absolute: {workdir!r}")
    for mount in sorted(mounts, key=lambda m: len(m.target), reverse=True):
        try:
            rel = Path(workdir).relative_to(mount.target)
        except ValueError:
            continue
        if not (Path(mount.source) / rel).is_dir():
            raise FileNotFoundError(f"workdir {workdir} is not a folder in mount {mount.source}")
        return True
    return False
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
