"""The documentation step of a build: a generation's OpenAPI document.

After a generation builds, its runner lists the app's routes and docstrings inside the
service's own environment (the control plane never imports user code); this step turns
them, with the components the service ships (``openapi-components.yaml``), into a
validated document. It never fails a build: every problem becomes a ``warning:`` line in
the build log, and the document holds what could be documented.

Why here: this is the build's step; the document's assembly is ``document``'s and
apispec's.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.openapi.document import build_document
from shipyard.openapi.model_service import (
    HEALTH_PATH,
    METADATA_FILE,
    PREDICT_PATH,
    example_record,
    model_operations,
    read_metadata,
)
from shipyard.openapi.service_components import COMPONENTS_FILE, read_components
from shipyard_runners import Artifact, LogSink, Route, Runner

if TYPE_CHECKING:
    from shipyard.domain.models import ModelRegistry

__all__ = ["GenerationFacts", "document_generation", "model_baseline"]

log = logging.getLogger(__name__)

WARNING = "warning: "
_TEMPLATE_ROUTES = (
    Route(PREDICT_PATH, "predict", "POST"),
    Route(HEALTH_PATH, "health", "GET"),
)


@dataclass(frozen=True)
class GenerationFacts:
    """What a generation's document is built from, besides its routes."""

    service_name: str
    tag: str
    kind: str
    description: str
    code_dir: Path
    baseline: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


def document_generation(
    runner: Runner, artifact: Artifact, facts: GenerationFacts, line: LogSink
) -> dict[str, Any] | None:
    """The generation's document (None only when something unexpected broke)."""
    line("documenting the app's routes")
    try:
        routes, problem = _list_routes(runner, artifact, line)
        if problem:
            line(f"{WARNING}{problem}")
        overrides: dict[tuple[str, str], dict[str, Any]] = {}
        if facts.kind == "model":
            overrides = _model_overrides(facts, line)
            if problem and overrides:
                routes = _TEMPLATE_ROUTES
        shipped = read_components(facts.code_dir)
        for warning in shipped.warnings:
            line(WARNING + warning)
        if shipped.count:
            line(f"{COMPONENTS_FILE}: {shipped.count} shared component(s)")
        built = build_document(
            _info(facts), routes, overrides=overrides, components=shipped.components
        )
        for warning in built.warnings:
            line(WARNING + warning)
        if built.unresolved and not shipped.count:
            line(f"{WARNING}shared schemas that docstrings $ref go in {COMPONENTS_FILE}, "
                 "next to the app (see the README's Documentation section)")
        count = sum(len(item) for item in built.document["paths"].values())
        line(f"documented {count} operation(s) of {facts.service_name} {facts.tag}")
        return built.document
    except Exception as exc:
        log.exception("documenting %s %s crashed", facts.service_name, facts.tag)
        line(f"{WARNING}no documentation: internal error: {type(exc).__name__}: {exc}")
        return None


def model_baseline(
    models: ModelRegistry, model_version: str | None, limit: int = 50
) -> list[dict[str, Any]]:
    """The first baseline records of a model version (``name:number``), for examples."""
    if not model_version or ":" not in model_version:
        return []
    name, _, number = model_version.rpartition(":")
    try:
        records: Iterable[Mapping[str, Any]] = models.baseline(name, int(number))
    except (ShipyardError, ValueError):
        return []
    return [dict(record) for record in itertools.islice(records, limit)]


def _list_routes(
    runner: Runner, artifact: Artifact, line: LogSink
) -> tuple[tuple[Route, ...], str]:
    try:
        listed = runner.routes(artifact, line)
    except ShipyardError as exc:
        return (), f"the routes could not be listed: {exc.message}"
    return listed.routes, listed.problem


def _info(facts: GenerationFacts) -> dict[str, Any]:
    info: dict[str, Any] = {"title": facts.service_name, "version": facts.tag}
    kind = "model service" if facts.kind == "model" else "service"
    info["description"] = facts.description or f"The Shipyard {kind} {facts.service_name}."
    return info


def _model_overrides(
    facts: GenerationFacts, line: LogSink
) -> dict[tuple[str, str], dict[str, Any]]:
    path = facts.code_dir / METADATA_FILE
    try:
        metadata = read_metadata(path.read_bytes())
    except OSError:
        metadata = None
    if metadata is None:
        line(f"{WARNING}{METADATA_FILE} is missing or unreadable; "
             "the predict route is documented from its docstring")
        return {}
    example, answer = example_record(metadata, facts.baseline)
    target = metadata.get("target") or ""
    targets = [row.get(target) for row in facts.baseline if target]
    return model_operations(metadata, facts.service_name, example, answer, targets)
