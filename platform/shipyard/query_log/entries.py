"""From a ``QueryRecord`` to the JSON object a spool file holds for it, one per line.

This runs in the spool's thread, off the gateway's event loop: it reads the association
id from the request body when no header gave one, drops the bodies unless the service
collects prediction data, and turns the bodies into text.

Bodies are decoded as UTF-8, with U+FFFD for bytes that are not UTF-8: the query log is
for comparing generations' JSON answers offline, and a text column keeps them readable
in JSONL and CSV alike. A binary body is therefore not kept byte for byte.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shipyard.query_log.record import QueryRecord

__all__ = ["association_from_body", "entry_of", "redacted_path", "spool_line"]

# A presigned URL carries its signature and credential in the query: whoever reads the
# log must not be able to replay the call.
_SIGNED_QUERY = re.compile(
    r"(?i)([?&]X-Amz-(?:Signature|Credential|Security-Token)=)[^&#]*"
)


def association_from_body(body: bytes | None, field: str) -> str | None:
    """The top-level ``field`` of a JSON object body, as text; None when the body is not
    a JSON object (or was cut by the size cap), lacks the field, or holds no string or
    number there."""
    if not body or not field:
        return None
    try:
        document = json.loads(body)
    except ValueError:  # invalid JSON, or bytes that are not UTF-8/16/32
        return None
    if not isinstance(document, dict):
        return None
    value = document.get(field)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    return None


def redacted_path(path: str) -> str:
    """``path`` with the values of a presigned URL's signing parameters replaced."""
    if "x-amz-" not in path.lower():
        return path
    return _SIGNED_QUERY.sub(r"\1REDACTED", path)


def entry_of(record: QueryRecord) -> dict[str, Any]:
    """The stored form of ``record``: the ``query_log`` columns, ``at`` in epoch seconds."""
    association = record.association_id
    if association is None and record.association_field:
        association = association_from_body(record.request_body, record.association_field)
    keep = record.keep_bodies
    return {
        "at": record.at,
        "request_id": record.request_id,
        "service_id": record.service_id,
        "generation": record.generation,
        "method": record.method,
        "path": redacted_path(record.path),
        "status": record.status,
        "latency_ms": record.latency_ms,
        "request_bytes": record.request_bytes,
        "response_bytes": record.response_bytes,
        "caller": record.caller,
        "association_id": association,
        "challenger_generation": record.challenger_generation,
        "challenger_status": record.challenger_status,
        "challenger_latency_ms": record.challenger_latency_ms,
        "request_body": _text(record.request_body) if keep else None,
        "response_body": _text(record.response_body) if keep else None,
        "challenger_body": _text(record.challenger_body) if keep else None,
    }


def spool_line(record: QueryRecord) -> str:
    """One line of a spool file (ASCII only, so no character in a body can break it)."""
    return json.dumps(entry_of(record), separators=(",", ":")) + "\n"


def _text(body: bytes | None) -> str | None:
    return None if body is None else body.decode("utf-8", errors="replace")
