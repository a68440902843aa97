"""The home folder: where a control plane keeps its database, secrets and run files.

It is made readable by its owner only. A folder that already exists is tightened too when
it is empty or already a Shipyard home, never when it is some other folder a user named
(``--home /tmp`` must not change ``/tmp``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_MODE", "prepare_home"]

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
