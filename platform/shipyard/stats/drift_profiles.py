"""The stored drift profiles: one per model generation of a service (``drift_profiles``).

A generation's profile is made from its model's baseline (a model version's, or the one
a custom service's files declare: ``generation_model``) the first time it is needed (by
the supervisor's fold, or when the supervisor takes the model's predictions on the
baseline, ``save_profile``), and kept: a generation's baseline never changes, so neither
do the bins its live rows were counted in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.manifest import MANIFEST_NAME
from shipyard.domain.models import find_model_version, split_model_version
from shipyard.errors import InvalidInput, NotFound
from shipyard.openapi.model_service import PREDICT_PATH
from shipyard.stats.drift_profile import DriftProfile, profile_from_baseline
from shipyard.store import DriftProfileRow, GenerationRow

__all__ = ["GenerationModel", "generation_model", "load_profile", "model_details",
           "save_profile", "stored_profiles"]

_TAG = re.compile(r"v([1-9][0-9]*)")


@dataclass(frozen=True)
class GenerationModel:
    """What a generation serves as a model: a model version's (``model_version``) or what a
    custom service's files declare (``interface``)."""

    details: dict[str, Any]
    """Its features, target and problem type."""
    baseline: list[dict[str, Any]]
    predict_path: str
    source: str
    """``name:number`` for a model version, ``shipyard.yaml`` for a declaration."""


def generation_model(session: Session, service_id: str, generation: str
                     ) -> GenerationModel | None:
    """What ``generation`` (a tag) serves as a model; None for a plain custom generation, or
    one whose model version is gone."""
    match = _TAG.fullmatch(generation)
    if match is None:
        return None
    row = session.scalar(select(GenerationRow).where(
        GenerationRow.service_id == service_id, GenerationRow.number == int(match.group(1))))
    if row is None:
        return None
    if row.model_version is not None:
        try:
            name, number = split_model_version(row.model_version)
            version = find_model_version(session, name, number)
        except (InvalidInput, NotFound):
            return None
        return GenerationModel(dict(version.details), list(version.baseline), PREDICT_PATH,
                               row.model_version)
    if row.interface is not None:
        declared = row.interface
        details = {key: declared[key] for key in ("features", "target", "problem_type")}
        return GenerationModel(details, list(declared.get("baseline") or []),
                               declared.get("predict_path") or PREDICT_PATH, MANIFEST_NAME)
    return None


def load_profile(session: Session, service_id: str, generation: str) -> DriftProfile | None:
    """The profile of ``generation`` (a tag), made and stored now if it has none yet; None
    for a generation without a model or a baseline."""
    row = session.get(DriftProfileRow, (service_id, generation))
    if row is not None:
        return DriftProfile.from_dict(row.profile)
    model = generation_model(session, service_id, generation)
    if model is None or not model.baseline:
        return None
    profile = profile_from_baseline(model.details["features"],
                                    model.details.get("problem_type", ""), model.baseline)
    save_profile(session, service_id, generation, model.source, profile)
    return profile


def stored_profiles(session: Session, service_id: str) -> dict[str, DriftProfile]:
    """Every stored profile of a service, by generation tag."""
    return {
        row.generation: DriftProfile.from_dict(row.profile)
        for row in session.scalars(
            select(DriftProfileRow).where(DriftProfileRow.service_id == service_id))
    }


def save_profile(session: Session, service_id: str, generation: str, source: str,
                 profile: DriftProfile) -> None:
    row = session.get(DriftProfileRow, (service_id, generation))
    if row is None:
        session.add(DriftProfileRow(service_id=service_id, generation=generation,
                                    model_version=source, profile=profile.to_dict()))
    else:
        row.profile = profile.to_dict()
    session.flush()


def model_details(session: Session, service_id: str, generation: str) -> dict[str, Any] | None:
    """The details (features, target, problem type) of what ``generation`` serves as a
    model; None for a generation without one."""
    model = generation_model(session, service_id, generation)
    return None if model is None else model.details
