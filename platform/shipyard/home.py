"""The home folder: where a control plane keeps its database, secrets and run files.

It is made readable by its owner only. A folder that already exists is tightened too when
it is empty or already a Shipyard home, never when it is some other folder a user named
(``--home /tmp`` must not change ``/tmp``). One ``shipyard up`` at a time uses a home
(``lock_home``): two would run two supervisors over one database.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from shipyard.contracts.run_paths import lock_file
from shipyard.errors import Conflict

__all__ = ["HOME_MODE", "lock_home", "prepare_home"]

HOME_MODE = 0o700
_MARKS = ("shipyard.db", "secrets", "run", "credentials")


def prepare_home(home: Path) -> None:
    """Create ``home`` (and its parents) if needed, private to its owner."""
    if not home.exists():
        home.mkdir(parents=True, mode=HOME_MODE)
        os.chmod(home, HOME_MODE)  # mkdir's mode is filtered through the umask
        return
    if _is_ours(home):
        os.chmod(home, HOME_MODE)


def _is_ours(home: Path) -> bool:
    if home.stat().st_uid != os.geteuid():
        return False
    return not any(home.iterdir()) or any((home / mark).exists() for mark in _MARKS)


def lock_home(home: Path) -> int:
    """Take ``home`` for this ``shipyard up``: a lock held as long as the returned file
    descriptor is open, in this process or any that inherited it. A home already taken
    raises ``Conflict`` with the PID that took it."""
    path = lock_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 64, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(descriptor)
        raise Conflict(
            f"{home} is in use by another shipyard up (pid {holder}, or the processes it "
            "started, still stopping); stop it first or give another --home"
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return descriptor
