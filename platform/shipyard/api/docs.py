"""Documentation: OpenAPI documents and the Swagger UI pages that show them.

- ``GET /api/v1/openapi.json``: the control plane's own API;
- ``GET /api/v1/services/<ref>/openapi.json``: a service's (live generation, or
  ``?generation=v2``), its server the service's gateway URL;
- ``GET /services/<ref>/docs`` and ``GET /docs``: the Swagger UI pages of both, whose
  "try it out" calls go through the gateway, the page's own origin;
- ``GET /docs/assets/<file>``: Swagger UI's own files, served here (no CDN).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request, send_from_directory

from shipyard.api.callers import (
    require_reader,
)
from shipyard.api.context import control_plane
from shipyard.errors import NotFound
from shipyard.openapi import control_plane_document, gateway_url, published
from shipyard.openapi.swagger_ui import (
    ASSETS,
    ASSETS_PREFIX,
    INITIALIZER,
    INITIALIZER_NAME,
    asset_dir,
    content_security_policy,
    page,
)

__all__ = ["docs"]

docs = Blueprint("docs", __name__)

ASSET_MAX_AGE = 24 * 3600


@docs.get("/api/v1/openapi.json")
def control_plane_openapi() -> Response:
    """The OpenAPI document of this API.
    ---
    tags: [documentation]
    responses:
      "200":
        description: The control plane's OpenAPI 3 document.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/OpenAPIDocument'}
      default: {$ref: '#/components/responses/Error'}
    """
    plane = control_plane()
    built = control_plane_document(current_app)
    return _json(published(built.document, server_url=plane.settings.public_url or "/",
                           server_description="the Shipyard gateway"))


@docs.get("/api/v1/services/<ref>/openapi.json")
def service_openapi(ref: str) -> Response:
    """The OpenAPI document of a service's live generation, or of another one.

    Built from the routes' docstrings when the generation was built; its server is the
    service's URL on the gateway.
    ---
    tags: [documentation]
    parameters:
      - name: generation
        in: query
        description: A generation's tag (default, the live generation).
        schema: {type: string, pattern: '^v[1-9][0-9]*$', example: v1}
    responses:
      "200":
        description: The generation's OpenAPI 3 document.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/OpenAPIDocument'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_reader(ref)
    plane = control_plane()
    found = plane.deployments.document(ref, request.args.get("generation"))
    return _json(published(
        found.document,
        server_url=gateway_url(plane.settings.public_url, found.service_name),
        server_description=f"{found.service_name} through the Shipyard gateway",
        public=service.access_level == "public",
    ))


@docs.get("/services/<ref>/docs")
def service_page(ref: str) -> Response:
    """The Swagger UI page of a service's live generation (or ``?generation=v2``).
    ---
    tags: [documentation]
    parameters:
      - name: generation
        in: query
        schema: {type: string, pattern: '^v[1-9][0-9]*$', example: v1}
    responses:
      "200":
        description: An HTML page; its assets come from this server.
        content:
          text/html:
            schema: {type: string}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_reader(ref)
    generation = request.args.get("generation")
    found = control_plane().deployments.document(ref, generation)
    spec_url = f"/api/v1/services/{found.service_id}/openapi.json"
    if generation:
        spec_url += f"?generation={found.generation}"
    return _html(page(f"{found.service_name} {found.generation} · Shipyard", spec_url))


@docs.get("/docs")
def control_plane_page() -> Response:
    """The Swagger UI page of this API.
    ---
    tags: [documentation]
    responses:
      "200":
        description: An HTML page; its assets come from this server.
        content:
          text/html:
            schema: {type: string}
      default: {$ref: '#/components/responses/Error'}
    """
    return _html(page("Shipyard control plane API", "/api/v1/openapi.json"))


@docs.get(ASSETS_PREFIX + "<name>")
def asset(name: str) -> Response:
    """One of Swagger UI's files.
    ---
    tags: [documentation]
    responses:
      "200":
        description: The file.
        content:
          text/css:
            schema: {type: string}
          text/javascript:
            schema: {type: string}
          image/png:
            schema: {type: string, format: binary}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    if name == INITIALIZER_NAME:
        return Response(INITIALIZER, mimetype="text/javascript")
    if name not in ASSETS:
        raise NotFound(f"no documentation asset {name!r}")
    return send_from_directory(asset_dir(), name, max_age=ASSET_MAX_AGE)


def _json(document: dict[str, Any]) -> Response:
    """A document in its own key order (``openapi``, ``info``, ``paths``...), not sorted."""
    return Response(json.dumps(document, ensure_ascii=False), mimetype="application/json")


def _html(text: str) -> Response:
    response = Response(text, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = content_security_policy(
        control_plane().settings.public_url
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
