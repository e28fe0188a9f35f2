"""One driver per sweep: a lock file in the experiment folder, held for the driver's life.

Two drivers of one sweep (two starts with the same ``--name``, or two ``--resume``)
would both run every trial into one folder. :func:`driver_lock` takes an exclusive
``fcntl.flock`` on ``driver.lock`` in the experiment folder and keeps it until the
driver ends; the second driver is refused at once, naming the holder's PID and host.
The kernel releases the lock when the holder's process dies, however it dies (SIGKILL,
out of memory, a power cut ends everything anyway), so no stale lock is ever left to
remove by hand. The file itself stays: deleting it would let a third driver lock a new
file while a second still holds the old one.

What it protects: drivers on one machine, and on machines that share the folder over a
file system whose ``flock`` reaches every client (NFS v4 does; some older mounts lock
locally only). Remote storage (``s3://``, ``gs://``) has no such lock: the driver then
locks its local results folder, which stops a second driver on the same machine and
folder, but not one elsewhere writing to the same bucket.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "driver.lock"


class SweepLocked(ValueError):
    """Another driver runs this sweep; the message (one line) names its PID and host."""


@contextmanager
def driver_lock(folder: str | os.PathLike[str], name: str) -> Iterator[Path]:
    """Hold the lock of the sweep ``name`` in ``folder`` (created) for the block.

    Raises :class:`SweepLocked` at once when another process holds it.
    """
    path = Path(folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 256).decode(errors="replace").strip() or "another driver"
            raise SweepLocked(
                f"the sweep {name!r} is being run by {holder} (it holds {path}); one driver "
                "per sweep: wait for it to end, or stop it, then --resume"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"PID {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


def holds_only_lock(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds nothing but a lock file (a start that wrote nothing)."""
    return {p.name for p in Path(folder).iterdir()} <= {LOCK_FILE}
