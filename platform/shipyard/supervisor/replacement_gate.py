"""The supervisor's promotion gate for model replacements: does the new model predict?

When the new generation of a ``validating`` replacement has a healthy instance, and before
it takes traffic, the gate posts a sample of the baseline records (the serving model's,
else the new one's; the first ``SAMPLE_SIZE`` records that hold every feature, without
the target) straight to that instance's predict route. One prediction per record, from
the expected model version, passes; anything else fails the check, which gives the
generation up (the old one keeps serving) and ends the replacement ``failed``. A model
with no usable baseline record warns: the instance is healthy, so the model loaded, but
it was not asked to predict.

The gate runs outside the supervisor's transactions (reading what it needs, calling, then
writing the outcome), so a slow predict route never holds the store; its call still has a
timeout. Asked again about a generation it failed, it answers the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.domain.generation_refs import tag_of
from shipyard.domain.model_checks import (
    FAILING,
    PASSING,
    PREDICTS_CHECK,
    WARNING,
    Check,
    Validation,
)
from shipyard.domain.model_replacements import ReplacementState, end_replacement
from shipyard.domain.models import find_model_version, split_model_version
from shipyard.errors import NotFound
from shipyard.openapi.model_service import PREDICT_PATH
from shipyard.store import GenerationRow, ModelReplacementRow, Store

__all__ = ["SAMPLE_SIZE", "Post", "ReplacementGate", "baseline_sample", "post_records",
           "predict_check"]

SAMPLE_SIZE = 20
TIMEOUT = 10.0

Post = Callable[[str, list[dict[str, Any]], float], requests.Response]


def post_records(url: str, records: list[dict[str, Any]], timeout: float) -> requests.Response:
    """Records to an instance's route, straight (the gates' and references' call)."""
    return requests.post(url, json=records, timeout=timeout)


class ReplacementGate:
    """A ``shipyard.supervisor.PromotionGate``."""

    def __init__(self, *, timeout: float = TIMEOUT, post: Post = post_records) -> None:
        self.timeout = timeout
        self.post = post

    def __call__(
        self, store: Store, service_id: str, generation_id: str, address: tuple[str, int]
    ) -> str | None:
        with store.reading() as session:
            row = session.scalar(
                select(ModelReplacementRow).where(
                    ModelReplacementRow.generation_id == generation_id,
                    ModelReplacementRow.state.in_(
                        (ReplacementState.VALIDATING, ReplacementState.FAILED)
                    ),
                )
            )
            if row is None:
                return None
            if row.state == ReplacementState.FAILED:
                # Asked again (a restart, a later mapping): the same answer.
                return _failed_check(row)
            replacement_id, to_model_version = row.id, row.to_model_version
            features = _features(session, to_model_version)
            records = baseline_sample(_baselines(session, row), features)
            tag = tag_of(session.get_one(GenerationRow, generation_id).number)
        name, number = split_model_version(to_model_version)
        host, port = address
        # The call runs outside any transaction: the store stays free meanwhile.
        check = predict_check(
            lambda sample: self.post(f"http://{host}:{port}{PREDICT_PATH}", sample, self.timeout),
            records, expected={"name": name, "version": str(number)}, timeout=self.timeout,
        )
        with store.writing() as session:
            row = session.get(ModelReplacementRow, replacement_id)
            if row is None or row.state != ReplacementState.VALIDATING:
                return None  # settled meanwhile (another deploy took its place)
            validation = Validation.from_dict(row.validation).with_check(check)
            row.validation = validation.to_dict()
            if validation.status == FAILING:
                end_replacement(row, ReplacementState.FAILED,
                                f"{tag} failed the check {check.name!r}: {check.message}")
                return _problem(check)
            end_replacement(row, ReplacementState.REPLACED, f"{tag} serves {row.to_model_version}")
            return None


def baseline_sample(
    baselines: Sequence[Sequence[Mapping[str, Any]]], features: Sequence[str],
    size: int = SAMPLE_SIZE,
) -> list[dict[str, Any]]:
    """Up to ``size`` records of the first baseline that has any holding every feature,
    each with the features only (no target)."""
    for baseline in baselines:
        complete = [
            {name: record[name] for name in features}
            for record in baseline if all(name in record for name in features)
        ]
        if complete:
            return complete[:size]
    return []


def predict_check(
    call: Callable[[list[dict[str, Any]]], requests.Response],
    records: list[dict[str, Any]], *, expected: Mapping[str, str], timeout: float = TIMEOUT,
) -> Check:
    """Ask for predictions of ``records`` and judge the answer."""
    if not records:
        return Check(
            PREDICTS_CHECK, WARNING,
            "the model loads (its instance is healthy), but no baseline record holds every "
            "feature, so it was not asked to predict",
        )
    started = time.monotonic()
    try:
        answer = call(records)
    except requests.Timeout:
        return Check(PREDICTS_CHECK, FAILING, f"the predict route did not answer in {timeout:g}s")
    except requests.RequestException as exc:
        return Check(PREDICTS_CHECK, FAILING, f"the predict route could not be reached: {exc}")
    elapsed = (time.monotonic() - started) * 1000
    if answer.status_code != 200:
        return Check(
            PREDICTS_CHECK, FAILING,
            f"the predict route answered {answer.status_code}: {_error_text(answer)}",
        )
    try:
        body = answer.json()
    except ValueError:
        return Check(PREDICTS_CHECK, FAILING, "the predict route answered something not JSON")
    predictions = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(predictions, list) or len(predictions) != len(records):
        count = len(predictions) if isinstance(predictions, list) else "no"
        return Check(
            PREDICTS_CHECK, FAILING,
            f"{count} predictions for {len(records)} baseline records",
        )
    served = body.get("model")
    if isinstance(served, dict) and {k: str(served.get(k)) for k in expected} != dict(expected):
        return Check(
            PREDICTS_CHECK, FAILING,
            f"the instance serves model {served.get('name')}:{served.get('version')}, "
            f"not {expected['name']}:{expected['version']}",
        )
    return Check(
        PREDICTS_CHECK, PASSING,
        f"{len(records)} predictions for {len(records)} baseline records in {elapsed:.0f} ms",
    )


def _problem(check: Check) -> str:
    return f"failed the model replacement check {check.name!r}: {check.message}"


def _failed_check(row: ModelReplacementRow) -> str | None:
    """The problem of a replacement that failed this gate's check; None when it failed
    for another reason (its build, a later deploy), which is not this gate's to repeat."""
    for check in Validation.from_dict(row.validation).failing:
        if check.name == PREDICTS_CHECK:
            return _problem(check)
    return None


def _features(session: Session, model_version: str) -> list[str]:
    name, number = split_model_version(model_version)
    details = find_model_version(session, name, number).details
    return [feature["name"] for feature in details.get("features", [])]


def _baselines(session: Session, row: ModelReplacementRow) -> list[list[dict[str, Any]]]:
    """The serving version's baseline, then the new version's."""
    found = []
    for ref in (row.from_model_version, row.to_model_version):
        if not ref:
            continue
        name, number = split_model_version(ref)
        try:
            found.append(list(find_model_version(session, name, number).baseline))
        except NotFound:
            continue
    return found


def _error_text(answer: requests.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text.strip()[:300] or answer.reason
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    return answer.text.strip()[:300]
