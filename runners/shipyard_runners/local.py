"""The local runner: virtualenvs and gunicorn processes on this machine (the default).

Layout under ``root``::

    envs/<key>/                            one virtualenv per (python, packages, runtime)
    artifacts/<service id>/<gen>-<rand>/   an immutable copy of one generation's code
    artifacts/<service id>/<gen>-<rand>.json   what it was built from, and on which env
    instances/<instance id>.log            an instance's stdout and stderr, appended

An instance is ``python -m gunicorn`` run in the artifact directory from the artifact's
environment, in a session of its own (a Ctrl-C of the control plane does not reach it; the
control plane stops instances itself). Its listening socket is bound to port 0 on loopback
here and handed to gunicorn as ``fd://N``, so no other process can take the port between
choosing and binding it. Its environment is built from scratch: the ``env`` the caller
gives, a few harmless variables (PATH, HOME, locale, TZ, TMPDIR) and the ``SHIPYARD_*``
ones, never the control plane's own variables and secrets.

Memory: every process that runs the service's code gets ``RLIMIT_AS`` = the profile's
memory (see ``service_code``, which says what that limit is and is not).

GPUs: a profile's GPUs are looked for on this machine (see ``gpus``) at each build, which
logs what was found, and at each start, which refuses a profile whose GPUs are missing or,
with ``allow_cpu_fallback``, starts it on CPU (no ``CUDA_VISIBLE_DEVICES``) and says so in
the instance's log and its handle's notes.

Sandbox: the import check, the route listing and the instances run in a bubblewrap
sandbox (see ``sandbox`` and ``service_code``); ``sandbox="none"`` runs them with this
process's rights.

The runner never restarts a process: ``health`` says ``exited`` and the supervisor calls
``stop`` (which also kills workers a killed master left behind) and ``start`` again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import psutil

from shipyard_runners import processes
from shipyard_runners.commands import spawn
from shipyard_runners.gpu_memory import GpuMemoryMeter
from shipyard_runners.gpus import GpuPlan, gpu_plan, gpus_on_this_machine
from shipyard_runners.health_probes import HealthProbes
from shipyard_runners.listeners import set_no_delay
from shipyard_runners.protocol import (
    NO_SECRETS,
    AppRoutes,
    Artifact,
    BuildSpec,
    InstanceHandle,
    LogSink,
    Profile,
    State,
    Usage,
)
from shipyard_runners.sandbox import Sandbox, open_to_sandbox
from shipyard_runners.service_code import ServiceCode, memory_limit
from shipyard_runners.venvs import EnvironmentStore, Installer
from shipyard_sdk.errors import BuildFailed, RunnerError

__all__ = ["CHECK_TIMEOUT", "LocalRunner"]

logger = logging.getLogger(__name__)

WSGI_APP = "shipyard_sdk.runtime.wsgi:application"
INSTANCE_THREADS = 4
CHECK_TIMEOUT = 300.0
"""The longest the import check, and then the route listing, of a build may run."""
INSTANCE_KEEP_ALIVE = 75
GUNICORN_CONFIG = "python:shipyard_sdk.runtime.gunicorn_conf"
REAP_WAIT = 5.0
"""How long an instance's bwrap may outlive its stopped master before it is killed."""
MAX_ROUTE_LIST_BYTES = 16 * 1024 * 1024
"""A route list past this is refused: the service wrote it, the control plane reads it."""
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _safe(kind: str, value: str) -> str:
    """``value`` if it can be used as one path component."""
    if not _SAFE_NAME.match(value) or ".." in value:
        raise RunnerError(f"{kind} {value!r} cannot name a directory")
    return value


@dataclasses.dataclass(frozen=True)
class _Child:
    """An instance this runner started: its process (the master, or the bwrap around it)
    and the master's pid."""

    proc: subprocess.Popen[bytes]
    master_pid: int

    def reap(self) -> None:
        """Wait for the process once its master is stopped; a bwrap that outlives it by
        more than a moment is killed, so none is left unreaped."""
        try:
            self.proc.wait(timeout=REAP_WAIT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                self.proc.kill()
            self.proc.wait()


class LocalRunner(ServiceCode):
    """Builds generations into virtualenvs and runs them as gunicorn processes."""

    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        installer: Installer = "auto",
        host: str = "127.0.0.1",
        request_timeout: float = 120.0,
        graceful_timeout: float = 30.0,
        check_timeout: float = CHECK_TIMEOUT,
        health_timeout: float = 2.0,
        find_gpus: Callable[[], str] = gpus_on_this_machine,
        sandbox: Sandbox | Literal["auto", "none"] = "auto",
        bytecode_store: Path | None = None,
    ) -> None:
        self.root = Path(root).absolute()
        self.envs = EnvironmentStore(self.root / "envs", installer, bytecode_store)
        self.host = host
        self.request_timeout = request_timeout
        self.graceful_timeout = graceful_timeout
        self.check_timeout = check_timeout
        self.find_gpus = find_gpus
        """Describes this machine's GPUs, "" for none (see ``gpus``)."""
        self._lock = threading.Lock()
        self._children: dict[str, _Child] = {}
        self._probes = HealthProbes(health_timeout)
        self._cpu = processes.CpuMeter()
        self._gpu_memory = GpuMemoryMeter()
        self._sandbox_choice = sandbox
        self._sandbox: Sandbox | None = None

    # -- builds ---------------------------------------------------------------------------

    def build(self, spec: BuildSpec, log: LogSink) -> Artifact:
        service_dir = self.root / "artifacts" / _safe("service id", spec.service_id)
        name = f"{_safe('generation', spec.generation)}-{uuid.uuid4().hex[:8]}"
        if not spec.code_dir.is_dir():
            raise BuildFailed(f"the code directory {spec.code_dir} does not exist")
        log(f"building {spec.service_name} {spec.generation} on the local runner")
        gpus = self._gpu_plan(spec.profile)
        if gpus.note:
            log(gpus.note)
        env_key = self.envs.ensure(spec.python, spec.packages, log)

        service_dir.mkdir(parents=True, exist_ok=True)
        staging = service_dir / f".tmp-{name}"
        target = service_dir / name
        try:
            try:
                shutil.copytree(
                    spec.code_dir, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            except OSError as exc:
                raise BuildFailed(f"cannot copy the code of {spec.generation}: {exc}") from exc
            open_to_sandbox(staging)
            log("checking that the app imports" + self._sandbox_note())
            # The check lists the routes too (for ``routes``): the app is imported once.
            with tempfile.TemporaryDirectory(prefix="shipyard-check-") as scratch:
                listing = Path(scratch) / "routes.json"
                if self.sandbox is not None:
                    self.sandbox.give_to_sandbox(Path(scratch))
                self._run_service_code(
                    [self.envs.python(env_key), "-m", "shipyard_sdk.runtime.check",
                     "--routes", listing],
                    log,
                    what="importing the app",
                    code=staging,
                    env_key=env_key,
                    values={**spec.variables, "SHIPYARD_GENERATION": spec.generation},
                    hidden=spec.secrets,
                    memory_bytes=spec.profile.memory_bytes,
                    gpus=gpus.gpus,
                    writable=(Path(scratch),),
                )
                with contextlib.suppress(OSError, ValueError):  # else ``routes`` lists anew
                    self._routes_path(target).write_bytes(_route_list_bytes(listing))
            metadata = {
                "service_id": spec.service_id,
                "service_name": spec.service_name,
                "generation": spec.generation,
                "env_key": env_key,
                "python": spec.python,
                "built_at": time.time(),
                # What the route listing runs with, as the import check did.
                "memory_bytes": int(spec.profile.memory_bytes),
                "gpus": gpus.gpus,
            }
            self._metadata_path(target).write_text(json.dumps(metadata, indent=2) + "\n")
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            self._metadata_path(target).unlink(missing_ok=True)
            self._routes_path(target).unlink(missing_ok=True)
            raise
        log(f"built {spec.service_name} {spec.generation} as {name}")
        return Artifact(
            key=f"{spec.service_id}-{name}", env_key=env_key, path=str(target), runner=self.name
        )

    def routes(self, artifact: Artifact, log: LogSink) -> AppRoutes:
        """The app's routes, as its build's import check listed them; else listed with
        ``shipyard_sdk.runtime.routes``, run like the import check: the artifact's
        environment, its code directory, nothing of ours in the env."""
        if not self.exists(artifact):
            raise RunnerError(f"artifact {artifact.key} is gone; build it again")
        listed_by_build = self._routes_path(Path(artifact.path))
        if listed_by_build.is_file():
            return _read_route_list(listed_by_build)
        metadata = self._metadata(artifact)
        with tempfile.TemporaryDirectory(prefix="shipyard-routes-") as scratch:
            output = Path(scratch) / "routes.json"
            if self.sandbox is not None:
                self.sandbox.give_to_sandbox(Path(scratch))
            self._run_service_code(
                [self.envs.python(artifact.env_key), "-m", "shipyard_sdk.runtime.routes", output],
                log,
                what="listing the app's routes",
                code=Path(artifact.path),
                env_key=artifact.env_key,
                values={"SHIPYARD_GENERATION": str(metadata["generation"])},
                memory_bytes=int(metadata.get("memory_bytes", 0)),
                gpus=int(metadata.get("gpus", 0)),
                writable=(Path(scratch),),
            )
            return _read_route_list(output)

    def exists(self, artifact: Artifact) -> bool:
        self._check_runner(artifact.runner)
        path = Path(artifact.path)
        return (
            path.is_dir()
            and self._metadata_path(path).is_file()
            and self.envs.ready(artifact.env_key)
        )

    def remove(self, artifact: Artifact) -> None:
        """Delete the artifact's code copy and metadata, and its environment unless another
        artifact here runs on it. Stop its instances first, and build nothing meanwhile (a
        build may be about to use the environment)."""
        self._check_runner(artifact.runner)
        path = Path(artifact.path)
        if path.parent.parent != self.root / "artifacts":
            raise RunnerError(f"{artifact.path} is not an artifact of this runner")
        # The metadata goes last: until it is gone, the environment counts as used.
        shutil.rmtree(path, ignore_errors=True)
        self._routes_path(path).unlink(missing_ok=True)
        self._metadata_path(path).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the service's folder, once its last one went
            path.parent.rmdir()
        if not self._environment_in_use(artifact.env_key):
            self.envs.remove(artifact.env_key)

    def discard_unfinished(self) -> None:
        """Remove the staging folders of artifacts and environments that builds cut short
        by a crash left (``.tmp-*``); built ones are never touched."""
        leftovers = [*(self.root / "artifacts").glob("*/.tmp-*"),
                     *self.envs.root.glob(".tmp-*")]
        for leftover in leftovers:
            logger.info("removing %s, left by a build cut short", leftover)
            shutil.rmtree(leftover, ignore_errors=True)

    def _environment_in_use(self, env_key: str) -> bool:
        """Whether an artifact here runs on environment ``env_key``."""
        for metadata in (self.root / "artifacts").glob("*/*.json"):
            try:
                if json.loads(metadata.read_text())["env_key"] == env_key:
                    return True
            except (OSError, ValueError, KeyError, TypeError):
                return True  # unreadable: it may be this one's
        return False

    # -- instances ------------------------------------------------------------------------

    def start(
        self, artifact: Artifact, profile: Profile, env: Mapping[str, str],
        secrets: Mapping[str, str] = NO_SECRETS,
    ) -> InstanceHandle:
        if not self.exists(artifact):
            raise RunnerError(f"artifact {artifact.key} is gone; build it again")
        metadata = self._metadata(artifact)
        gpus = self._gpu_plan(profile)
        gpus.check()
        notes = (gpus.note,) if gpus.on_cpu else ()
        instance_id = uuid.uuid4().hex
        workers = max(1, int(profile.cpu))
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((self.host, 0))
            set_no_delay(listener)
            port = listener.getsockname()[1]
            command = [
                self.envs.python(artifact.env_key), "-m", "gunicorn",
                "--config", GUNICORN_CONFIG,
                "--bind", f"fd://{listener.fileno()}",
                "--workers", str(workers),
                # Threaded workers keep connections alive, so the gateway's pooled
                # connections are reused, and a slow request does not hold a whole worker
                # (health checks still answer).
                "--worker-class", "gthread",
                "--threads", str(INSTANCE_THREADS),
                "--keep-alive", str(INSTANCE_KEEP_ALIVE),
                "--timeout", str(round(self.request_timeout)),
                "--graceful-timeout", str(round(self.graceful_timeout)),
                WSGI_APP,
            ]
            instance_env = self._service_env(artifact.env_key, {
                **secrets,
                **env,
                "SHIPYARD_GENERATION": str(metadata["generation"]),
                "SHIPYARD_SERVICE_ID": str(metadata["service_id"]),
                processes.INSTANCE_VAR: instance_id,
                "PYTHONUNBUFFERED": "1",
                "CUDA_VISIBLE_DEVICES": ",".join(str(device) for device in range(gpus.gpus)),
            })
            log_path = self._log_path(instance_id)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a", encoding="utf-8") as header:
                header.write(
                    f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} shipyard: starting instance "
                    f"{instance_id} of {artifact.key} on {self.host}:{port}\n"
                    + "".join(f"shipyard: {note}\n" for note in notes)
                )
            started_at = time.time()
            sandbox = self.sandbox
            if sandbox is not None:
                command = self._sandboxed(sandbox, command, Path(artifact.path),
                                          artifact.env_key, gpus=gpus.gpus > 0)
                instance_env = sandbox.environment(instance_env)
            proc = spawn(
                command,
                cwd=Path(artifact.path),
                env=instance_env,
                output=log_path,
                pass_fds=[listener.fileno()],
                preexec_fn=memory_limit(profile.memory_bytes, gpus.gpus),
            )
        except OSError as exc:
            raise RunnerError(f"cannot start an instance of {artifact.key}: {exc}") from exc
        finally:
            listener.close()
        master_pid = proc.pid if sandbox is None else self._sandboxed_master(proc, instance_id)
        with self._lock:
            self._children[instance_id] = _Child(proc, master_pid)
        return InstanceHandle(
            instance_id=instance_id,
            artifact_key=artifact.key,
            host=self.host,
            port=port,
            pid=master_pid,
            runner=self.name,
            started_at=started_at,
            notes=notes,
        )

    def health(self, handle: InstanceHandle) -> State:
        if not self._alive(handle):
            return State.EXITED
        return self._probes.state(handle)

    def stop(self, handle: InstanceHandle, grace: float = 30.0) -> None:
        self._check_runner(handle.runner)
        with self._lock:
            child = self._children.get(handle.instance_id)
            # The pid recorded at start, not the process: the master may be gone already.
            if child is not None and child.master_pid == handle.pid:
                del self._children[handle.instance_id]
            else:
                child = None  # a handle whose pid is not that instance's
            self._probes.forget(handle.instance_id)
        self._cpu.forget(handle.instance_id)
        if handle.pid is not None:
            processes.terminate(handle.pid, handle.instance_id, grace)
        if child is not None:
            child.reap()

    def adopt(self, handle: InstanceHandle) -> bool:
        if handle.runner != self.name:
            return False
        return processes.find_master(handle.pid, handle.instance_id) is not None

    def logs(self, handle: InstanceHandle, tail: int | None = None) -> str:
        self._check_runner(handle.runner)
        return processes.tail(self._log_path(handle.instance_id), tail)

    def usage(self, handle: InstanceHandle) -> Usage:
        self._check_runner(handle.runner)
        master = processes.find_master(handle.pid, handle.instance_id)
        if master is None:
            return Usage(cpu_percent=0.0, memory_bytes=0)
        try:
            return Usage(
                cpu_percent=self._cpu.read(handle.instance_id, master),
                memory_bytes=processes.memory_bytes(master),
                gpu_memory_bytes=self._gpu_memory.held_by(processes.tree_pids(master)),
            )
        except psutil.NoSuchProcess:
            return Usage(cpu_percent=0.0, memory_bytes=0)

    # -- helpers --------------------------------------------------------------------------

    def _alive(self, handle: InstanceHandle) -> bool:
        self._check_runner(handle.runner)
        with self._lock:
            child = self._children.get(handle.instance_id)
        proc = child.proc if child is not None else None
        if proc is not None and proc.poll() is not None:
            return False  # the master, or the bwrap that ends with it, has exited
        if proc is not None and proc.pid == handle.pid:
            return True
        # Sandboxed (bwrap may outlive its master by a moment), or adopted.
        return processes.find_master(handle.pid, handle.instance_id) is not None

    def _gpu_plan(self, profile: Profile) -> GpuPlan:
        if profile.gpu <= 0:
            return GpuPlan(gpus=0)
        return gpu_plan(profile, self.find_gpus(), "this machine")

    def _check_runner(self, runner: str) -> None:
        if runner != self.name:
            raise RunnerError(f"a {runner!r} artifact or instance given to the local runner")

    def _metadata_path(self, artifact_dir: Path) -> Path:
        return artifact_dir.with_name(artifact_dir.name + ".json")

    def _routes_path(self, artifact_dir: Path) -> Path:
        """The routes its build's import check listed (beside the code, out of the
        sandbox's sight: the check wrote them to a scratch folder). Not ``*.json``: that
        is an artifact's metadata."""
        return artifact_dir.with_name(artifact_dir.name + ".routes")

    def _metadata(self, artifact: Artifact) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._metadata_path(Path(artifact.path)).read_text())
        except (OSError, ValueError) as exc:
            raise RunnerError(f"artifact {artifact.key} is unreadable: {exc}") from exc
        return data

    def _log_path(self, instance_id: str) -> Path:
        return self.root / "instances" / f"{_safe('instance id', instance_id)}.log"


def _route_list_bytes(path: Path) -> bytes:
    """The route list the service's code wrote at ``path``: a plain file (not a link to
    one of ours, nor a FIFO) within the size limit; else ``OSError`` or ``ValueError``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as listing:
        found = os.fstat(listing.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise ValueError("it is not a plain file")
        if found.st_size > MAX_ROUTE_LIST_BYTES:
            raise ValueError(f"it is over {MAX_ROUTE_LIST_BYTES} bytes")
        return listing.read(MAX_ROUTE_LIST_BYTES + 1)


def _read_route_list(path: Path) -> AppRoutes:
    """A route list ``shipyard_sdk.runtime.routes`` (or the check) wrote; the service's code
    wrote it, so it is checked before use."""
    try:
        return AppRoutes.from_dict(json.loads(_route_list_bytes(path).decode("utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BuildFailed(f"the app's route list is unreadable: {exc}") from exc
