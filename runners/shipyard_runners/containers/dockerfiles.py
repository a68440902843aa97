"""The two Dockerfiles of a generation, and the build contexts they are built from.

An environment image holds a service's packages on a profile's base image: a virtualenv
with the runtime (flask, gunicorn, requests), the service's packages and the
``shipyard_sdk`` files of this installation, all compiled to bytecode, and a non-root
``shipyard`` user; none of the control plane's own packages. It is keyed on what goes in
(``environment_key``), so generations that differ only in code share it. A generation image
is its environment image plus the code, copied last, which is why a code-only change
rebuilds in seconds. The app is imported once the image is built, in a container of it
(see ``import_checks``); images built before that hold their route list in
``ROUTES_FILE``. Every instruction of the classic builder costs a container, so the code's
steps are few.

Builds compile bytecode because instances run with ``PYTHONDONTWRITEBYTECODE=1``: an image
is never written to, and what is not compiled at build time would be compiled at every
start. The machine's CA certificates go into the environment image for ``pip`` alone
(``PIP_CERT``), so that builds reach the package index through what this machine trusts.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from shipyard_runners.venvs import RUNTIME_REQUIREMENTS, _sdk_files, _sdk_root, sdk_version
from shipyard_sdk.errors import BuildFailed

__all__ = [
    "APP_DIR",
    "APP_PORT",
    "ROUTES_FILE",
    "SERVICE_USER",
    "VENV",
    "environment_context",
    "environment_dockerfile",
    "environment_key",
    "generation_context",
    "generation_dockerfile",
]

VENV = "/opt/shipyard/venv"
APP_DIR = "/srv/app"
APP_PORT = 8000
SERVICE_USER = "shipyard"
SERVICE_UID = 10001
CA_FILE = "/opt/shipyard/ca-certificates.crt"
ROUTES_FILE = "/opt/shipyard/routes/routes.json"
_LAYOUT = 3  # bump when the Dockerfiles change in a way the key does not see
_PYTHON_VERSION = re.compile(r"^3\.\d{1,2}$")
_IGNORED = ("__pycache__",)
_IGNORED_SUFFIXES = (".pyc", ".pyo")

# pip's own: the machine's index settings reach the build as build arguments (Docker passes
# the proxy variables by itself).
BUILD_ARGUMENTS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_DEFAULT_TIMEOUT")


def checked_python(python: str) -> str:
    if not _PYTHON_VERSION.match(python):
        raise BuildFailed(f"{python!r} is not a Python version such as 3.11")
    return python


def environment_key(base_image_id: str, python: str, packages: tuple[str, ...]) -> str:
    """The key of the environment image for these inputs (packages already normalized)."""
    inputs = {
        "layout": _LAYOUT,
        "base": base_image_id,
        "python": python,
        "packages": list(packages),
        "runtime": list(RUNTIME_REQUIREMENTS),
        "sdk": sdk_version(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _json(args: Iterable[str]) -> str:
    """An exec-form instruction argument: no shell quoting to get wrong."""
    return json.dumps(list(args))


def environment_dockerfile(base_image: str, python: str, labels: Mapping[str, str]) -> str:
    python = checked_python(python)
    site = f"{VENV}/lib/python{python}/site-packages"
    check_version = (
        "import sys; found = '%d.%d' % sys.version_info[:2]; "
        f"sys.exit(0 if found == '{python}' else "
        f"'the base image has Python ' + found + ', not {python}')"
    )
    pip = (
        f"{VENV}/bin/python -m pip install --no-input --disable-pip-version-check "
        "--no-cache-dir --progress-bar off -r /opt/shipyard/requirements.txt"
    )
    return "\n".join([
        f"FROM {base_image}",
        f"LABEL {_labels(labels)}",
        *(f"ARG {name}" for name in BUILD_ARGUMENTS),
        f"RUN {_json(['python3', '-c', check_version])}",
        f"RUN (id -u {SERVICE_USER} >/dev/null 2>&1 || useradd --uid {SERVICE_UID} "
        f"--user-group --create-home --shell /usr/sbin/nologin {SERVICE_USER}) && "
        f"mkdir -p {Path(ROUTES_FILE).parent} {APP_DIR} && "
        f"chown {SERVICE_USER}:{SERVICE_USER} {Path(ROUTES_FILE).parent} {APP_DIR}",
        f"COPY ca-certificates.crt {CA_FILE}",
        "COPY requirements.txt /opt/shipyard/requirements.txt",
        # pip compiles what it installs (PYTHONDONTWRITEBYTECODE is unset here).
        f"RUN python3 -m venv {VENV} && PIP_CERT={CA_FILE} {pip}",
        f"COPY shipyard_sdk {site}/shipyard_sdk",
        f"RUN {_json([f'{VENV}/bin/python', '-m', 'compileall', '-q', f'{site}/shipyard_sdk'])}",
        f"ENV PATH={VENV}/bin:/usr/local/bin:/usr/bin:/bin HOME=/home/{SERVICE_USER} "
        "LANG=C.UTF-8 PYTHONUNBUFFERED=1",
        f"WORKDIR {APP_DIR}",
        f"USER {SERVICE_USER}",
        "",
    ])


def generation_dockerfile(env_image: str, generation: str, labels: Mapping[str, str]) -> str:
    # The code is compiled as the service user, who owns it; the image is never written to
    # all the same (a container writes to a layer of its own). A file that does not compile
    # is reported by the import check, with the traceback a user knows, so compileall's
    # output and exit code are not the build's.
    python = f"{VENV}/bin/python"
    return "\n".join([
        f"FROM {env_image}",
        f"LABEL {_labels(labels)}",
        f"COPY --chown={SERVICE_USER}:{SERVICE_USER} app {APP_DIR}",
        f"ENV SHIPYARD_GENERATION={generation} PYTHONDONTWRITEBYTECODE=1",
        f"RUN {python} -m compileall -q {APP_DIR} >/dev/null 2>&1 || true",
        "",
    ])


def _labels(labels: Mapping[str, str]) -> str:
    return " ".join(f"{json.dumps(name)}={json.dumps(value)}" for name, value in labels.items())


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _add_tree(archive: tarfile.TarFile, source: Path, prefix: str,
              files: Iterable[Path] | None = None) -> None:
    """Add ``source`` as ``prefix``, files world-readable (the service runs as another
    user than the one who wrote them), directories searchable, nothing else."""
    chosen = sorted(files) if files is not None else sorted(
        path.relative_to(source) for path in source.rglob("*")
    )
    top = tarfile.TarInfo(prefix)
    top.type, top.mode = tarfile.DIRTYPE, 0o755
    archive.addfile(top)
    for relative in chosen:
        if set(relative.parts) & set(_IGNORED) or relative.suffix in _IGNORED_SUFFIXES:
            continue
        path = source / relative
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            continue  # archives were checked on upload; a build copies plain files only
        info = archive.gettarinfo(str(path), arcname=f"{prefix}/{relative.as_posix()}")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        if info.isdir():
            info.mode = 0o755
            archive.addfile(info)
        else:
            info.mode = 0o755 if info.mode & 0o111 else 0o644
            with open(path, "rb") as handle:
                archive.addfile(info, handle)


def _context(dockerfile: str, fill: Iterable[tuple[str, bytes]] = (),
             trees: Iterable[tuple[Path, str, Iterable[Path] | None]] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        _add_bytes(archive, "Dockerfile", dockerfile.encode())
        for name, data in fill:
            _add_bytes(archive, name, data)
        for source, prefix, files in trees:
            _add_tree(archive, source, prefix, files)
    return buffer.getvalue()


def environment_context(dockerfile: str, packages: tuple[str, ...], ca_bundle: bytes) -> bytes:
    requirements = "\n".join([*RUNTIME_REQUIREMENTS, *packages]) + "\n"
    sdk = _sdk_root()
    return _context(
        dockerfile,
        [("requirements.txt", requirements.encode()), ("ca-certificates.crt", ca_bundle)],
        [(sdk, "shipyard_sdk", _sdk_files(sdk))],
    )


def generation_context(dockerfile: str, code_dir: Path) -> bytes:
    return _context(dockerfile, trees=[(code_dir, "app", None)])
