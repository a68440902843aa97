"""Virtualenvs for the local runner: one per distinct (Python, packages, runtime).

An environment's key hashes the Python version, the service's normalized package list,
the runtime requirements (flask, gunicorn) and the version of the ``shipyard_sdk`` files
copied into it, so a code-only redeploy finds its environment ready and a changed runtime
gets a new one. Normalizing makes the key independent of the order, case, duplicates and
spelling of requirements (``Scikit_Learn >= 1.3`` is ``scikit-learn>=1.3``); a different
version range is a different environment.

Environments are built with ``uv`` (``uv venv --relocatable`` and ``uv pip install``, with
uv's own cache), or with ``python -m venv`` and pip when uv cannot run. A build happens in
a temporary directory beside its target, under a file lock per key, and is renamed into
place only when complete, with a marker file recording what is in it: a half-built
environment is never used and two builds of one key never mix. Installers run with a
short list of the control plane's variables (paths, locale, proxies, certificates,
``UV_*`` and ``PIP_*``), since building an sdist runs the package's code. Only the runtime
is installed besides the service's packages; the ``shipyard_sdk`` package is copied in
from this installation, none of the control plane's dependencies.

Instances never write bytecode, so every module gets its pyc at build time, and most come
from the bytecode store that environments share (``<root>/.bytecode`` unless given; the
control plane gives ``user_bytecode_store``, shared by every home of the user): the
installers compile nothing, and ``shipyard_runners.bytecode``, run by the new
environment's interpreter, links the pyc of every source file already compiled for an
earlier environment and compiles only the others (see there). The build log and the
marker say how many were reused and compiled.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

import shipyard_sdk
from shipyard_runners import bytecode
from shipyard_runners.commands import run
from shipyard_runners.protocol import LogSink
from shipyard_runners.sandbox import open_to_sandbox
from shipyard_sdk.errors import BuildFailed, InvalidPackageList, RunnerError

__all__ = [
    "BYTECODE",
    "INSTALL_TIMEOUT",
    "RUNTIME_REQUIREMENTS",
    "EnvironmentStore",
    "distributions",
    "env_key",
    "normalize_packages",
    "sdk_version",
]

logger = logging.getLogger(__name__)

# flask and gunicorn serve the app; requests carries the SDK's calls to other services.
RUNTIME_REQUIREMENTS: tuple[str, ...] = (
    "flask>=3.0,<4", "gunicorn>=22,<28", "requests>=2.31,<3", "requests-aws4auth>=1.4.0,<2",
)
"""What every service runs on besides its own packages (gunicorn ≥ 20 binds ``fd://``;
the SDK signs its calls to other services with requests-aws4auth)."""

MARKER = "shipyard-env.json"
BYTECODE = ".bytecode"
"""The bytecode store's directory under the environments' root, unless given."""

_LAYOUT = 1  # bump when the way an environment is put together changes
_PYTHON_VERSION = re.compile(r"^3\.\d{1,2}$")
_ENV_KEY = re.compile(r"^[0-9a-f]{16}$")
INSTALL_TIMEOUT = 30 * 60.0

Installer = Literal["auto", "uv", "pip"]

_INSTALLER_VARIABLES = frozenset({
    "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
    "no_proxy", "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "NETRC",
    "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS",
})
_INSTALLER_PREFIXES = ("UV_", "PIP_")


def user_bytecode_store(environ: Mapping[str, str] = os.environ) -> Path:
    """The bytecode store of this user's environments, whatever their home or root:
    ``$XDG_CACHE_HOME/shipyard/bytecode``, else ``~/.cache/shipyard/bytecode``, where uv
    keeps its cache too. One store serves every control plane and ``shipyard test`` of the
    user: its entries are named by the sha256 of their source and checked against it when
    linked, so sharing them is as safe as sharing uv's cache, and an environment of
    scikit-learn and pandas (4,000 files, 11 s of CPU to compile) is built in a second
    once any home has compiled them. Deleting it only costs the next builds that time."""
    cache, home = environ.get("XDG_CACHE_HOME", ""), environ.get("HOME", "")
    if not os.path.isabs(cache):  # the XDG rule: a relative path is ignored
        cache = str((Path(home) if os.path.isabs(home) else Path.home()) / ".cache")
    return Path(cache) / "shipyard" / "bytecode"


def normalize_packages(packages: Iterable[str]) -> tuple[str, ...]:
    """The canonical, sorted, de-duplicated spelling of a package list."""
    normalized: set[str] = set()
    for text in packages:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise InvalidPackageList(f"{text!r} is not a valid requirement: {exc}") from exc
        spelled = str(canonicalize_name(requirement.name))
        if requirement.extras:
            extras = ",".join(sorted(canonicalize_name(extra) for extra in requirement.extras))
            spelled += f"[{extras}]"
        if requirement.url:
            spelled += f" @ {requirement.url}"
        else:
            spelled += ",".join(sorted(str(spec) for spec in requirement.specifier))
        if requirement.marker is not None:
            spelled += f" ; {requirement.marker}"
        normalized.add(spelled)
    return tuple(sorted(normalized))


def _sdk_root() -> Path:
    return Path(shipyard_sdk.__file__).resolve().parent


def _sdk_files(root: Path) -> list[Path]:
    return sorted(
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def sdk_version() -> str:
    """A hash of the ``shipyard_sdk`` files that are copied into every environment."""
    root = _sdk_root()
    digest = hashlib.sha256()
    for relative in _sdk_files(root):
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update((root / relative).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _key_inputs(python: str, packages: Iterable[str]) -> dict[str, Any]:
    return {
        "layout": _LAYOUT,
        "python": python,
        "packages": list(normalize_packages(packages)),
        "runtime": list(RUNTIME_REQUIREMENTS),
        "sdk": sdk_version(),
    }


def env_key(python: str, packages: Iterable[str]) -> str:
    """The key of the environment for ``python`` and ``packages``."""
    inputs = json.dumps(_key_inputs(python, packages), sort_keys=True)
    return hashlib.sha256(inputs.encode()).hexdigest()[:16]


def _installer_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name in _INSTALLER_VARIABLES or name.startswith(_INSTALLER_PREFIXES)
    }


def _install_step(args: list[str | Path], log: LogSink, what: str, cwd: Path,
                  timeout: float | None = None) -> None:
    run(args, log, what=what, cwd=cwd, extra_env=_installer_env(), inherit_env=False,
        shown_env=(), timeout=timeout)


def _interpreter(version: str) -> str | None:
    if not _PYTHON_VERSION.match(version):
        raise BuildFailed(f"{version!r} is not a Python version such as 3.11")
    if version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return sys.executable
    return shutil.which(f"python{version}")


def _site_packages(env: Path) -> Path:
    found = sorted(env.glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise BuildFailed(f"cannot find site-packages in environment {env.name}")
    return found[0]


def distributions(env: Path) -> dict[str, str]:
    """Name → version of what is installed in ``env``."""
    installed: dict[str, str] = {}
    for info in _site_packages(env).glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        installed[str(canonicalize_name(name))] = version
    return dict(sorted(installed.items()))


class _Backend(Protocol):
    name: str

    def create(self, version: str, target: Path, log: LogSink) -> None: ...

    def install(self, target: Path, requirements: list[str], log: LogSink) -> None: ...


@dataclass(frozen=True)
class _Uv:
    binary: str
    name: str = "uv"

    def create(self, version: str, target: Path, log: LogSink) -> None:
        interpreter = _interpreter(version)
        python = ["--python", interpreter] if interpreter else [
            "--python", version, "--python-preference", "only-system"
        ]
        # Run from the envs directory so that uv finds no project or uv.toml of the caller.
        _install_step([self.binary, "venv", "--relocatable", *python, target], log,
                      "creating the environment", target.parent)

    def install(self, target: Path, requirements: list[str], log: LogSink) -> None:
        _install_step([self.binary, "pip", "install", "--python", target / "bin" / "python",
                       *requirements], log,
                      "installing packages", target.parent, INSTALL_TIMEOUT)


@dataclass(frozen=True)
class _Pip:
    name: str = "pip"

    def create(self, version: str, target: Path, log: LogSink) -> None:
        interpreter = _interpreter(version)
        if interpreter is None:
            raise BuildFailed(f"no Python {version} interpreter on this machine")
        _install_step([interpreter, "-m", "venv", target], log,
                      "creating the environment", target.parent)

    def install(self, target: Path, requirements: list[str], log: LogSink) -> None:
        _install_step([target / "bin" / "python", "-m", "pip", "install", "--no-input",
                       "--disable-pip-version-check", "--no-compile", *requirements], log,
                      "installing packages", target.parent, INSTALL_TIMEOUT)


def _find_uv() -> str | None:
    try:
        import uv

        binary: str | None = uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        binary = shutil.which("uv")
    if binary is None:
        return None
    try:
        code = run([binary, "--version"], logger.debug, what="uv --version", check=False,
                   timeout=30)
    except BuildFailed:
        code = -1
    if code != 0:
        logger.warning("uv at %s does not run; building environments with pip", binary)
        return None
    return binary


def _select_backend(preference: Installer) -> _Backend:
    if preference == "pip":
        return _Pip()
    binary = _find_uv()
    if binary is not None:
        return _Uv(binary)
    if preference == "uv":
        raise BuildFailed("uv is not installed or does not run")
    return _Pip()


@contextlib.contextmanager
def _locked(path: Path, log: LogSink, key: str) -> Iterator[None]:
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"environment {key}: waiting for another build of it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EnvironmentStore:
    """The local runner's environments under ``root``, one directory per key."""

    def __init__(self, root: Path, installer: Installer = "auto",
                 bytecode_store: Path | None = None) -> None:
        self.root = root
        self.bytecode_store = bytecode_store if bytecode_store is not None else root / BYTECODE
        self._preference: Installer = installer
        self._backend: _Backend | None = None

    def path(self, key: str) -> Path:
        return self.root / key

    def python(self, key: str) -> Path:
        return self.path(key) / "bin" / "python"

    def ready(self, key: str) -> bool:
        """Whether environment ``key`` is complete and its interpreter still runs."""
        env = self.path(key)
        return (env / MARKER).is_file() and self.python(key).exists()

    def ensure(self, python: str, packages: Iterable[str], log: LogSink) -> str:
        """The key of a ready environment for ``python`` and ``packages``, built if needed."""
        try:
            packages = normalize_packages(packages)
        except InvalidPackageList as exc:
            raise BuildFailed(exc.message) from exc
        key = env_key(python, packages)
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / f".{key}.lock", log, key):
            if self.ready(key):
                log(f"environment {key}: reusing it, nothing to install")
                return key
            self._discard(key)
            log(f"environment {key}: creating it for Python {python} with "
                f"{', '.join(packages) or 'no extra packages'}")
            started = time.monotonic()
            staging = self.root / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
            try:
                self._build(staging, python, packages, log)
                staging.rename(self.path(key))
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            log(f"environment {key}: ready in {time.monotonic() - started:.1f} s")
        return key

    def remove(self, key: str) -> None:
        """Delete environment ``key`` (once nothing runs on it: the caller knows). A build
        of the same key waits for it, then makes it again."""
        if not _ENV_KEY.match(key):
            raise RunnerError(f"{key!r} is not an environment key")
        if not self.path(key).exists():
            return
        with _locked(self.root / f".{key}.lock", logger.info, key):
            self._discard(key)

    def _discard(self, key: str) -> None:
        """Remove what an interrupted build of ``key`` left; the caller holds its lock."""
        for leftover in self.root.glob(f".tmp-{key}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        target = self.path(key)
        if target.exists():
            trash = self.root / f".tmp-{key}-broken"
            target.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)

    def _build(self, staging: Path, python: str, packages: tuple[str, ...], log: LogSink) -> None:
        if self._backend is None:
            self._backend = _select_backend(self._preference)
        backend = self._backend
        backend.create(python, staging, log)
        backend.install(staging, [*RUNTIME_REQUIREMENTS, *packages], log)
        self._copy_sdk(staging, log)
        compiled = self._compile(staging, log)
        open_to_sandbox(staging)  # the sandbox's own user runs it
        marker = {
            **_key_inputs(python, packages),
            "key": env_key(python, packages),
            "installer": backend.name,
            "created_at": time.time(),
            "distributions": distributions(staging),
            "bytecode": compiled,
        }
        (staging / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")

    def _copy_sdk(self, staging: Path, log: LogSink) -> None:
        source = _sdk_root()
        target = _site_packages(staging) / "shipyard_sdk"
        log(f"copying the shipyard_sdk runtime {sdk_version()} into the environment")
        for relative in _sdk_files(source):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, target / relative)

    def _compile(self, staging: Path, log: LogSink) -> dict[str, int]:
        """Give every module of ``staging`` its pyc, reusing the store's; what was done."""
        summary_file = staging / ".bytecode-summary.json"
        # -I -S: the store's script runs on the standard library alone, nothing installed.
        _install_step([staging / "bin" / "python", "-I", "-S", bytecode.SCRIPT,
                       "--store", self.bytecode_store, "--summary", summary_file,
                       _site_packages(staging)], log, "compiling bytecode", staging,
                      INSTALL_TIMEOUT)
        try:
            summary = json.loads(summary_file.read_text())
            summary_file.unlink()
            return {"files": summary["files"], "reused": summary["reused"],
                    "compiled": summary["compiled"], "not_compilable": len(summary["failed"])}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BuildFailed(f"compiling bytecode left no summary: {exc}") from exc
