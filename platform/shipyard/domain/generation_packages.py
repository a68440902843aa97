"""Generation packages: one generation exported as a zip, and imported as a new one.

A package is a zip holding ``shipyard-generation.json`` (the manifest) and the
generation's code under ``code/``::

    {"format": 1, "kind": "model", "service": "iris", "tag": "v2",
     "created_at": "...", "exported_at": "...", "environment": "small",
     "packages": ["scikit-learn==1.5.2", ...], "model_version": "iris:2",
     "env": {"MODE": "strict"}, "secrets": ["API_TOKEN"],
     "code_sha256": "<sha256 of the code as Shipyard archives it>"}

``env`` and ``secrets`` say what the generation ran with: its variables, and its secrets'
names (never a value). They are not imported: variables and secrets belong to the service
of each installation (staging's differ from production's), so an imported generation takes
the target service's own, like any new generation, and the import names those the package's
generation had that the target service does not set (``settings_missing``).

``code_sha256`` is the sha256 of the deterministic zip ``shipyard.domain.archives.write_zip``
makes of the code (a generation stores exactly that zip), so an import can tell a package
whose code was changed after its export.

Importing checks everything before storing anything: the archive (through
``read_archive``: no traversal, links or zip bombs, within the upload limit), the
manifest, the package list, the environment, the kind (the target service's), the model
version (it must exist here, and a model file in the code must be its file), and the
code's checksum. It then adds a NEW generation to the service, pending its build, and
changes nothing about what serves: switching to it, mapping traffic to it or rolling
back is the user's next step.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from shipyard.domain.archives import read_archive, write_zip
from shipyard.domain.deployments import Generation, add_generation, find_generation
from shipyard.domain.environments import EnvironmentCatalog
from shipyard.domain.generation_refs import parse_tag, tag_of
from shipyard.domain.models import MODEL_FILE, find_model_version, split_model_version
from shipyard.domain.scaffold import KINDS
from shipyard.domain.services import find_service
from shipyard.domain.validation import validate_package_list
from shipyard.errors import InvalidInput, InvalidPackageList, NotFound, PayloadTooLarge
from shipyard.store import Store

__all__ = [
    "CODE_FOLDER",
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "GenerationPackages",
    "read_package",
    "write_package",
]

MANIFEST_FILE = "shipyard-generation.json"
CODE_FOLDER = "code/"
FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 64 * 1024
_FIELDS = frozenset({
    "format", "kind", "service", "tag", "created_at", "exported_at", "environment",
    "packages", "model_version", "code_sha256", "env", "secrets",
})
_REQUIRED = ("format", "kind", "environment", "packages", "code_sha256")


def write_package(manifest: Mapping[str, Any], code: Mapping[str, bytes]) -> bytes:
    """The package zip of ``manifest`` and ``code`` (deterministic for the same input)."""
    files = {CODE_FOLDER + path: content for path, content in code.items()}
    files[MANIFEST_FILE] = json.dumps(dict(manifest), indent=2).encode()
    return write_zip(files)


def read_package(data: bytes, *, max_bytes: int) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the code of a package, after checking the archive, the manifest's
    shape and the code's checksum (not yet what the manifest names: see ``import_``)."""
    files = read_archive(data, max_total_bytes=max_bytes)
    raw = files.pop(MANIFEST_FILE, None)
    if raw is None:
        raise InvalidInput(f"the package has no {MANIFEST_FILE}: is it an exported generation?")
    stray = sorted(path for path in files if not path.startswith(CODE_FOLDER))
    if stray:
        raise InvalidInput(
            f"the package holds files outside {CODE_FOLDER}: {', '.join(stray[:5])}"
        )
    code = {path.removeprefix(CODE_FOLDER): content for path, content in files.items()}
    if not code:
        raise InvalidInput(f"the package holds no code under {CODE_FOLDER}")
    manifest = _manifest(raw)
    actual = hashlib.sha256(write_zip(code)).hexdigest()
    if actual != manifest["code_sha256"]:
        raise InvalidInput(
            "the package's code does not match its manifest's code_sha256 "
            "(was it changed after its export?)"
        )
    return manifest, code


class GenerationPackages:
    def __init__(self, store: Store, environments: EnvironmentCatalog, *, max_bytes: int) -> None:
        self.store = store
        self.environments = environments
        self.max_bytes = max_bytes

    def export(self, ref: str, tag: str) -> tuple[str, bytes]:
        """The package of generation ``tag`` of ``ref``, and a file name for it."""
        number = parse_tag(tag)
        with self.store.reading() as session:
            service = find_service(session, ref)
            row = find_generation(session, service, number)
            # The generation's own archive, written by Shipyard: read as it is.
            with zipfile.ZipFile(io.BytesIO(row.files)) as archive:
                code = {name: archive.read(name) for name in archive.namelist()
                        if not name.endswith("/")}
            manifest = {
                "format": FORMAT_VERSION, "kind": row.kind, "service": service.name,
                "tag": tag_of(row.number), "created_at": row.created_at.isoformat(),
                "exported_at": datetime.now(UTC).isoformat(),
                "environment": row.environment, "packages": list(row.packages),
                "model_version": row.model_version,
                "env": dict(row.variables or {}),
                "secrets": sorted(row.secrets or {}),
                "code_sha256": hashlib.sha256(write_zip(code)).hexdigest(),
            }
            name = f"{service.name}-{tag_of(row.number)}.zip"
        return name, write_package(manifest, code)

    def import_(self, ref: str, data: bytes) -> tuple[Generation, list[str]]:
        """Add the package ``data`` to ``ref`` as its next generation, pending its build;
        what serves does not change. Also the names of the variables and secrets the
        package's generation ran with that ``ref`` does not set."""
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(f"the package is over the upload limit of {self.max_bytes} bytes")
        manifest, code = read_package(data, max_bytes=self.max_bytes)
        environment = self.environments.get(manifest["environment"]).name
        try:
            packages = validate_package_list(manifest["packages"])
        except InvalidPackageList as exc:
            raise InvalidPackageList(f"the package's package list: {exc.message}") from exc
        with self.store.writing() as session:
            service = find_service(session, ref)
            if manifest["kind"] != service.kind:
                raise InvalidInput(
                    f"the package holds a {manifest['kind']} generation, but service "
                    f"{service.name!r} is a {service.kind} service"
                )
            model_version = manifest.get("model_version")
            if model_version is not None:
                _check_model_version(session, model_version, code)
            row = add_generation(
                session, service, files=code, environment=environment,
                packages=packages, model_version=model_version,
            )
            session.flush()
            named = {*manifest.get("env", {}), *manifest.get("secrets", [])}
            missing = sorted(named - {*(row.variables or {}), *(row.secrets or {})})
            return Generation.from_row(row), missing


def _manifest(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InvalidInput(f"{MANIFEST_FILE} is over {MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{MANIFEST_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise InvalidInput(f"{MANIFEST_FILE} must hold a JSON object")
    unknown = sorted(set(manifest) - _FIELDS)
    if unknown:
        raise InvalidInput(
            f"{MANIFEST_FILE} has unknown fields {unknown}; known: {sorted(_FIELDS)}"
        )
    missing = [name for name in _REQUIRED if name not in manifest]
    if missing:
        raise InvalidInput(f"{MANIFEST_FILE} lacks {', '.join(missing)}")
    if manifest["format"] != FORMAT_VERSION:
        raise InvalidInput(
            f"package format {manifest['format']!r} is not one this Shipyard reads "
            f"({FORMAT_VERSION})"
        )
    if manifest["kind"] not in KINDS:
        raise InvalidInput(
            f"{MANIFEST_FILE} names an unknown kind {manifest['kind']!r}; "
            f"known: {', '.join(KINDS)}"
        )
    for name in ("environment", "code_sha256"):
        if not isinstance(manifest[name], str):
            raise InvalidInput(f"{MANIFEST_FILE}: {name!r} must be a string")
    model_version = manifest.get("model_version")
    if model_version is not None and not isinstance(model_version, str):
        raise InvalidInput(f"{MANIFEST_FILE}: 'model_version' must be NAME:NUMBER or null")
    env = manifest.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(name, str) for name in env):
        raise InvalidInput(f"{MANIFEST_FILE}: 'env' must map names to values")
    secrets = manifest.get("secrets", [])
    if not isinstance(secrets, list) or not all(isinstance(name, str) for name in secrets):
        raise InvalidInput(f"{MANIFEST_FILE}: 'secrets' must be a list of names")
    return manifest


def _check_model_version(session: Session, model_version: str, code: Mapping[str, bytes]) -> None:
    name, number = split_model_version(model_version)
    try:
        stored = find_model_version(session, name, number)
    except NotFound as exc:
        raise InvalidInput(
            f"the package serves model version {model_version}, which this Shipyard does "
            "not have: upload it first"
        ) from exc
    model_file = code.get(MODEL_FILE)
    if model_file is not None and hashlib.sha256(model_file).hexdigest() != stored.sha256:
        raise InvalidInput(
            f"the package's {MODEL_FILE} is not the file of model version {model_version} here"
        )
