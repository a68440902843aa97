"""``/api/v1/services/<ref>/model-replacements``: replace a model service's model version
with a reason, after a validation, and read the history of replacements."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shipyard.api.callers import current_caller, require_collaborator, require_model_collaborator
from shipyard.api.context import control_plane, json_fields
from shipyard.errors import InvalidInput

__all__ = ["model_replacements"]

model_replacements = Blueprint("model_replacements", __name__)


@model_replacements.post("/<ref>/model-replacements")
def replace_model(ref: str) -> tuple[dict[str, Any], int]:
    """Replace the model version a model service serves.

    The new version is first compared with the serving one (same features, target and
    problem type). A failing check blocks the replacement: it is recorded as ``blocked``
    and the answer is a 409 ``ReplacementBlocked`` naming the failing checks. Otherwise a
    new generation is deployed and the replacement is ``validating`` until the new model
    has predicted on its baseline sample on a healthy instance; it then ends ``replaced``
    (the new generation serves) or ``failed`` (the old one keeps serving).
    ---
    tags: [models]
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/ModelReplacementRequest'}
    responses:
      "202":
        description: The replacement; its generation is building.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ModelReplacement'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    body = json_fields("model", "version", "reason", "note")
    model, version = _model_and_version(body)
    require_model_collaborator(model)
    replacement = control_plane().replacements.replace(
        ref, model, version, body.get("reason"), body.get("note") or "",
        caller_label=current_caller().label,
    )
    return replacement.to_dict(), 202


@model_replacements.post("/<ref>/model-replacements/validate")
def validate_replacement(ref: str) -> dict[str, Any]:
    """Run a replacement's static checks only (a dry run: nothing is recorded).
    ---
    tags: [models]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [model]
            additionalProperties: false
            properties:
              model: {type: string, example: iris}
              version: {type: integer, description: "default: the newest"}
    responses:
      "200":
        description: The versions the replacement would swap, and their validation.
        content:
          application/json:
            schema:
              type: object
              required: [service, from_model_version, to_model_version, validation]
              properties:
                service: {type: string}
                from_model_version: {type: string, example: "iris:1"}
                to_model_version: {type: string, example: "iris:2"}
                validation: {$ref: '#/components/schemas/ReplacementValidation'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    model, version = _model_and_version(json_fields("model", "version"))
    require_model_collaborator(model)
    return control_plane().replacements.validate(ref, model, version).to_dict()


@model_replacements.get("/<ref>/model-replacements")
def list_replacements(ref: str) -> dict[str, Any]:
    """The history of a model service's model replacements, newest first.
    ---
    tags: [models]
    responses:
      "200":
        description: The replacements.
        content:
          application/json:
            schema:
              type: object
              required: [replacements]
              properties:
                replacements:
                  type: array
                  items: {$ref: '#/components/schemas/ModelReplacement'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    found = control_plane().replacements.history(ref)
    return {"replacements": [r.to_dict() for r in found]}


@model_replacements.get("/<ref>/model-replacements/<replacement_id>")
def get_replacement(ref: str, replacement_id: str) -> dict[str, Any]:
    """One model replacement of a service.
    ---
    tags: [models]
    responses:
      "200":
        description: The replacement.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ModelReplacement'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().replacements.get(ref, replacement_id).to_dict()


def _model_and_version(body: dict[str, Any]) -> tuple[str, int | None]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidInput("'model' must name the model to replace with")
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidInput("'version' must be a model version number")
    return model, version
