"""One live run per workdir: an exclusive lock held for the whole run.

Every process of a run locks its own file `<workdir>/.lock.<process index>` with
`flock` (so with several processes each one fails at once, not only process 0, and
a 1-process run conflicts with a several-process run on process 0's file). The
kernel drops an flock when its process dies, so the lock of a run killed with -9 is
stale by construction and the next run takes it over (and says so); the file keeps
the owner (pid, host, start time) so that the error names the live run. The file is
never deleted: deleting it would let two runs lock two different files.

    with workdir.lock(path):   # re-entrant within a process (lib.app, then lib.train)
        ...
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time

from absl import logging

from lib.errors import WorkdirError


class WorkdirLockedError(WorkdirError):
    """Another live run holds the workdir."""


_HELD: dict[str, list] = {}  # path -> [fd, depth]


def _path(workdir: str) -> str:
    import jax

    return os.path.join(os.path.abspath(workdir), f".lock.{jax.process_index()}")


def acquire(workdir: str) -> str:
    """Takes the lock (or deepens this process's hold on it); WorkdirLockedError if held elsewhere."""
    path = _path(workdir)
    if path in _HELD:
        _HELD[path][1] += 1
        return path
    root = os.path.dirname(path)
    if os.path.exists(root) and not os.path.isdir(root):
        raise WorkdirError(f"--workdir={root} is a file, not a folder")
    try:
        os.makedirs(root, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise WorkdirError(f"--workdir={root} cannot be created or written ({e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner = os.pread(fd, 400, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise WorkdirLockedError(
            f"workdir {os.path.dirname(path)} is in use by a live run ({owner}); wait for it to end, stop it, "
            "or pass another --workdir") from None
    stale = os.pread(fd, 400, 0).decode(errors="replace").strip()
    if stale:
        logging.warning("Taking over the lock of %s: that run ended without releasing it (killed).", stale)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, started "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
    _HELD[path] = [fd, 1]
    return path


def release(path: str) -> None:
    held = _HELD.get(path)
    if held is None:
        return
    held[1] -= 1
    if held[1] > 0:
        return
    fd = held[0]
    del _HELD[path]
    try:
        os.ftruncate(fd, 0)  # an empty file: released cleanly, not stale
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def lock(workdir: str):
    path = acquire(workdir)
    try:
        yield path
    finally:
        release(path)
