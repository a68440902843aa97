"""Settings: one frozen object, read once at start.

Each value comes from the first of: a command-line flag, the config file, a
``SHIPYARD_*`` environment variable, the built-in default. The config file is the YAML
file named by ``--config`` or ``SHIPYARD_CONFIG``, else ``<home>/config.yaml`` when it
exists. The environment is passed in, never read at import time.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import InvalidInput

__all__ = ["RESOLVED_SETTINGS_VAR", "Settings", "home_from", "resolve_value"]

ENV_PREFIX = "SHIPYARD_"
# How ``shipyard up`` hands its resolved settings to the processes it starts.
RESOLVED_SETTINGS_VAR = "SHIPYARD_RESOLVED_SETTINGS"
BatchSourceList = tuple[str, ...]
"""Folders and URL prefixes (``batch_sources``), parsed by ``_sources``."""


def _default_home() -> Path:
    return Path("~/.shipyard").expanduser()


def home_from(environ: Mapping[str, str]) -> Path:
    """The home a process started with ``environ`` uses when no flag names one:
    ``SHIPYARD_HOME``, else ``~/.shipyard`` (what ``Settings.resolve`` gives ``home``)."""
    return Path(resolve_value("home", {}, {}, environ, str(_default_home()))).expanduser()


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=_default_home)
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = ""
    environments_file: Path | None = None
    templates_dir: Path | None = None
    runner: str = "local"
    # The swarm runner (shipyard_runners.swarm): the registry its images are pushed to and
    # every node pulls from (host:port, as image names give it), and the host ports its
    # replicas publish (FIRST-LAST).
    swarm_registry: str = ""
    swarm_ports: str = "20000-29999"
    # The local runner runs service code in a bubblewrap sandbox; "none" runs it with
    # Shipyard's own rights (see shipyard_runners.sandbox).
    sandbox: str = "bubblewrap"
    # Where the local runner keeps the bytecode its environments share; by default the
    # user's cache folder, shared by every home (shipyard_runners.venvs.user_bytecode_store).
    bytecode_store: Path | None = None
    api_workers: int = 2
    max_upload_bytes: int = 64 * 1024 * 1024
    start_timeout: int = 60
    gateway_workers: int = 1
    public_url: str = ""
    # SigV4: the credential scope the SDK and CLI sign for, the services a caller's scope
    # may name (in any region), and how far the caller's clock may be off.
    region: str = "us-east-1"
    signing_service: str = "execute-api"
    signing_services: tuple[str, ...] = ("execute-api", "s3")
    clock_skew_seconds: int = 300
    # How long a browser stays signed in to the console.
    session_hours: int = 12
    # Calls older than this leave the query log (0 keeps them all).
    query_log_retention_days: int = 30
    # Service stats (their rollups) older than this are dropped (0 keeps them all).
    stats_retention_days: int = 400
    # How long a prediction kept under its association id waits for its actual, and an
    # actual for its prediction; older ones are dropped (0 keeps them all).
    actuals_window_days: int = 90
    # Batch jobs: the largest input file, how long a job and its results are kept after
    # it ends, how many jobs run at once, and how many chunks a job has in flight (the
    # bound that leaves an instance's other threads to live calls).
    max_batch_bytes: int = 4 * 1024**3
    batch_retention_days: int = 7
    batch_jobs_at_once: int = 2
    batch_calls_at_once: int = 2
    # Where scheduled batch jobs may read their input: absolute folders and http(s) URL
    # prefixes (a YAML list, or entries separated by spaces or commas); none by default.
    batch_sources: BatchSourceList = ()
    # Autoscaling (shipyard.supervisor.autoscaling): the seconds its load is averaged over
    # (the stable window, and the panic window for bursts), and how long it keeps the
    # replicas it needed before it runs fewer.
    scale_stable_window: int = 60
    scale_panic_window: int = 6
    scale_down_delay: int = 30
    # A bearer token that may scrape the gateway's /metrics, besides an administrator's
    # signature ("" for none); a secret, kept out of every repr.
    metrics_token: str = field(default="", repr=False)

    @property
    def secret_key_file(self) -> Path:
        """The server key that encrypts access-key secrets at rest."""
        return self.home / "secrets" / "server.key"

    @property
    def admin_credentials_file(self) -> Path:
        """Where the first start leaves the administrator's access key."""
        return self.home / "credentials" / "admin.json"

    @property
    def accepted_signing_services(self) -> tuple[str, ...]:
        """The services a signature's credential scope may name: ``signing_service``,
        which Shipyard's own clients sign with, then ``signing_services``."""
        return tuple(dict.fromkeys((self.signing_service, *self.signing_services)))

    @property
    def effective_bytecode_store(self) -> Path:
        """``bytecode_store``, else the user's (``user_bytecode_store``)."""
        # Imported on use: every process reads its settings, few make a local runner.
        from shipyard_runners import user_bytecode_store

        return self.bytecode_store or user_bytecode_store()

    @property
    def local_url(self) -> str:
        """This node's front door (the gateway) as a process on this node reaches it: its
        host, loopback for a wildcard one. Not ``public_url``, which may name a proxy or a
        load balancer in front that this machine cannot reach."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'shipyard.db'}"

    @classmethod
    def resolve(
        cls,
        flags: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Build settings from flags, the config file and the environment."""
        flags = {k: v for k, v in (flags or {}).items() if v is not None}
        environ = environ or {}
        home = Path(flags["home"]).expanduser() if flags.get("home") else home_from(environ)
        file_values = _read_config_file(flags, environ, home)
        values: dict[str, Any] = {"home": home}
        for spec in fields(cls):
            if spec.name == "home":
                continue
            raw = resolve_value(spec.name, flags, file_values, environ, None)
            if raw is not None:
                values[spec.name] = _convert(spec.name, spec.type, raw)
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls.resolve({}, environ)

    def to_json(self) -> str:
        return json.dumps({k: _jsonable(v) for k, v in dataclasses.asdict(self).items()})

    @classmethod
    def from_json(cls, text: str) -> Settings:
        raw = json.loads(text)
        return cls(**{s.name: _convert(s.name, s.type, raw[s.name]) for s in fields(cls)
                      if raw.get(s.name) is not None})


def resolve_value(
    name: str,
    flags: Mapping[str, Any],
    file_values: Mapping[str, Any],
    environ: Mapping[str, str],
    default: Any,
) -> Any:
    """The value of one setting: flag > file > environment > default."""
    if flags.get(name) is not None:
        return flags[name]
    if file_values.get(name) is not None:
        return file_values[name]
    env_name = ENV_PREFIX + name.upper()
    if environ.get(env_name):
        return environ[env_name]
    return default


def _read_config_file(
    flags: Mapping[str, Any], environ: Mapping[str, str], home: Path
) -> dict[str, Any]:
    named = flags.get("config") or environ.get(ENV_PREFIX + "CONFIG")
    path = Path(named).expanduser() if named else home / "config.yaml"
    if not path.exists():
        if named:
            raise InvalidInput(f"config file {str(path)!r} does not exist")
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"config file {str(path)!r} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"config file {str(path)!r} must hold a mapping of settings")
    known = {f.name for f in fields(Settings)} - {"home"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(
            f"config file {str(path)!r} has unknown settings {unknown}; known: {sorted(known)}"
        )
    return data


def _convert(name: str, annotation: Any, raw: Any) -> Any:
    kind = str(annotation)
    if kind == "tuple[str, ...]":
        return _names(name, raw)
    if kind == "BatchSourceList":
        return _sources(name, raw)
    try:
        if "Path" in kind:
            return Path(str(raw)).expanduser()
        if kind == "int":
            return int(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"setting {name!r} must be {kind}, got {raw!r}") from exc


_NAME_SEPARATORS = re.compile(r"[\s,]+")
_NAME = re.compile(r"[^/\s,;=]+")


def _listed(name: str, raw: Any, what: str) -> list[Any]:
    """A list setting's items: a YAML list or a flag's several values, or one string of
    them separated by commas and/or spaces."""
    if isinstance(raw, str):
        return [part for part in _NAME_SEPARATORS.split(raw) if part]
    if isinstance(raw, list | tuple):
        return list(raw)
    raise InvalidInput(f"setting {name!r} must be {what}, got {raw!r}")


def _names(name: str, raw: Any) -> tuple[str, ...]:
    """A list setting: a YAML list or a flag's several values, or one string of names
    separated by commas and/or spaces (``SHIPYARD_SIGNING_SERVICES="execute-api, s3"``)."""
    items = _listed(name, raw, "a list of names")
    for item in items:
        if not isinstance(item, str) or not _NAME.fullmatch(item):
            raise InvalidInput(
                f"setting {name!r} must be a list of names without spaces, commas, '/', ';' "
                f"or '=', got {item!r}"
            )
    return tuple(dict.fromkeys(items))


def _sources(name: str, raw: Any) -> tuple[str, ...]:
    """Folders and URL prefixes: a YAML list, or one string of them separated by spaces
    or commas."""
    items = _listed(name, raw, "a list of folders and URL prefixes")
    for item in items:
        if not isinstance(item, str) or not item.startswith(("http://", "https://", "/")):
            raise InvalidInput(f"setting {name!r}: each entry must be an absolute folder or "
                               f"an http(s) URL prefix, got {item!r}")
    return tuple(dict.fromkeys(items))


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value
