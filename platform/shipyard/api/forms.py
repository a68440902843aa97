"""Reading JSON carried in a multipart form field."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from shipyard.errors import InvalidInput

__all__ = ["form_json"]


def form_json(field: str) -> dict[str, Any]:
    raw = request.form.get(field)
    if raw is None:
        raise InvalidInput(f"the multipart upload needs a {field!r} field holding JSON")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the {field!r} field is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"the {field!r} field must be a JSON object")
    return data
