"""From a ``QueryRecord`` to the line a spool file holds for it, one JSON value per line.

A call that keeps no body (most calls) gets a short line (``plain_line``), which the
gateway writes on its event loop as the call ends, after the answer has left: a JSON array
of its columns in the order of ``PLAIN_COLUMN_NAMES``, which the ingest reads back as the
object of those names (``spool_entry``). Every value in it is what ``json.dumps`` writes
for it in the object form, so both forms hold the same row. The line of one that does
(``needs_bodies``) is a JSON object, costs more, and is written in the spool's thread: it
reads the association id from the request body when no header gave one, drops the bodies
unless the service collects prediction data or is monitored, and turns the bodies into
text. A monitored service's line says so with ``"monitored": true`` (the ingest folds the
rows it scored into drift), and one that carries its bodies for that alone with
``"bodies_kept": false``: the ingest stores the call without them. Neither key is a
column.

Bodies are kept byte for byte, as text so that JSONL and CSV carry them alike: a call's
bodies are written as UTF-8 text when each of them is text (``body_encoding`` "utf-8"),
else each of them in base64 (``body_encoding`` "base64"): an image sent to a model, or
text holding a NUL, which a PostgreSQL text column cannot. A body cut at the size cap may
end inside a character; the start of that character is dropped with the rest.
"""

from __future__ import annotations

import base64
import codecs
import json
import operator
from typing import Any
from urllib.parse import unquote_plus

from shipyard.contracts.query_record import BODY_COLUMNS, QUERY_COLUMNS, QueryRecord

__all__ = [
    "BODIES_KEPT", "MONITORED", "PLAIN_COLUMN_NAMES", "association_from_body", "entry_of",
    "needs_bodies", "plain_line", "redacted_path", "spool_entry", "spool_line",
]

MONITORED = "monitored"
"""A spool line's key (not a column): true for a call whose scored rows the drift fold
reads from its bodies."""
BODIES_KEPT = "bodies_kept"
"""A spool line's key (not a column): false when its bodies are for the drift fold only."""

# A presigned URL carries its signature and credential in the query: whoever reads the
# log must not be able to replay the call.
_SIGNING_PARAMETERS = frozenset({"x-amz-signature", "x-amz-credential", "x-amz-security-token"})


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
    """``path`` with the values of a presigned URL's signing parameters replaced, whatever
    the case or the percent-encoding of their names (the verifier decodes names too)."""
    base, mark, query = path.partition("?")
    if not query or ("amz" not in query.lower() and "%" not in query):
        return path
    segments = []
    for segment in query.split("&"):
        name = segment.partition("=")[0]
        # Decoding costs more than the rest: a name with no escape decodes to itself.
        plain = name if "%" not in name and "+" not in name else unquote_plus(name)
        if plain.lower() in _SIGNING_PARAMETERS:
            segment = f"{name}=REDACTED"
        segments.append(segment)
    return f"{base}{mark}{'&'.join(segments)}"


_NO_BODIES: dict[str, str | None] = {**dict.fromkeys(BODY_COLUMNS), "body_encoding": None}


def entry_of(record: QueryRecord) -> dict[str, Any]:
    """The stored form of ``record``: the ``QUERY_COLUMNS``, ``at`` in epoch seconds."""
    association = record.association_id
    if association is None and record.association_field:
        association = association_from_body(record.request_body, record.association_field)
    entry = {column.name: getattr(record, column.name) for column in QUERY_COLUMNS
             if column.kind not in ("body", "encoding")}
    entry["path"] = redacted_path(record.path)
    entry["association_id"] = association
    if record.keep_bodies or record.monitored:
        entry.update(_bodies(record))
    else:
        entry.update(_NO_BODIES)
    if record.monitored:
        entry[MONITORED] = True
        if not record.keep_bodies:
            entry[BODIES_KEPT] = False
    return entry


def spool_line(record: QueryRecord) -> str:
    """One line of a spool file (ASCII only, so no character in a body can break it)."""
    if not needs_bodies(record):
        return plain_line(record)
    return json.dumps(entry_of(record), separators=(",", ":")) + "\n"


def needs_bodies(record: QueryRecord) -> bool:
    """Whether ``record``'s line is made from its bodies (kept, read by the drift fold, or
    holding its association id): the costly lines, the others are ``plain_line``'s."""
    return bool(record.keep_bodies or record.monitored
                or (record.association_id is None and record.association_field))


# Most calls keep no body, and the gateway writes a line for every call: theirs is an
# array of the columns (no names, no dict), written by the json module's C encoder in one
# call, which costs half what writing the object's members one by one did.
_PLAIN_COLUMNS = tuple(column for column in QUERY_COLUMNS
                       if column.kind not in ("body", "encoding"))
PLAIN_COLUMN_NAMES = tuple(column.name for column in _PLAIN_COLUMNS)
"""The columns of a plain line, in its order."""
_PLAIN_VALUES = operator.attrgetter(*PLAIN_COLUMN_NAMES)
_PATH = PLAIN_COLUMN_NAMES.index("path")


def _not_serializable(value: object) -> None:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# json.dumps's own C encoder, made once: JSONEncoder.encode makes one for every call, a
# third of what encoding a plain line costs. Its values are json.dumps's, without the
# check for circular references, which a flat array of columns cannot hold.
_c_encoder = json.encoder.c_make_encoder  # type: ignore[attr-defined]
if _c_encoder is not None:
    _encoder = _c_encoder(None, _not_serializable,
                          json.encoder.encode_basestring_ascii,  # type: ignore[attr-defined]
                          None, ":", ",", False, False, True)

    def _encode(values: list[Any]) -> str:
        return "".join(_encoder(values, 0))
else:  # an interpreter without the json module's C accelerator
    _encode = json.JSONEncoder(separators=(",", ":")).encode


def plain_line(record: QueryRecord) -> str:
    """``spool_line`` of a record that ``needs_bodies`` not: its columns as an array."""
    values = list(_PLAIN_VALUES(record))
    if type(values[_PATH]) is str:
        values[_PATH] = redacted_path(values[_PATH])
    return _encode(values) + "\n"


def spool_entry(line: str) -> Any:
    """The JSON object a spool line stands for (a plain line's array read as the object of
    ``PLAIN_COLUMN_NAMES``); ``ValueError`` for a line that is not JSON, or an array of
    another length. Anything else it holds is returned as it is, for the caller to
    refuse."""
    entry = json.loads(line)
    if type(entry) is not list:
        return entry
    if len(entry) != len(PLAIN_COLUMN_NAMES):
        raise ValueError(f"a plain spool line holds {len(PLAIN_COLUMN_NAMES)} values, "
                         f"not {len(entry)}")
    return dict(zip(PLAIN_COLUMN_NAMES, entry, strict=True))


def _bodies(record: QueryRecord) -> dict[str, str | None]:
    """The kept bodies of ``record`` as text, and how they are written."""
    bodies = {
        # A body shorter than the call's byte count was cut at the cap. The challenger's
        # size is not counted: its body counts as whole.
        "request_body": (record.request_body, _cut(record.request_body, record.request_bytes)),
        "response_body": (record.response_body,
                          _cut(record.response_body, record.response_bytes)),
        "challenger_body": (record.challenger_body, False),
    }
    texts = {name: None if body is None else _as_text(body, cut)
             for name, (body, cut) in bodies.items()}
    if all(body is None for body, _ in bodies.values()):
        return dict(_NO_BODIES)
    if all(texts[name] is not None or body is None for name, (body, _) in bodies.items()):
        return {**texts, "body_encoding": "utf-8"}
    return {
        **{name: None if body is None else base64.b64encode(body).decode("ascii")
           for name, (body, _) in bodies.items()},
        "body_encoding": "base64",
    }


def _cut(body: bytes | None, size: int) -> bool:
    return body is not None and len(body) < size


def _as_text(body: bytes, cut: bool) -> str | None:
    """``body`` as text, or None if it is not UTF-8 text a text column can hold."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(body, final=not cut)
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text
