"""The one way the runners start subprocesses.

``run`` runs a build step to completion: it logs the command, streams stdout and stderr
merged, line by line, to the build log as they come, and turns a failure into
``BuildFailed`` whose one-line message ends with the last line of output (for a Python
traceback, the exception). ``spawn`` starts a long-lived instance process in its own
session with its output appended to a file. Both log the command with anything that
looks like a secret replaced by ``***``: values of arguments and environment variables
whose names mention a token, secret, password or key, and credentials inside URLs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import IO

import psutil

from shipyard_runners.protocol import LogSink
from shipyard_sdk.errors import BuildFailed, RunnerError

__all__ = ["describe", "redact_args", "redact_env", "run", "spawn"]

logger = logging.getLogger(__name__)

REDACTED = "***"
_SECRET_NAME = re.compile(r"token|secret|passw(or)?d|key|credential", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s@]+@")
_OPTION = re.compile(r"^(-{0,2}[A-Za-z_][\w.-]*)=(.*)$", re.DOTALL)


def _redact_url(value: str) -> str:
    return _URL_CREDENTIALS.sub(REDACTED + "@", value)


def redact_args(args: Sequence[str]) -> list[str]:
    """``args`` with secret values replaced, for logging only.

    ``--token=x`` and ``API_KEY=x`` keep their name; after a bare ``--password`` the next
    argument goes; ``https://user:pw@host`` loses its credentials.
    """
    redacted: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            redacted.append(REDACTED)
            hide_next = False
            continue
        option = _OPTION.match(arg)
        if option and _SECRET_NAME.search(option.group(1)):
            redacted.append(f"{option.group(1)}={REDACTED}")
        elif arg.startswith("-") and "=" not in arg and _SECRET_NAME.search(arg):
            redacted.append(arg)
            hide_next = True
        else:
            redacted.append(_redact_url(arg))
    return redacted


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the values of secret-looking names replaced, for logging only."""
    return {
        name: REDACTED if _SECRET_NAME.search(name) else _redact_url(value)
        for name, value in env.items()
    }


def describe(args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """A shell-like, redacted rendering of a command and the variables set for it."""
    assignments = [f"{name}={value}" for name, value in sorted(redact_env(env or {}).items())]
    return shlex.join([*assignments, *redact_args([str(arg) for arg in args])])


def _kill_tree(proc: subprocess.Popen[str]) -> None:
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for process in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    proc.kill()


def run(
    args: Sequence[str | os.PathLike[str]],
    log: LogSink,
    *,
    what: str,
    cwd: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    inherit_env: bool = True,
    shown_env: Collection[str] | None = None,
    timeout: float | None = None,
    check: bool = True,
    preexec_fn: Callable[[], None] | None = None,
) -> int:
    """Run a build step to completion and return its exit code.

    ``extra_env`` is added to this process's environment (or, without ``inherit_env``, is
    the whole environment) and shown in the log: all of it, or the names in ``shown_env``.
    With ``check``, a non-zero exit raises ``BuildFailed`` naming ``what``. A step still
    running after ``timeout`` seconds is killed with its children and fails.
    ``preexec_fn`` runs in the child before the command (a resource limit).
    """
    argv = [os.fspath(arg) for arg in args]
    shown = {
        name: value
        for name, value in (extra_env or {}).items()
        if shown_env is None or name in shown_env
    }
    log("$ " + describe(argv, shown))
    env = {**(os.environ if inherit_env else {}), **(extra_env or {})}
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            preexec_fn=preexec_fn,
        )
    except OSError as exc:
        raise BuildFailed(f"{what} failed: cannot run {argv[0]}: {exc.strerror}") from exc

    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        _kill_tree(proc)

    timer = threading.Timer(timeout, expire) if timeout is not None else None
    last: deque[str] = deque(maxlen=20)
    try:
        if timer is not None:
            timer.start()
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\r\n")
            if line.strip():
                last.append(line)
            log(line)
        code = proc.wait()
    except BaseException:
        _kill_tree(proc)
        proc.wait()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if proc.stdout is not None:
            proc.stdout.close()

    if timed_out.is_set():
        raise BuildFailed(f"{what} timed out after {timeout:g} s")
    if check and code != 0:
        reason = f"{what} failed (exit code {code})"
        raise BuildFailed(f"{reason}: {last[-1].strip()}" if last else reason)
    return code


def spawn(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    env: Mapping[str, str],
    output: Path,
    pass_fds: Sequence[int] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-lived process in a new session, appending its output to ``output``.

    ``env`` is the whole environment of the process: nothing is inherited.
    """
    argv = [os.fspath(arg) for arg in args]
    # Only the names of the variables: an instance's values are the service's business.
    logger.info("starting %s in %s with %s", describe(argv), cwd, ", ".join(sorted(env)))
    sink: IO[bytes]
    try:
        with open(output, "ab") as sink:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                pass_fds=tuple(pass_fds),
                preexec_fn=preexec_fn,
                start_new_session=True,
            )
    except OSError as exc:
        raise RunnerError(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
    return proc
