"""Where a client finds the credentials it signs with, when none are given.

In order: ``SHIPYARD_ACCESS_KEY_ID`` and ``SHIPYARD_SECRET_ACCESS_KEY`` (what a runner
gives a service instance); the JSON file named by ``SHIPYARD_CREDENTIALS_FILE`` (as
``shipyard tokens create --json`` prints it); the administrator's file that the first
``shipyard up`` wrote in its data directory (``$SHIPYARD_HOME``, else ``~/.shipyard``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipyard_sdk.errors import InvalidInput

__all__ = ["CREDENTIALS_FILE_VAR", "SigningCredentials", "credentials_file", "find_credentials"]

CREDENTIALS_FILE_VAR = "SHIPYARD_CREDENTIALS_FILE"


@dataclass(frozen=True)
class SigningCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str | None = None
    service: str | None = None


def find_credentials(environ: Mapping[str, str] | None = None) -> SigningCredentials | None:
    environ = os.environ if environ is None else environ
    access_key = environ.get("SHIPYARD_ACCESS_KEY_ID")
    secret_key = environ.get("SHIPYARD_SECRET_ACCESS_KEY")
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise InvalidInput(
                "set both SHIPYARD_ACCESS_KEY_ID and SHIPYARD_SECRET_ACCESS_KEY, or neither"
            )
        return SigningCredentials(access_key, secret_key, environ.get("SHIPYARD_REGION"),
                                  environ.get("SHIPYARD_SIGNING_SERVICE"))
    path = credentials_file(environ)
    return None if path is None else _read(path, required=bool(environ.get(CREDENTIALS_FILE_VAR)))


def credentials_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The file ``find_credentials`` reads, or None when the environment holds the keys."""
    environ = os.environ if environ is None else environ
    if environ.get("SHIPYARD_ACCESS_KEY_ID") or environ.get("SHIPYARD_SECRET_ACCESS_KEY"):
        return None
    named = environ.get(CREDENTIALS_FILE_VAR)
    if named:
        return Path(named).expanduser()
    home = Path(environ.get("SHIPYARD_HOME") or "~/.shipyard").expanduser()
    return home / "credentials" / "admin.json"


def _read(path: Path, *, required: bool) -> SigningCredentials | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if required:
            raise InvalidInput(f"credentials file {str(path)!r} does not exist") from None
        return None
    except PermissionError:
        if required:
            raise InvalidInput(f"credentials file {str(path)!r} is not readable") from None
        return None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read credentials file {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) and data[k] for k in ("access_key_id", "secret_access_key")
    ):
        raise InvalidInput(
            f"credentials file {str(path)!r} needs access_key_id and secret_access_key"
        )
    return SigningCredentials(data["access_key_id"], data["secret_access_key"],
                              data.get("region"), data.get("service"))
