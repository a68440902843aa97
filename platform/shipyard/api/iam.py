"""Identity and access: who am I, access keys, users and projects (``/iam``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from shipyard.api.callers import current_caller, require_user
from shipyard.api.context import control_plane, json_fields
from shipyard.domain.query_flags import query_flag
from shipyard.errors import Forbidden, InvalidInput

__all__ = ["iam"]

iam = Blueprint("iam", __name__)


@iam.get("/whoami")
def whoami() -> dict[str, Any]:
    """Who the request's credentials stand for.
    ---
    tags: [iam]
    responses:
      "200":
        description: The caller.
        content:
          application/json:
            schema:
              type: object
              required: [kind, id, name, is_admin, projects]
              properties:
                kind: {type: string, enum: [user, service, api_key]}
                id: {type: string}
                name: {type: string}
                is_admin: {type: boolean}
                projects: {type: array, items: {type: string}}
      "401": {$ref: '#/components/responses/Unauthorized'}
      default: {$ref: '#/components/responses/Error'}
    """
    caller = current_caller()
    return {"kind": caller.kind, "id": caller.id, "name": caller.name,
            "is_admin": caller.is_admin, "projects": sorted(caller.projects)}


@iam.post("/tokens")
def create_token() -> tuple[dict[str, Any], int]:
    """Create an access key for the calling user; its secret is shown this once.
    ---
    tags: [iam]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            additionalProperties: false
            properties:
              expires_in: {type: integer, minimum: 60, description: "seconds (default: never)"}
              description: {type: string, maxLength: 256}
    responses:
      "201":
        description: The new key with its secret, and the scope to sign for.
        content:
          application/json:
            schema:
              type: object
              required: [access_key_id, secret_access_key, region, service]
              properties:
                access_key_id: {type: string}
                secret_access_key: {type: string}
                region: {type: string, example: us-east-1}
                service: {type: string, example: execute-api}
                expires_at: {type: string, format: date-time, nullable: true}
      "400": {$ref: '#/components/responses/BadRequest'}
      "401": {$ref: '#/components/responses/Unauthorized'}
      "403": {$ref: '#/components/responses/Forbidden'}
      default: {$ref: '#/components/responses/Error'}
    """
    caller = require_user()
    body = json_fields("expires_in", "description", optional=True)
    plane = control_plane()
    new = plane.access.access_keys.create(
        caller.id, expires_in=body.get("expires_in"), description=body.get("description", ""),
    )
    settings = plane.settings
    return {**new.key.to_dict(), "secret_access_key": new.secret_access_key,
            "region": settings.region, "service": settings.signing_service}, 201


@iam.get("/tokens")
def list_tokens() -> dict[str, Any]:
    """The calling user's access keys (every user's with ``?all=true``, for an
    administrator); never their secrets.
    ---
    tags: [iam]
    parameters:
      - {name: all, in: query, schema: {type: boolean}}
    responses:
      "200":
        description: The keys.
        content:
          application/json:
            schema:
              type: object
              properties:
                tokens: {type: array, items: {type: object}}
      "401": {$ref: '#/components/responses/Unauthorized'}
      default: {$ref: '#/components/responses/Error'}
    """
    caller = require_user()
    everyone = bool(query_flag(request.args, "all"))
    if everyone and not caller.is_admin:
        raise Forbidden("only an administrator may list every user's keys")
    keys = control_plane().access.access_keys.list(caller, everyone=everyone)
    return {"tokens": [key.to_dict() for key in keys]}


@iam.delete("/tokens/<key_id>")
def revoke_token(key_id: str) -> dict[str, Any]:
    """Revoke one of the calling user's access keys (any key, for an administrator).
    ---
    tags: [iam]
    responses:
      "200":
        description: The revoked key.
        content:
          application/json:
            schema: {type: object}
      "401": {$ref: '#/components/responses/Unauthorized'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    access = control_plane().access
    revoked = access.access_keys.revoke(key_id, require_user())
    access.authenticator.forget()
    return revoked.to_dict()


@iam.post("/users")
def create_user() -> tuple[dict[str, Any], int]:
    """Create a user (administrators only), with a project of their name and a first
    access key, whose secret is shown this once.
    ---
    tags: [iam]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [name]
            additionalProperties: false
            properties:
              name: {type: string, example: alice}
              is_admin: {type: boolean, default: false}
    responses:
      "201":
        description: The user and their first access key.
        content:
          application/json:
            schema: {type: object}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    _require_admin()
    body = json_fields("name", "is_admin")
    is_admin = body.get("is_admin", False)
    if not isinstance(is_admin, bool):
        raise InvalidInput("'is_admin' must be true or false")
    plane = control_plane()
    user = plane.access.directory.create_user(body.get("name"), is_admin=is_admin)
    new = plane.access.access_keys.create(user.id, description="first key")
    settings = plane.settings
    return {"user": user.to_dict(), "access_key_id": new.key.id,
            "secret_access_key": new.secret_access_key, "region": settings.region,
            "service": settings.signing_service}, 201


@iam.get("/users")
def list_users() -> dict[str, Any]:
    """Every user (administrators only).
    ---
    tags: [iam]
    responses:
      "200":
        description: The users.
        content:
          application/json:
            schema:
              type: object
              properties:
                users: {type: array, items: {type: object}}
      "403": {$ref: '#/components/responses/Forbidden'}
      default: {$ref: '#/components/responses/Error'}
    """
    _require_admin()
    return {"users": [user.to_dict() for user in control_plane().access.directory.list_users()]}


@iam.post("/projects")
def create_project() -> tuple[dict[str, Any], int]:
    """Create a project; the calling user is its first member.
    ---
    tags: [iam]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [name]
            additionalProperties: false
            properties:
              name: {type: string, example: fraud-team}
    responses:
      "201":
        description: The project.
        content:
          application/json:
            schema: {type: object}
      "400": {$ref: '#/components/responses/BadRequest'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    body = json_fields("name")
    project = control_plane().access.directory.create_project(body.get("name"), require_user())
    return project.to_dict(), 201


@iam.get("/projects")
def list_projects() -> dict[str, Any]:
    """The projects the calling user is a member of (all of them, for an administrator).
    ---
    tags: [iam]
    responses:
      "200":
        description: The projects with their members.
        content:
          application/json:
            schema:
              type: object
              properties:
                projects: {type: array, items: {type: object}}
      default: {$ref: '#/components/responses/Error'}
    """
    projects = control_plane().access.directory.list_projects(require_user())
    return {"projects": [project.to_dict() for project in projects]}


@iam.put("/projects/<project>/members/<user>")
def add_member(project: str, user: str) -> dict[str, Any]:
    """Make a user a collaborator of a project (its members and administrators only).
    ---
    tags: [iam]
    responses:
      "200":
        description: The project with its members.
        content:
          application/json:
            schema: {type: object}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    access = control_plane().access
    found = access.directory.add_member(project, user, require_user())
    access.authenticator.forget()
    return found.to_dict()


@iam.delete("/projects/<project>/members/<user>")
def remove_member(project: str, user: str) -> dict[str, Any]:
    """Remove a collaborator from a project (its members and administrators only).
    ---
    tags: [iam]
    responses:
      "200":
        description: The project with its members.
        content:
          application/json:
            schema: {type: object}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    access = control_plane().access
    found = access.directory.remove_member(project, user, require_user())
    access.authenticator.forget()
    return found.to_dict()


def _require_admin() -> None:
    if not require_user().is_admin:
        raise Forbidden("only an administrator may manage users")
