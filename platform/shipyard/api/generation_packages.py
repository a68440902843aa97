"""``/api/v1/services/<ref>/generations/...``: export a generation as a package, and import
one as a new generation that does not serve until the user says so."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from shipyard.api.callers import require_collaborator
from shipyard.api.context import control_plane

__all__ = ["generation_packages"]

generation_packages = Blueprint("generation_packages", __name__)


@generation_packages.get("/<ref>/generations/<tag>/package")
def export_generation(ref: str, tag: str) -> Response:
    """A generation as a package: its code under ``code/`` and a
    ``shipyard-generation.json`` manifest (kind, environment, packages, model version,
    the code's sha256).
    ---
    tags: [deployments]
    responses:
      "200":
        description: The package, a zip.
        content:
          application/zip:
            schema: {type: string, format: binary}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    name, package = control_plane().generation_packages.export(ref, tag)
    return Response(
        package, mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@generation_packages.post("/<ref>/generations/import")
def import_generation(ref: str) -> tuple[dict[str, Any], int]:
    """Import a package (an exported generation) as the service's next generation.

    Everything is checked before anything is stored; the new generation is built, but
    what serves does not change: switch, map traffic or roll back to it afterwards.
    ---
    tags: [deployments]
    requestBody:
      required: true
      content:
        application/octet-stream:
          schema: {type: string, format: binary}
        application/zip:
          schema: {type: string, format: binary}
    responses:
      "201":
        description: >-
          The new generation, its build pending; settings_missing names the variables and
          secrets the package's generation ran with that this service does not set.
        content:
          application/json:
            schema:
              allOf:
                - {$ref: '#/components/schemas/Generation'}
                - type: object
                  properties:
                    settings_missing: {type: array, items: {type: string}}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      "413": {$ref: '#/components/responses/TooLarge'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    generation, missing = control_plane().generation_packages.import_(ref, request.get_data())
    return {**generation.to_dict(), "settings_missing": missing}, 201
