"""A service's API keys: make, list, revoke (its collaborators only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shipyard.api.callers import current_caller, require_collaborator
from shipyard.api.context import control_plane, json_fields

__all__ = ["api_keys"]

api_keys = Blueprint("api_keys", __name__)


@api_keys.post("/<ref>/api-keys")
def create_api_key(ref: str) -> tuple[dict[str, Any], int]:
    """Make an API key that opens this service to whoever holds it (sent in the
    ``X-Api-Key`` header); the key is shown this once.
    ---
    tags: [iam]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            additionalProperties: false
            properties:
              name: {type: string, maxLength: 63, example: crm-app}
    responses:
      "201":
        description: The key's record and the key itself.
        content:
          application/json:
            schema:
              type: object
              required: [id, api_key]
              properties:
                id: {type: string}
                api_key: {type: string}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    body = json_fields("name", optional=True)
    new = control_plane().access.api_keys.create(
        service.id, body.get("name", ""), current_caller()
    )
    return {**new.key.to_dict(), "api_key": new.api_key}, 201


@api_keys.get("/<ref>/api-keys")
def list_api_keys(ref: str) -> dict[str, Any]:
    """The service's API keys, without the keys themselves.
    ---
    tags: [iam]
    responses:
      "200":
        description: The keys.
        content:
          application/json:
            schema:
              type: object
              properties:
                api_keys: {type: array, items: {type: object}}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    keys = control_plane().access.api_keys.list(service.id)
    return {"api_keys": [key.to_dict() for key in keys]}


@api_keys.delete("/<ref>/api-keys/<key_id>")
def revoke_api_key(ref: str, key_id: str) -> dict[str, Any]:
    """Revoke one of the service's API keys.
    ---
    tags: [iam]
    responses:
      "200":
        description: The revoked key.
        content:
          application/json:
            schema: {type: object}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    service = require_collaborator(ref)
    access = control_plane().access
    revoked = access.api_keys.revoke(service.id, key_id)
    access.authenticator.forget()
    return revoked.to_dict()
