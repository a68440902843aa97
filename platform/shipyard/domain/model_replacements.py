"""Replacing the model version a model service serves, with a reason, after a validation.

A replacement compares the new model version with the one the service serves
(``shipyard.domain.model_checks``). A failing comparison blocks it: the attempt is recorded as
``blocked`` and ``ReplacementBlocked`` (409) names the failing checks; nothing is
deployed. Otherwise the service's files are rendered around the new version and deployed
as a new generation, and the replacement is ``validating`` until the supervisor's
promotion gate (``shipyard.supervisor.replacement_gate``) has seen the new model predict on a
healthy instance: it then ends ``replaced`` (the generation serves) or ``failed`` (the old
generation keeps serving).

A generation that never reaches the gate (its build fails, it never becomes healthy,
another deploy or an undeploy supersedes it) ends its replacement as ``failed`` when the
replacement is next read; the reason comes from the generation and the service's status.

The states::

    blocked                       (static validation failing; nothing deployed)
    validating ──► replaced       (the new generation serves)
               └─► failed         (build failed, never healthy, failed the gate, superseded)
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.deployments import BuildState
from shipyard.domain.generation_refs import generation_numbers, tag_in, tag_of
from shipyard.domain.model_checks import (
    PREDICTS_CHECK,
    WARNING,
    Check,
    Validation,
    static_checks,
    validate_reason,
)
from shipyard.domain.models import ModelRegistry, find_model_version, split_model_version
from shipyard.domain.services import find_service
from shipyard.domain.validation import forbidden_character
from shipyard.errors import Conflict, InvalidInput, NotFound, ReplacementBlocked, ServiceDisabled
from shipyard.store import GenerationRow, ModelReplacementRow, ServiceRow, Store

__all__ = [
    "ModelReplacement", "ModelReplacements", "ReplacementPlan", "ReplacementState",
    "end_replacement",
]

MAX_NOTE_LENGTH = 2000


class ReplacementState:
    VALIDATING = "validating"
    REPLACED = "replaced"
    FAILED = "failed"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class ReplacementPlan:
    """What a replacement would do: the versions it swaps and their static validation."""

    service: str
    from_model_version: str
    to_model_version: str
    validation: Validation

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service, "from_model_version": self.from_model_version,
            "to_model_version": self.to_model_version, "validation": self.validation.to_dict(),
        }


@dataclass(frozen=True)
class ModelReplacement:
    id: str
    service: str
    created_at: datetime
    created_by: str
    reason: str
    note: str
    from_model_version: str | None
    to_model_version: str
    generation: str | None
    validation: dict[str, Any]
    state: str
    message: str
    finished_at: datetime | None

    @classmethod
    def from_row(
        cls, row: ModelReplacementRow, service: str, generation: str | None
    ) -> ModelReplacement:
        return cls(
            id=row.id, service=service, created_at=row.created_at, created_by=row.created_by,
            reason=row.reason, note=row.note, from_model_version=row.from_model_version,
            to_model_version=row.to_model_version, generation=generation,
            validation=dict(row.validation), state=row.state, message=row.message,
            finished_at=row.finished_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "service": self.service, "created_at": self.created_at.isoformat(),
            "created_by": self.created_by, "reason": self.reason, "note": self.note,
            "from_model_version": self.from_model_version,
            "to_model_version": self.to_model_version, "generation": self.generation,
            "validation": self.validation, "state": self.state, "message": self.message,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class ModelReplacements:
    def __init__(self, store: Store, models: ModelRegistry) -> None:
        self.store = store
        self.models = models

    def validate(self, ref: str, model: str, version: int | None = None) -> ReplacementPlan:
        """The static validation of replacing ``ref``'s model by ``model`` (a dry run)."""
        with self.store.reading() as session:
            return _plan(session, find_service(session, ref), model, version)

    def replace(
        self, ref: str, model: str, version: int | None, reason: str, note: str = "",
        caller_label: str = "",
    ) -> ModelReplacement:
        """Validate, then deploy ``model`` (version ``version``, default the newest) in
        place of the model ``ref`` serves. Raises ``ReplacementBlocked`` when a static
        check fails (the blocked attempt stays on record)."""
        reason = validate_reason(reason)
        note = _validate_note(note)
        with self.store.writing() as session:
            service = find_service(session, ref)
            plan = _plan(session, service, model, version)
            if not service.enabled:
                raise ServiceDisabled(
                    f"service {service.name!r} is disabled; enable it before replacing its model"
                )
            blocked = bool(plan.validation.failing)
            row = ModelReplacementRow(
                id="rep_" + uuid.uuid4().hex[:16], service_id=service.id,
                created_at=_now(), created_by=caller_label, reason=reason, note=note,
                from_model_version=plan.from_model_version,
                to_model_version=plan.to_model_version, generation_id=None,
                validation=plan.validation.to_dict(),
                state=ReplacementState.BLOCKED if blocked else ReplacementState.VALIDATING,
                message=_blocked_message(plan) if blocked else "",
                finished_at=_now() if blocked else None,
            )
            session.add(row)
            replacement_id, service_name = row.id, service.name
            environment = service.environment
        if blocked:
            raise ReplacementBlocked(f"replacement {replacement_id}: {_blocked_message(plan)}")
        name, number = split_model_version(plan.to_model_version)
        try:
            _, generation = self.models.deploy(
                name, number, service=service_name, environment=environment
            )
        except Exception as exc:
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self._finish(replacement_id, ReplacementState.FAILED, f"not deployed: {message}")
            raise
        # The build takes seconds, so the gate finds this link before the generation is
        # healthy; a generation that serves without the gate is reported as such.
        with self.store.writing() as session:
            row = session.get_one(ModelReplacementRow, replacement_id)
            row.generation_id = generation.id
            return ModelReplacement.from_row(row, service_name, generation.tag)

    def history(self, ref: str) -> list[ModelReplacement]:
        """Every replacement of ``ref``'s model, newest first."""
        self._settle(ref)
        with self.store.reading() as session:
            service = find_service(session, ref)
            rows = session.scalars(
                select(ModelReplacementRow).where(ModelReplacementRow.service_id == service.id)
                .order_by(ModelReplacementRow.created_at.desc(), ModelReplacementRow.id)
            ).all()
            numbers = generation_numbers(session, service.id)
            return [
                ModelReplacement.from_row(row, service.name, tag_in(numbers, row.generation_id))
                for row in rows
            ]

    def get(self, ref: str, replacement_id: str) -> ModelReplacement:
        self._settle(ref)
        with self.store.reading() as session:
            service = find_service(session, ref)
            row = session.get(ModelReplacementRow, replacement_id)
            if row is None or row.service_id != service.id:
                raise NotFound(
                    f"service {service.name!r} has no model replacement {replacement_id!r}"
                )
            generation = (session.get(GenerationRow, row.generation_id)
                          if row.generation_id else None)
            tag = tag_of(generation.number) if generation is not None else None
            return ModelReplacement.from_row(row, service.name, tag)

    def _finish(self, replacement_id: str, state: str, message: str) -> None:
        with self.store.writing() as session:
            end_replacement(session.get_one(ModelReplacementRow, replacement_id), state, message)

    def _settle(self, ref: str) -> None:
        """End the ``validating`` replacements whose generation can no longer reach the
        gate (or went live without it)."""
        with self.store.reading() as session:
            service = find_service(session, ref)
            pending = session.scalar(
                select(ModelReplacementRow.id).where(
                    ModelReplacementRow.service_id == service.id,
                    ModelReplacementRow.state == ReplacementState.VALIDATING,
                ).limit(1)
            )
        if pending is None:
            return
        with self.store.writing() as session:
            service = find_service(session, ref)
            for row in session.scalars(
                select(ModelReplacementRow).where(
                    ModelReplacementRow.service_id == service.id,
                    ModelReplacementRow.state == ReplacementState.VALIDATING,
                    ModelReplacementRow.generation_id.is_not(None),
                )
            ):
                settle_replacement(session, service, row)


def settle_replacement(session: Session, service: ServiceRow, row: ModelReplacementRow) -> None:
    """Decide a ``validating`` replacement from its generation's fate, if it has one."""
    generation = session.get(GenerationRow, row.generation_id) if row.generation_id else None
    if generation is None:
        end_replacement(row, ReplacementState.FAILED, "its generation no longer exists")
        return
    tag = tag_of(generation.number)
    if generation.build_state == BuildState.FAILED:
        end_replacement(row, ReplacementState.FAILED,
                        f"the build of {tag} failed: {generation.build_error}")
    elif service.live_generation_id == generation.id:
        check = Check(PREDICTS_CHECK, WARNING, f"not checked: {tag} went live before the check ran")
        row.validation = Validation.from_dict(row.validation).with_check(check).to_dict()
        end_replacement(row, ReplacementState.REPLACED, f"{tag} serves {row.to_model_version}")
    elif service.target_generation_id != generation.id:
        if service.target_generation_id is None and not service.deployed:
            why = "the service was undeployed"
        elif re.search(rf"\b{tag}\b", service.status_message):  # v1, not v12
            why = service.status_message
        else:
            why = "another deploy took its place"
        end_replacement(row, ReplacementState.FAILED, f"{tag} did not go live: {why}")


def end_replacement(row: ModelReplacementRow, state: str, message: str) -> None:
    """Give ``row`` its final ``state`` and ``message``, now."""
    row.state, row.message, row.finished_at = state, message, _now()


def _plan(
    session: Session, service: ServiceRow, model: str, version: int | None
) -> ReplacementPlan:
    if service.kind != "model":
        raise Conflict(f"service {service.name!r} is a {service.kind} service, not a model service")
    if not isinstance(model, str) or not model:
        raise InvalidInput("name the model to replace with ('model')")
    current = _serving_model_version(session, service)
    old_name, old_number = split_model_version(current)
    try:
        old = find_model_version(session, old_name, old_number)
    except NotFound as exc:
        raise Conflict(
            f"service {service.name!r} serves model version {current}, which no longer exists"
        ) from exc
    new = find_model_version(session, model, version)
    validation = static_checks(old.details, new.details, same_file=old.sha256 == new.sha256)
    return ReplacementPlan(
        service=service.name, from_model_version=current,
        to_model_version=f"{model}:{new.version}", validation=validation,
    )


def _serving_model_version(session: Session, service: ServiceRow) -> str:
    """The model version of the generation that serves (else the one that should)."""
    for generation_id in (service.live_generation_id, service.target_generation_id):
        generation = session.get(GenerationRow, generation_id) if generation_id else None
        if generation is not None and generation.model_version:
            return generation.model_version
    raise Conflict(
        f"service {service.name!r} serves no model version yet: deploy one first "
        "(shipyard models deploy MODEL --service NAME)"
    )


def _blocked_message(plan: ReplacementPlan) -> str:
    failing = "; ".join(f"{c.name}: {c.message}" for c in plan.validation.failing)
    return (
        f"replacing {plan.from_model_version} by {plan.to_model_version} on "
        f"{plan.service!r} is blocked by failing checks: {failing}"
    )


def _validate_note(note: Any) -> str:
    if note is None:
        return ""
    if not isinstance(note, str):
        raise InvalidInput("'note' must be a string")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput(f"'note' may be at most {MAX_NOTE_LENGTH} characters")
    character = forbidden_character(note.replace("\n", " ").replace("\t", " "))
    if character:
        raise InvalidInput(f"'note' contains the control character {character!r}")
    return note


def _now() -> datetime:
    return datetime.now(UTC)
