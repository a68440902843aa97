"""``/api/v1/services``: the service registry and each service's files."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from shipyard.api.callers import (
    current_caller,
    require_collaborator,
    require_reader,
    require_user,
    visible,
)
from shipyard.api.context import control_plane, json_body
from shipyard.api.forms import form_json
from shipyard.domain.archives import read_archive
from shipyard.domain.control_plane import ControlPlane
from shipyard.domain.query_flags import query_flag
from shipyard.domain.service_filters import ServiceFilter
from shipyard.domain.services import ServiceSpec
from shipyard.errors import InvalidInput, NotFound

__all__ = ["services"]

services = Blueprint("services", __name__)

ResponseValue = dict[str, Any] | tuple[dict[str, Any], int]


@services.get("")
def list_services() -> ResponseValue:
    """The services the caller may see, by name, or as the filters select.

    Filters combine; an unknown filter or value answers 400 naming it. Each service comes
    with its health now (``service_health``), its drift health (``drift_health``) and its
    accuracy health (``accuracy_health``), which the filters of the same names select on,
    and what serves it now (``live_generation``, ``mapping``).
    ---
    tags: [services]
    parameters:
      - {name: kind, in: query, schema: {type: string, enum: [custom, model]}}
      - name: state
        in: query
        schema:
          type: string
          enum: [stopped, building, starting, running, switching, stopping, failed]
      - {name: enabled, in: query, schema: {type: boolean}}
      - {name: deployed, in: query, schema: {type: boolean}}
      - {name: environment, in: query, description: a profile's name, schema: {type: string}}
      - name: runner
        in: query
        description: local, docker, swarm, or empty for the installation's own
        schema: {type: string}
      - {name: project, in: query, description: a project's name or id, schema: {type: string}}
      - name: search
        in: query
        description: words to find in the name or the description (case-insensitive)
        schema: {type: string, maxLength: 200}
      - name: service_health
        in: query
        description: one health status or several, separated by commas
        style: form
        explode: false
        schema:
          type: array
          minItems: 1
          items: {type: string, enum: [passing, warning, failing, unknown]}
      - name: drift_health
        in: query
        description: one drift health status or several, separated by commas
        style: form
        explode: false
        schema:
          type: array
          minItems: 1
          items: {type: string, enum: [passing, warning, failing, unknown]}
      - name: accuracy_health
        in: query
        description: one accuracy health status or several, separated by commas
        style: form
        explode: false
        schema:
          type: array
          minItems: 1
          items: {type: string, enum: [passing, warning, failing, unknown]}
      - name: order_by
        in: query
        schema:
          type: string
          enum: [name, -name, created_at, -created_at, updated_at, -updated_at, state]
          default: name
    responses:
      "200":
        description: The services.
        content:
          application/json:
            schema:
              type: object
              required: [services]
              properties:
                services:
                  type: array
                  items: {$ref: '#/components/schemas/ServiceListItem'}
      "400": {$ref: '#/components/responses/BadRequest'}
      default: {$ref: '#/components/responses/Error'}
    """
    caller = current_caller()
    plane = control_plane()
    filters = ServiceFilter.parse(
        request.args, environments=tuple(plane.environments.profiles),
        project_id=lambda ref: _project_id(plane, ref),
    )
    listed = [s for s in plane.services.list(filters) if visible(caller, s)]
    serving = plane.deployments.serving([s.id for s in listed])
    return {"services": [{**s.to_dict(), **serving[s.id]} for s in listed]}


def _project_id(plane: ControlPlane, ref: str) -> str:
    try:
        return plane.access.directory.get_project(ref).id
    except NotFound:
        raise InvalidInput(f"unknown project {ref!r}") from None


@services.post("")
def create_service() -> ResponseValue:
    """Create a service.

    From a template (a JSON body), or from an upload (multipart: ``service``, the same
    JSON as a string, and ``archive``, a zip or tar.gz of its files). The service starts
    disabled and undeployed.
    ---
    tags: [services]
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/ServiceSpec'}
        multipart/form-data:
          schema:
            type: object
            required: [service, archive]
            properties:
              service: {type: string, description: "the service's JSON (ServiceSpec)"}
              archive: {type: string, format: binary}
    responses:
      "201":
        description: The new service.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Service'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "409": {$ref: '#/components/responses/Conflict'}
      "413": {$ref: '#/components/responses/TooLarge'}
      default: {$ref: '#/components/responses/Error'}
    """
    plane = control_plane()
    registry = plane.services
    files = None
    if request.mimetype == "multipart/form-data":
        spec = ServiceSpec.from_dict(form_json("service"))
        upload = request.files.get("archive")
        if upload is None:
            raise InvalidInput("multipart create needs an 'archive' file (zip or tar.gz)")
        files = read_archive(upload.read(), max_total_bytes=registry.max_files_bytes)
    else:
        spec = ServiceSpec.from_dict(json_body())
    project_id = plane.access.directory.project_for_new_service(require_user(), spec.project)
    service = registry.create(spec, files, project_id=project_id)
    return service.to_dict(), 201


@services.get("/<ref>")
def get_service(ref: str) -> ResponseValue:
    """One service, its health, drift health and accuracy health, what serves it now and
    each instance.
    ---
    tags: [services]
    responses:
      "200":
        description: The service with its live and target generations and instances.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ServiceStatus'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_reader(ref)
    plane = control_plane()
    service = plane.services.get(ref, with_health=True)
    return {**service.to_dict(), **plane.deployments.status(ref),
            "secrets_waiting": plane.secrets.list(ref)["waiting"]}


@services.patch("/<ref>")
def update_service(ref: str) -> ResponseValue:
    """Change a service's name, description, environment,
    packages, access level, query-log settings, health thresholds or monitoring settings.

    ``health_thresholds`` and ``monitoring`` merge over the stored ones; a null puts one,
    or all of them, back to the defaults. A monitoring change counts from the next call
    folded, without a redeploy.
    ---
    tags: [services]
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/ServiceChanges'}
    responses:
      "200":
        description: The changed service.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Service'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().services.update(ref, json_body()).to_dict()


@services.get("/<ref>/env")
def get_variables(ref: str) -> ResponseValue:
    """A service's environment variables, as its next generation will have them (each
    generation keeps its own: see its ``env``).
    ---
    tags: [services]
    responses:
      "200":
        description: The variables, by name.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Variables'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_reader(ref)
    return {"env": control_plane().services.variables(ref)}


@services.put("/<ref>/env")
def set_variables(ref: str) -> ResponseValue:
    """Replace a service's environment variables. They go into the next generation
    deployed, as its files and packages do: what serves keeps its own until then, and a
    rollback brings back the variables the generation it returns to was made with.

    Names are POSIX names, none of those that change how the runtime starts (``PATH``,
    ``HOME``, ``TMPDIR``, ``PYTHON*``, ``LD_*``, ``SHIPYARD_*``, ``CUDA_VISIBLE_DEVICES``,
    ``GUNICORN_CMD_ARGS``, ``WEB_CONCURRENCY``); a value is text of at most 4 KiB, 100
    variables and 64 KiB in all. A problem answers 400 naming it, and changes nothing.
    ---
    tags: [services]
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/Variables'}
    responses:
      "200":
        description: The variables now stored.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Variables'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    body = json_body()
    if set(body) != {"env"}:
        raise InvalidInput('the body must be {"env": {"NAME": "value", ...}}')
    return {"env": control_plane().services.set_variables(ref, body["env"])}


@services.get("/<ref>/secrets")
def list_secrets(ref: str) -> ResponseValue:
    """A service's secrets: each one's name and when it was set, never its value; and
    ``waiting``, the ones set, changed or unset since the generation that serves was
    made (they take effect at the next deploy).
    ---
    tags: [services]
    responses:
      "200":
        description: The secrets' names.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/SecretList'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().secrets.list(ref)


@services.put("/<ref>/secrets/<name>")
def set_secret(ref: str, name: str) -> ResponseValue:
    """Set a secret of the service: sealed with the server key, never shown again, given to
    its code as the environment variable ``name`` from its next deploy on (``?redeploy=true``
    deploys at once). Names follow the variables' rules; a value is text of at most 4 KiB.
    ---
    tags: [services]
    parameters:
      - {name: name, in: path, required: true, schema: {type: string}}
      - {name: redeploy, in: query, schema: {type: boolean, default: false}}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [value]
            additionalProperties: false
            properties:
              value: {type: string, maxLength: 4096, writeOnly: true}
    responses:
      "200":
        description: The secret's name and when it was set; with redeploy, the generation.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/SecretSet'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    body = json_body()
    if set(body) != {"value"}:
        raise InvalidInput('the body must be {"value": "..."}')
    plane = control_plane()
    answer = plane.secrets.set(ref, name, body["value"])
    return {**answer, **_redeployed(plane, ref)}


@services.delete("/<ref>/secrets/<name>")
def unset_secret(ref: str, name: str) -> ResponseValue:
    """Unset a secret of the service, from its next deploy on (``?redeploy=true`` deploys
    at once).
    ---
    tags: [services]
    parameters:
      - {name: name, in: path, required: true, schema: {type: string}}
      - {name: redeploy, in: query, schema: {type: boolean, default: false}}
    responses:
      "200":
        description: Unset; with redeploy, the generation.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/SecretSet'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    plane = control_plane()
    plane.secrets.unset(ref, name)
    return {"name": name, **_redeployed(plane, ref)}


def _redeployed(plane: ControlPlane, ref: str) -> dict[str, Any]:
    """With ``?redeploy=true``, a new generation deployed: ``{"generation": ...}``."""
    if not query_flag(request.args, "redeploy"):
        return {}
    return {"generation": plane.deployments.deploy(ref).to_dict()}


@services.delete("/<ref>")
def delete_service(ref: str) -> tuple[str, int]:
    """Delete an undeployed service with its files and
    generations.
    ---
    tags: [services]
    responses:
      "204": {description: Deleted.}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    control_plane().services.delete(ref)
    return "", 204


@services.post("/<ref>/enable")
def enable_service(ref: str) -> ResponseValue:
    """Switch a service on: it may then be deployed.
    ---
    tags: [services]
    responses:
      "200":
        description: The service.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Service'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().services.set_enabled(ref, True).to_dict()


@services.post("/<ref>/disable")
def disable_service(ref: str) -> ResponseValue:
    """Switch a service off: the gateway refuses its calls.
    ---
    tags: [services]
    responses:
      "200":
        description: The service.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Service'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().services.set_enabled(ref, False).to_dict()


@services.get("/<ref>/files")
def list_files(ref: str) -> ResponseValue:
    """A service's files, with their sizes and hashes.
    ---
    tags: [services]
    responses:
      "200":
        description: The files.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/FileList'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return {"files": [f.to_dict() for f in control_plane().services.list_files(ref)]}


@services.put("/<ref>/files")
def replace_files(ref: str) -> ResponseValue:
    """Replace every file with those of a zip or tar.gz archive.
    ---
    tags: [services]
    requestBody:
      required: true
      content:
        application/octet-stream:
          schema: {type: string, format: binary}
        application/zip:
          schema: {type: string, format: binary}
    responses:
      "200":
        description: The new files.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/FileList'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      "413": {$ref: '#/components/responses/TooLarge'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    files = control_plane().services.replace_files(ref, request.get_data())
    return {"files": [f.to_dict() for f in files]}


@services.get("/<ref>/archive")
def download_archive(ref: str) -> Response:
    """Every file of a service, as a zip.
    ---
    tags: [services]
    responses:
      "200":
        description: The zip archive.
        content:
          application/zip:
            schema: {type: string, format: binary}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    registry = control_plane().services
    name = registry.get(ref).name
    return Response(
        registry.archive(ref),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
    )


@services.get("/<ref>/files/<path:path>")
def read_file(ref: str, path: str) -> Response:
    """One file of a service.
    ---
    tags: [services]
    responses:
      "200":
        description: The file's bytes.
        content:
          application/octet-stream:
            schema: {type: string, format: binary}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    content = control_plane().services.read_file(ref, path)
    return Response(content, mimetype="application/octet-stream")


@services.put("/<ref>/files/<path:path>")
def write_file(ref: str, path: str) -> ResponseValue:
    """Create or overwrite one file of a service.
    ---
    tags: [services]
    requestBody:
      required: true
      content:
        application/octet-stream:
          schema: {type: string, format: binary}
    responses:
      "200":
        description: The file written.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ServiceFile'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      "413": {$ref: '#/components/responses/TooLarge'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().services.write_file(ref, path, request.get_data()).to_dict()


@services.delete("/<ref>/files/<path:path>")
def delete_file(ref: str, path: str) -> tuple[str, int]:
    """Delete one file of a service.
    ---
    tags: [services]
    responses:
      "204": {description: Deleted.}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    control_plane().services.delete_file(ref, path)
    return "", 204

