"""``/api/v1/services/<ref>/queries``: a service's query log, exported."""

from __future__ import annotations

from flask import Blueprint, Response, request

from shipyard.api.callers import require_collaborator
from shipyard.api.context import control_plane

__all__ = ["queries"]

queries = Blueprint("queries", __name__)


@queries.get("/<ref>/queries")
def export_queries(ref: str) -> Response:
    """Every call to a service through the gateway in a time range, oldest first.

    Columns, in this order: at, request_id, service_id, generation, method, path, status,
    latency_ms, instance_ms (the part spent in the instance), request_bytes,
    response_bytes, caller, predictions (rows scored, as the instance said), warnings
    (rows it flagged: prediction warnings),
    association_id, challenger_generation, challenger_status, challenger_latency_ms,
    request_body, response_body, challenger_body, body_encoding. Bodies are there only
    when the service collects prediction data, as text (body_encoding utf-8) or, when one
    of a call's bodies is not text, each in base64. Calls reach the log within a few
    seconds.
    ---
    tags: [queries]
    parameters:
      - name: since
        in: query
        description: Calls from this instant on (ISO 8601, or back from now such as 1h).
        schema: {type: string, example: 1h}
      - name: until
        in: query
        description: Calls before this instant (ISO 8601, or back from now such as 30m).
        schema: {type: string, example: "2026-01-31T12:00:00Z"}
      - name: format
        in: query
        schema: {type: string, enum: [jsonl, csv], default: jsonl}
    responses:
      "200":
        description: The calls, one JSON object per line or CSV under a header line.
        content:
          application/x-ndjson:
            schema: {type: string}
          text/csv:
            schema: {type: string}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    args = request.args
    export = control_plane().queries.export(
        service.id, args.get("since"), args.get("until"), args.get("format", "jsonl")
    )
    disposition = f'attachment; filename="{service.name}-queries.{export.extension}"'
    return Response(
        export.chunks, mimetype=export.media_type,
        headers={"Content-Disposition": disposition},
    )
