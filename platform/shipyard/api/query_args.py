"""A view's query parameters, checked against the ones it knows."""

from __future__ import annotations

from flask import request

from shipyard.errors import InvalidInput

__all__ = ["checked_args"]


def checked_args(known: tuple[str, ...]) -> dict[str, str]:
    """The request's query parameters; ``InvalidInput`` naming any it does not know."""
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        raise InvalidInput(f"unknown parameter(s) {unknown}; known: {', '.join(known)}")
    return {name: value for name, value in request.args.items()}
