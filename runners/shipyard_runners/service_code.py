"""How the local runner runs a service's own code: in its sandbox (made for this machine
on first use, unless given or ``none``), with an environment built from scratch (a few
harmless variables and the ``SHIPYARD_*`` ones, never the control plane's), with the
profile's memory limit (``RLIMIT_AS``, set between fork and exec), and, for an instance,
how the gunicorn master inside its sandbox is found.

Memory: each process of an instance (the master and every worker), of an import check
and of a route listing gets ``RLIMIT_AS`` = ``profile.memory_bytes``, set with
``setrlimit`` between fork and exec. It caps virtual
address space, not resident memory: an allocation past it fails with ``MemoryError``
inside the request that made it, and the worker carries on. It is per process, so an
instance with N workers may use up to N + 1 times the profile's memory; and address space
runs ahead of RSS (thread stacks, arenas, mapped files), so a profile must leave room. It
is not set for an instance on GPUs, because the CUDA runtime reserves far more address
space than any memory limit. Cgroups would limit the instance as a whole, but here they
are v1 and not delegated to this user, so the runner cannot create one; the docker runner
can.

``ServiceCode`` is a part of ``LocalRunner`` (``shipyard_runners.local``), kept in a
module of its own; it holds no state of its own, only behaviour over the runner's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import resource
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

import psutil

from shipyard_runners.commands import run
from shipyard_runners.protocol import LogSink
from shipyard_runners.sandbox import Sandbox
from shipyard_runners.venvs import EnvironmentStore
from shipyard_sdk.errors import RunnerError

__all__ = ["MASTER_WAIT", "ServiceCode", "memory_limit"]

_PASSED_THROUGH = ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
MASTER_WAIT = 10.0
"""How long bwrap may take to start an instance's master before the start fails."""


def memory_limit(memory_bytes: int, gpus: int) -> Callable[[], None] | None:
    if memory_bytes <= 0 or gpus > 0:
        return None
    limit = int(memory_bytes)
    # A partial of a C function: the child runs no Python bytecode between fork and exec.
    return functools.partial(resource.setrlimit, resource.RLIMIT_AS, (limit, limit))


class ServiceCode:
    """The service-code half of ``LocalRunner`` (see the module)."""

    root: Path
    envs: EnvironmentStore
    check_timeout: float
    _sandbox_choice: Sandbox | Literal["auto", "none"]
    _sandbox: Sandbox | None
    _log_path: Callable[[str], Path]

    @property
    def sandbox(self) -> Sandbox | None:
        """The sandbox service code runs in (None: unsandboxed). This runner's root is
        always among what it hides; "auto" makes one for this machine on first use."""
        if self._sandbox_choice == "none":
            return None
        if self._sandbox is None:
            if self._sandbox_choice == "auto":
                made = Sandbox.for_this_machine(hidden=[self.root])
            else:
                made = self._sandbox_choice
            self._sandbox = dataclasses.replace(made, hidden=(*made.hidden, self.root))
        return self._sandbox

    def _run_service_code(
        self, argv: list[str | os.PathLike[str]], log: LogSink, *, what: str, code: Path,
        env_key: str, values: Mapping[str, str], memory_bytes: int, gpus: int,
        writable: tuple[Path, ...] = (), hidden: Mapping[str, str] | None = None,
    ) -> None:
        """Run a build step of the service's own code (its import check, its route
        listing): in ``code``, sandboxed, with the profile's memory limit. ``values`` are
        shown in the build log, ``hidden`` ones (its secrets) are not."""
        env = self._service_env(env_key, {**(hidden or {}), **values})
        sandbox = self.sandbox
        if sandbox is not None:
            argv = list(self._sandboxed(sandbox, argv, code, env_key, gpus=gpus > 0,
                                        writable=writable, die_with_parent=True))
            env = sandbox.environment(env)
        run(
            argv, log, what=what, cwd=code, extra_env=env, inherit_env=False,
            shown_env=tuple(values), timeout=self.check_timeout,
            preexec_fn=memory_limit(memory_bytes, gpus),
        )

    def _sandboxed(
        self, sandbox: Sandbox, argv: list[str | os.PathLike[str]], code: Path, env_key: str,
        *, gpus: bool, writable: tuple[Path, ...] = (), die_with_parent: bool = False,
    ) -> list[str]:
        """``argv`` in a sandbox that sees the code, its environment and the Python this
        environment was made from (wherever it is installed), and nothing else of ours."""
        interpreter = self.envs.python(env_key).resolve()
        return sandbox.command(
            argv, cwd=code,
            readable=(interpreter.parent.parent, self.envs.path(env_key), code),
            writable=writable, gpus=gpus, die_with_parent=die_with_parent,
        )

    def _sandboxed_master(self, proc: subprocess.Popen[bytes], instance_id: str) -> int:
        """The pid of the gunicorn master bwrap starts: its only child."""
        deadline = time.monotonic() + MASTER_WAIT
        while time.monotonic() < deadline:
            try:
                children = psutil.Process(proc.pid).children()
            except psutil.NoSuchProcess:
                children = []
            if children:
                return children[0].pid
            if proc.poll() is not None:
                raise RunnerError(
                    f"the sandbox of instance {instance_id} exited with {proc.returncode} "
                    f"before starting it; its log: {self._log_path(instance_id)}"
                )
            time.sleep(0.005)
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
        raise RunnerError(f"the sandbox of instance {instance_id} did not start it within "
                          f"{MASTER_WAIT:g} s")

    def _sandbox_note(self) -> str:
        if self.sandbox is None:
            return " (unsandboxed: sandbox is none)"
        return " in its sandbox"

    def _service_env(self, env_key: str, values: Mapping[str, str]) -> dict[str, str]:
        """The whole environment of a service process: nothing of ours leaks in."""
        env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
        env["LANG"] = env.get("LANG", "C.UTF-8")
        env["PATH"] = os.pathsep.join(
            [str(self.envs.python(env_key).parent), os.environ.get("PATH", os.defpath)]
        )
        # The artifact is immutable: no __pycache__ written into it.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(values)
        return env

