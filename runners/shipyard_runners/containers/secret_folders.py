"""The folders a container's secrets are mounted from: one per container, in memory.

A secret's value must reach neither a disk nor the engine's description of a container (an
environment variable is in ``docker inspect``). So each container that has secrets gets a
folder of its own under ``root`` (memory-backed, ``/dev/shm``), one file per secret, which
the container sees read-only at ``SECRETS_DIR`` (a bind mount), where the service's runtime
reads them (``shipyard_sdk.runtime.secret_files``).

``root`` is this process's user's alone (0700): the engine mounts a folder as root and the
container reaches it through the mount, so no other user of this machine can reach inside.
Run as root, a folder and its files belong to the image's service user and are read-only
for it; otherwise they are readable by all, behind ``root``. A folder goes when its
container is removed; what a crash left, ``discard_except`` removes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

import docker.types

from shipyard_runners.containers.dockerfiles import SERVICE_UID
from shipyard_sdk.errors import RunnerError

__all__ = ["DEFAULT_SECRETS_ROOT", "SECRETS_DIR", "SecretFolders"]

SECRETS_DIR = "/run/secrets"
"""Where a container sees its secrets (Docker's own convention for secret files)."""
DEFAULT_SECRETS_ROOT = Path("/dev/shm")
_OWNER = re.compile(r"^[0-9a-z-]{1,64}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SecretFolders:
    """The secret folders of one installation's containers, under ``parent``."""

    def __init__(self, parent: Path, installation: str) -> None:
        self.root = parent / f"shipyard-{installation}-secrets"

    def make(self, owner: str, secrets: Mapping[str, str]) -> docker.types.Mount | None:
        """Write ``secrets`` into the folder of container ``owner``; the read-only mount
        that shows it at ``SECRETS_DIR``, None when there is no secret."""
        if not secrets:
            return None
        folder = self._folder(owner)
        for name in secrets:
            if not _NAME.match(name):
                raise RunnerError(f"{name!r} cannot be the name of a secret file")
        as_root = os.geteuid() == 0
        self._ensure_root()
        self.remove(owner)
        try:
            folder.mkdir(mode=0o700)
            for name, value in sorted(secrets.items()):
                descriptor = os.open(folder / name,
                                     os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                     0o600)
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    handle.write(value)
                if as_root:
                    os.chown(folder / name, SERVICE_UID, SERVICE_UID)
                os.chmod(folder / name, 0o400 if as_root else 0o444)
            if as_root:
                os.chown(folder, SERVICE_UID, SERVICE_UID)
            os.chmod(folder, 0o500 if as_root else 0o555)
        except OSError as exc:
            self.remove(owner)
            raise RunnerError(f"cannot write the secrets of {owner} in {folder}: "
                              f"{exc.strerror or exc}") from exc
        return docker.types.Mount(target=SECRETS_DIR, source=str(folder), type="bind",
                                  read_only=True)

    def remove(self, owner: str) -> None:
        folder = self._folder(owner)
        if not os.path.lexists(folder):
            return
        # A read-only folder's files cannot be unlinked until it is writable again.
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o700)
        shutil.rmtree(folder, ignore_errors=True)

    def discard_except(self, owners: Iterable[str]) -> int:
        """Remove the folders of containers not in ``owners`` (gone while nobody watched);
        how many went."""
        keep = set(owners)
        try:
            found = [entry.name for entry in os.scandir(self.root)]
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise RunnerError(f"cannot list the secret folders in {self.root}: "
                              f"{exc.strerror}") from exc
        gone = [owner for owner in found if owner not in keep and _OWNER.match(owner)]
        for owner in gone:
            self.remove(owner)
        return len(gone)

    def purge(self) -> None:
        with contextlib.suppress(RunnerError):
            self.discard_except(())
        with contextlib.suppress(OSError):
            self.root.rmdir()

    def _folder(self, owner: str) -> Path:
        if not _OWNER.match(owner):
            raise RunnerError(f"{owner!r} cannot own a secret folder")
        return self.root / owner

    def _ensure_root(self) -> None:
        """Make ``root``, or check that the one there is ours alone: in a folder every user
        can write to (``/dev/shm``), another user could have made it first."""
        if not self.root.parent.is_dir():
            raise RunnerError(
                f"secrets are mounted from memory, and {self.root.parent} (a memory-backed "
                "folder) does not exist on this machine"
            )
        with contextlib.suppress(FileExistsError):
            self.root.mkdir(mode=0o700)
        found = os.lstat(self.root)
        if (not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid()
                or stat.S_IMODE(found.st_mode) != 0o700):
            raise RunnerError(
                f"{self.root} is not a folder of this user's alone (mode 0700); remove it "
                "before starting a service that has secrets"
            )
