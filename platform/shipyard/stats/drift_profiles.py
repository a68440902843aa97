"""The stored drift profiles: one per model generation of a service (``drift_profiles``).

A generation's profile is made from its model version's baseline the first time it is
needed (by the supervisor's fold, or when the supervisor takes the model's predictions on
the baseline, ``save_profile``), and kept: a model version's baseline never changes, so
neither do the bins its live rows were counted in.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.models import find_model_version, split_model_version
from shipyard.errors import InvalidInput, NotFound
from shipyard.stats.drift_profile import DriftProfile, profile_from_baseline
from shipyard.store import DriftProfileRow, GenerationRow

__all__ = ["baseline_profile", "generation_model_version", "load_profile", "model_details",
           "save_profile", "stored_profiles"]

_TAG = re.compile(r"v([1-9][0-9]*)")


def load_profile(session: Session, service_id: str, generation: str) -> DriftProfile | None:
    """The profile of ``generation`` (a tag), made and stored now if it has none yet; None
    for a generation without a model (or whose model version is gone)."""
    row = session.get(DriftProfileRow, (service_id, generation))
    if row is not None:
        return DriftProfile.from_dict(row.profile)
    model_version = generation_model_version(session, service_id, generation)
    if model_version is None:
        return None
    profile = baseline_profile(session, model_version)
    if profile is None:
        return None
    save_profile(session, service_id, generation, model_version, profile)
    return profile


def stored_profiles(session: Session, service_id: str) -> dict[str, DriftProfile]:
    """Every stored profile of a service, by generation tag."""
    return {
        row.generation: DriftProfile.from_dict(row.profile)
        for row in session.scalars(
            select(DriftProfileRow).where(DriftProfileRow.service_id == service_id))
    }


def save_profile(session: Session, service_id: str, generation: str, model_version: str,
                 profile: DriftProfile) -> None:
    row = session.get(DriftProfileRow, (service_id, generation))
    if row is None:
        session.add(DriftProfileRow(service_id=service_id, generation=generation,
                                    model_version=model_version, profile=profile.to_dict()))
    else:
        row.profile = profile.to_dict()
    session.flush()


def generation_model_version(session: Session, service_id: str, generation: str) -> str | None:
    match = _TAG.fullmatch(generation)
    if match is None:
        return None
    return session.scalar(select(GenerationRow.model_version).where(
        GenerationRow.service_id == service_id, GenerationRow.number == int(match.group(1))))


def model_details(session: Session, service_id: str, generation: str) -> dict[str, Any] | None:
    """The details (features, target, problem type) of the model ``generation`` serves;
    None for a generation without one."""
    model_version = generation_model_version(session, service_id, generation)
    if model_version is None:
        return None
    try:
        name, number = split_model_version(model_version)
        return dict(find_model_version(session, name, number).details)
    except (InvalidInput, NotFound):
        return None


def baseline_profile(session: Session, model_version: str) -> DriftProfile | None:
    """The features-only profile of ``model_version`` (``name:number``) from its
    baseline; None when it is gone or has no baseline."""
    try:
        name, number = split_model_version(model_version)
        row = find_model_version(session, name, number)
    except (InvalidInput, NotFound):
        return None
    if not row.baseline:
        return None
    details = row.details
    return profile_from_baseline(details["features"], details.get("problem_type", ""),
                                 row.baseline)
