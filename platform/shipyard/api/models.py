"""``/api/v1/models``: upload trained models, list their versions, deploy them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from shipyard.api.callers import (
    require_collaborator,
    require_model_collaborator,
    require_user,
)
from shipyard.api.context import control_plane, json_body
from shipyard.api.forms import form_json
from shipyard.errors import Conflict, InvalidInput, NotFound

__all__ = ["models"]

models = Blueprint("models", __name__)


@models.post("")
def upload_model() -> tuple[dict[str, Any], int]:
    """Upload a trained model as a new version.

    Multipart: ``model``, the joblib or pickle file (the control plane never opens it),
    and ``metadata``, JSON with the name, features, target, problem type, packages,
    description and baseline records, and for a new model its ``project`` (default:
    yours). A new version of a model is its project's collaborators' to upload.
    ---
    tags: [models]
    requestBody:
      required: true
      content:
        multipart/form-data:
          schema:
            type: object
            required: [model, metadata]
            properties:
              model: {type: string, format: binary}
              metadata: {type: string, description: the model's metadata as JSON}
    responses:
      "201":
        description: The new version.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ModelVersion'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "409": {$ref: '#/components/responses/Conflict'}
      "413": {$ref: '#/components/responses/TooLarge'}
      default: {$ref: '#/components/responses/Error'}
    """
    caller = require_user()
    metadata = form_json("metadata")
    upload = request.files.get("model")
    if upload is None:
        raise InvalidInput("the upload needs a 'model' file")
    name = metadata.get("name")
    if not isinstance(name, str):
        raise InvalidInput("the metadata needs a 'name' string")
    requested = metadata.pop("project", None)
    if requested is not None and not isinstance(requested, str):
        raise InvalidInput("'project' must be a project's name or id")
    plane = control_plane()
    try:
        project_id = require_model_collaborator(name)
    except NotFound:  # a new model
        project_id = plane.access.directory.project_for_new_service(caller, requested)
    else:
        if requested is not None and project_id != plane.access.directory.get_project(requested).id:
            raise Conflict(f"model {name!r} belongs to another project; its versions stay there")
    version = plane.models.upload(name, upload.read(), metadata, project_id=project_id)
    return version.to_dict(), 201


@models.get("")
def list_models() -> dict[str, Any]:
    """Every model, with its newest version and version count.
    ---
    tags: [models]
    responses:
      "200":
        description: The models.
        content:
          application/json:
            schema:
              type: object
              required: [models]
              properties:
                models:
                  type: array
                  items:
                    type: object
                    properties:
                      name: {type: string}
                      project_id: {type: string, nullable: true}
                      latest_version: {type: integer}
                      versions: {type: integer}
      default: {$ref: '#/components/responses/Error'}
    """
    caller = require_user()
    return {"models": control_plane().models.list(None if caller.is_admin else caller.projects)}


@models.get("/<name>")
def list_versions(name: str) -> dict[str, Any]:
    """Every version of a model.
    ---
    tags: [models]
    responses:
      "200":
        description: The versions, oldest first.
        content:
          application/json:
            schema:
              type: object
              required: [versions]
              properties:
                versions:
                  type: array
                  items: {$ref: '#/components/schemas/ModelVersion'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_model_collaborator(name)
    return {"versions": [v.to_dict() for v in control_plane().models.versions(name)]}


@models.get("/<name>/versions/<int:version>")
def get_version(name: str, version: int) -> dict[str, Any]:
    """One version of a model.
    ---
    tags: [models]
    responses:
      "200":
        description: The version.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ModelVersion'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_model_collaborator(name)
    return control_plane().models.get(name, version).to_dict()


@models.get("/<name>/versions/<int:version>/baseline")
def get_baseline(name: str, version: int) -> dict[str, Any]:
    """The baseline records stored with a model version.
    ---
    tags: [models]
    responses:
      "200":
        description: The records.
        content:
          application/json:
            schema:
              type: object
              required: [records]
              properties:
                records: {type: array, items: {type: object}}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_model_collaborator(name)
    return {"records": control_plane().models.baseline(name, version)}


@models.post("/<name>/deploy")
def deploy_model(name: str) -> tuple[dict[str, Any], int]:
    """Create or update the model service of a version (default: the
    newest) and deploy it.
    ---
    tags: [models]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              version: {type: integer}
              service: {type: string, description: "the service's name (default: the model's)"}
              environment: {type: string}
              project: {type: string, description: "a new service's project (default: yours)"}
    responses:
      "202":
        description: The service's name and its new generation.
        content:
          application/json:
            schema:
              type: object
              required: [service, generation]
              properties:
                service: {type: string}
                generation: {$ref: '#/components/schemas/Generation'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    body = json_body() if request.content_length else {}
    version = body.get("version")
    if version is not None and not isinstance(version, int):
        raise InvalidInput("'version' must be a number")
    project = body.get("project")
    if project is not None and not isinstance(project, str):
        raise InvalidInput("'project' must be a project's name or id")
    plane = control_plane()
    caller = require_user()
    require_model_collaborator(name)
    service, generation = plane.models.deploy(
        name, version, service=body.get("service"), environment=body.get("environment"),
        project_id=plane.access.directory.project_for_new_service(caller, project),
        authorize=lambda existing: require_collaborator(existing.id),
    )
    return {"service": service, "generation": generation.to_dict()}, 202
