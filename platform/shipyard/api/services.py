"""``/api/v1/services``: the service registry and each service's files."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from shipyard.api.context import control_plane, json_body
from shipyard.api.forms import form_json
from shipyard.archives import read_archive
from shipyard.errors import InvalidInput
from shipyard.services import ServiceSpec

__all__ = ["services"]

services = Blueprint("services", __name__)

ResponseValue = dict[str, Any] | tuple[dict[str, Any], int]


@services.get("")
def list_services() -> ResponseValue:
    return {"services": [s.to_dict() for s in control_plane().services.list()]}


@services.post("")
def create_service() -> ResponseValue:
    """Create from a template (JSON body) or an upload (multipart ``service``, ``archive``)."""
    registry = control_plane().services
    if request.mimetype == "multipart/form-data":
        spec = ServiceSpec.from_dict(form_json("service"))
        upload = request.files.get("archive")
        if upload is None:
            raise InvalidInput("multipart create needs an 'archive' file (zip or tar.gz)")
        files = read_archive(upload.read(), max_total_bytes=registry.max_files_bytes)
        service = registry.create(spec, files)
    else:
        service = registry.create(ServiceSpec.from_dict(json_body()))
    return service.to_dict(), 201


@services.get("/<ref>")
def get_service(ref: str) -> ResponseValue:
    """The service, what serves it now and each instance's health and usage."""
    plane = control_plane()
    return {**plane.services.get(ref).to_dict(), **plane.deployments.status(ref)}


@services.patch("/<ref>")
def update_service(ref: str) -> ResponseValue:
    return control_plane().services.update(ref, json_body()).to_dict()


@services.delete("/<ref>")
def delete_service(ref: str) -> tuple[str, int]:
    control_plane().services.delete(ref)
    return "", 204


@services.post("/<ref>/enable")
def enable_service(ref: str) -> ResponseValue:
    return control_plane().services.set_enabled(ref, True).to_dict()


@services.post("/<ref>/disable")
def disable_service(ref: str) -> ResponseValue:
    return control_plane().services.set_enabled(ref, False).to_dict()


@services.get("/<ref>/files")
def list_files(ref: str) -> ResponseValue:
    return {"files": [f.to_dict() for f in control_plane().services.list_files(ref)]}


@services.put("/<ref>/files")
def replace_files(ref: str) -> ResponseValue:
    """Replace every file with those of the zip or tar.gz archive in the body."""
    files = control_plane().services.replace_files(ref, request.get_data())
    return {"files": [f.to_dict() for f in files]}


@services.get("/<ref>/archive")
def download_archive(ref: str) -> Response:
    registry = control_plane().services
    name = registry.get(ref).name
    return Response(
        registry.archive(ref),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
    )


@services.get("/<ref>/files/<path:path>")
def read_file(ref: str, path: str) -> Response:
    content = control_plane().services.read_file(ref, path)
    return Response(content, mimetype="application/octet-stream")


@services.put("/<ref>/files/<path:path>")
def write_file(ref: str, path: str) -> ResponseValue:
    return control_plane().services.write_file(ref, path, request.get_data()).to_dict()


@services.delete("/<ref>/files/<path:path>")
def delete_file(ref: str, path: str) -> tuple[str, int]:
    control_plane().services.delete_file(ref, path)
    return "", 204

