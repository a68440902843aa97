"""Where a request goes, read from its request target alone.

``/user-services/invoke/<service id or name>/<path>`` goes to an instance of that service,
which sees ``/<path>`` with the query string, raw bytes as received (``%2F`` stays
``%2F``). Everything else goes to the API upstream unchanged.

An invocation path may not contain ``.`` or ``..`` segments, written plainly or
percent-encoded (``%2e%2e``), with a backslash, or with a ``;`` parameter: each of them
means a different service or path to some normalizer along the way, so
``/user-services/invoke/A/../B/x`` is refused rather than routed to A or to B. The
service reference must be one plain segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from shipyard.contracts import routing_table
from shipyard.errors import InvalidInput, NotFound

__all__ = ["INVOKE_PREFIX", "SERVICES_PREFIX", "InvokeTarget", "origin_form", "split_invoke"]

SERVICES_PREFIX = b"/user-services/"
INVOKE_PREFIX = routing_table.INVOKE_PREFIX.encode()

_DOT_SEGMENTS = (b".", b"..")


@dataclass(frozen=True, slots=True)
class InvokeTarget:
    """A service call: ``ref`` names the service, ``path`` is what its instance sees."""

    ref: str
    path: bytes


def origin_form(target: bytes) -> bytes:
    """The path-and-query of a request target (``/a?b``), whatever form it came in.

    An absolute-form target (``http://host/a?b``) loses its scheme and authority: the
    gateway never forwards to an address a caller names.
    """
    if target.startswith(b"/"):
        return target
    scheme, separator, rest = target.partition(b"://")
    if separator and scheme.isalpha():
        slash = rest.find(b"/")
        question = rest.find(b"?")
        if slash < 0 or 0 <= question < slash:
            return b"/" + rest[question:] if question >= 0 else b"/"
        return rest[slash:]
    raise InvalidInput("the request target must be a path")


def split_invoke(path_and_query: bytes) -> InvokeTarget | None:
    """The service call this origin-form target asks for, or None when it is not one."""
    if not path_and_query.startswith(SERVICES_PREFIX):
        return None
    path, question, query = path_and_query.partition(b"?")
    _refuse_dot_segments(path)
    if not path.startswith(INVOKE_PREFIX):
        raise NotFound("not a service call: use /user-services/invoke/<service>/<path>")
    ref_raw, _, rest = path[len(INVOKE_PREFIX):].partition(b"/")
    ref_bytes = unquote_to_bytes(ref_raw) if b"%" in ref_raw else ref_raw
    if not ref_bytes:
        raise NotFound("no service named: use /user-services/invoke/<service>/<path>")
    if b"/" in ref_bytes or b"\\" in ref_bytes:
        raise InvalidInput("the service reference must be one path segment")
    try:
        ref = ref_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the service reference must be UTF-8") from exc
    forwarded = b"/" + rest
    if question:
        forwarded += b"?" + query
    return InvokeTarget(ref, forwarded)


def _refuse_dot_segments(path: bytes) -> None:
    # A dot segment starts the path or follows a separator; a path with no "/.", no "%"
    # and no backslash has none, which is the common case and costs three scans.
    if b"/." not in path and b"%" not in path and b"\\" not in path:
        return
    for segment in path.split(b"/"):
        decoded = unquote_to_bytes(segment) if b"%" in segment else segment
        for part in decoded.replace(b"\\", b"/").split(b"/"):
            if part.split(b";", 1)[0] in _DOT_SEGMENTS:
                raise InvalidInput("the path may not contain '.' or '..' segments")
