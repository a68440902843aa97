"""Yes-or-no query parameters (``?follow=true``), read one way across the API: ``true``,
``1`` or ``yes`` for yes, ``false``, ``0`` or ``no`` for no, in any case; anything else
is refused with a message naming the parameter, never read as no."""

from __future__ import annotations

from collections.abc import Mapping

from shipyard.errors import InvalidInput

__all__ = ["query_flag"]

_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def query_flag(args: Mapping[str, str], name: str) -> bool | None:
    """Query parameter ``name`` of ``args`` as a yes or no; None where it is absent."""
    value = args.get(name)
    if value is None:
        return None
    flag = _WORDS.get(value.lower())
    if flag is None:
        raise InvalidInput(f"{name!r} must be true or false, not {value!r}")
    return flag
