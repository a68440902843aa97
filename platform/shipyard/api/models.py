"""``/api/v1/models``: upload trained models, list their versions, deploy them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from shipyard.api.context import control_plane, json_body
from shipyard.api.forms import form_json
from shipyard.errors import InvalidInput

__all__ = ["models"]

models = Blueprint("models", __name__)


@models.post("")
def upload_model() -> tuple[dict[str, Any], int]:
    """Multipart: ``model`` (the joblib/pickle file) and ``metadata`` (JSON: name,
    features, target, problem_type, packages, description, baseline records)."""
    metadata = form_json("metadata")
    upload = request.files.get("model")
    if upload is None:
        raise InvalidInput("the upload needs a 'model' file")
    name = metadata.get("name")
    if not isinstance(name, str):
        raise InvalidInput("the metadata needs a 'name' string")
    version = control_plane().models.upload(name, upload.read(), metadata)
    return version.to_dict(), 201


@models.get("")
def list_models() -> dict[str, Any]:
    return {"models": control_plane().models.list()}


@models.get("/<name>")
def list_versions(name: str) -> dict[str, Any]:
    return {"versions": [v.to_dict() for v in control_plane().models.versions(name)]}


@models.get("/<name>/versions/<int:version>")
def get_version(name: str, version: int) -> dict[str, Any]:
    return control_plane().models.get(name, version).to_dict()


@models.get("/<name>/versions/<int:version>/baseline")
def get_baseline(name: str, version: int) -> dict[str, Any]:
    return {"records": control_plane().models.baseline(name, version)}


@models.post("/<name>/deploy")
def deploy_model(name: str) -> tuple[dict[str, Any], int]:
    """Create or update the model service for a version (default: the newest), deploy it."""
    body = json_body() if request.content_length else {}
    version = body.get("version")
    if version is not None and not isinstance(version, int):
        raise InvalidInput("'version' must be a number")
    service, generation = control_plane().models.deploy(
        name, version, service=body.get("service"), environment=body.get("environment")
    )
    return {"service": service, "generation": generation.to_dict()}, 202
