"""The one error tree shared by the control plane, the gateway, the SDK and the CLI.

Every error Shipyard raises on purpose is a ``ShipyardError``; each class carries the HTTP
status it is answered with, and the API renders it as
``{"error": {"type": <class name>, "message": <message>}}``. The SDK turns such an answer
back into the same class (``error_from_response``), so a caller catches what the server
raised.

    ShipyardError (500)
    ├── InvalidInput (400)
    │   ├── InvalidName
    │   ├── InvalidPackageList
    │   ├── InvalidArchive
    │   ├── InvalidTemplate
    │   └── UnknownEnvironment
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── Conflict (409)
    │   ├── ServiceDisabled
    │   └── ReplacementBlocked
    ├── PayloadTooLarge (413)
    ├── TooManyRequests (429)
    ├── BuildFailed (422)
    ├── RunnerError (500)
    ├── BadGateway (502)
    ├── Unavailable (503)
    └── UpstreamTimeout (504)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadGateway",
    "BuildFailed",
    "Conflict",
    "Forbidden",
    "InvalidArchive",
    "InvalidInput",
    "InvalidName",
    "InvalidPackageList",
    "InvalidTemplate",
    "NotFound",
    "PayloadTooLarge",
    "ReplacementBlocked",
    "RunnerError",
    "ServiceDisabled",
    "ShipyardError",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "UnknownEnvironment",
    "UpstreamTimeout",
    "error_body",
    "error_from_payload",
]


class ShipyardError(Exception):
    """Root of every error Shipyard raises on purpose."""

    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ShipyardError):
    """The request or the files it carries are malformed."""

    http_status = 400


class InvalidName(InvalidInput):
    """A service or model name that cannot be used."""


class InvalidPackageList(InvalidInput):
    """A package list entry that is not a plain PEP 508 requirement."""


class InvalidArchive(InvalidInput):
    """An uploaded archive that is unreadable or unsafe to unpack."""


class InvalidTemplate(InvalidInput):
    """A template folder that cannot be rendered."""


class UnknownEnvironment(InvalidInput):
    """An environment profile that ``environments.yaml`` does not define."""


class Unauthorized(ShipyardError):
    """No credentials, or credentials that do not identify anyone."""

    http_status = 401


class Forbidden(ShipyardError):
    """Authenticated, but not allowed to do this."""

    http_status = 403


class NotFound(ShipyardError):
    """The named service, file, build or generation does not exist."""

    http_status = 404


class Conflict(ShipyardError):
    """The request clashes with what is stored, such as a duplicate name."""

    http_status = 409


class ServiceDisabled(Conflict):
    """The service is switched off, so it cannot be deployed."""


class ReplacementBlocked(Conflict):
    """A model replacement whose validation fails: it is recorded, nothing is deployed."""


class PayloadTooLarge(ShipyardError):
    """A request body or an upload over the configured limit."""

    http_status = 413


class TooManyRequests(ShipyardError):
    """Too many attempts in too short a time (failed sign-ins); try again later."""

    http_status = 429


class BuildFailed(ShipyardError):
    """A generation's build did not produce something runnable."""

    http_status = 422


class RunnerError(ShipyardError):
    """The runner could not do what was asked (a process, an engine, a port)."""

    http_status = 500


class BadGateway(ShipyardError):
    """A service instance could not be reached, or answered with something that is not HTTP."""

    http_status = 502


class Unavailable(ShipyardError):
    """The service exists but cannot answer now (disabled, undeployed, not running)."""

    http_status = 503


class UpstreamTimeout(ShipyardError):
    """A service instance did not answer in time."""

    http_status = 504


def _all_error_classes() -> dict[str, type[ShipyardError]]:
    found: dict[str, type[ShipyardError]] = {}
    pending: list[type[ShipyardError]] = [ShipyardError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def error_body(error: ShipyardError) -> dict[str, Any]:
    """The JSON answer for ``error``."""
    return {"error": {"type": type(error).__name__, "message": error.message}}


def error_from_payload(status: int, payload: Any) -> ShipyardError:
    """Turn an API error answer back into the class the server raised.

    An unknown type name (a newer server) falls back to the nearest class by status.
    """
    detail = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(detail, dict):
        name = str(detail.get("type", ""))
        message = str(detail.get("message", ""))
    else:
        name, message = "", f"HTTP {status}"
    classes = _all_error_classes()
    if name in classes:
        return classes[name](message)
    by_status = {
        400: InvalidInput, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
        413: PayloadTooLarge, 422: BuildFailed, 503: Unavailable, 504: UpstreamTimeout,
    }
    return by_status.get(status, ShipyardError)(message or f"HTTP {status}")
