"""The supervisor's promotion gate for model replacements: does the new model predict?

When the new generation of a ``validating`` replacement has a healthy instance, and before
it takes traffic, the gate posts a sample of the baseline records (the serving model's,
else the new one's; the first ``SAMPLE_SIZE`` records that hold every feature, without
the target) straight to that instance's predict route. One prediction per record, from
the expected model version, passes; anything else fails the check, which gives the
generation up (the old one keeps serving) and ends the replacement ``failed``. A model
with no usable baseline record warns: the instance is healthy, so the model loaded, but
it was not asked to predict.

The gate runs inside the supervisor's write transaction, so its call has a short timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.deployments import tag_of
from shipyard.errors import NotFound
from shipyard.model_checks import FAILING, PASSING, PREDICTS_CHECK, WARNING, Check, Validation
from shipyard.model_replacements import ReplacementState
from shipyard.models import find_model_version, split_model_version
from shipyard.store import GenerationRow, ModelReplacementRow, ServiceRow

__all__ = ["PREDICT_PATH", "SAMPLE_SIZE", "ReplacementGate", "baseline_sample", "predict_check"]

PREDICT_PATH = "/api/v1.0/predict/"
SAMPLE_SIZE = 20
TIMEOUT = 10.0

Post = Callable[[str, list[dict[str, Any]], float], requests.Response]


def _post(url: str, records: list[dict[str, Any]], timeout: float) -> requests.Response:
    return requests.post(url, json=records, timeout=timeout)


class ReplacementGate:
    """A ``shipyard.supervisor.PromotionGate``."""

    def __init__(self, *, timeout: float = TIMEOUT, post: Post = _post) -> None:
        self.timeout = timeout
        self.post = post

    def __call__(
        self, session: Session, service: ServiceRow, generation: GenerationRow,
        address: tuple[str, int],
    ) -> str | None:
        row = session.scalar(
            select(ModelReplacementRow).where(
                ModelReplacementRow.generation_id == generation.id,
                ModelReplacementRow.state == ReplacementState.VALIDATING,
            )
        )
        if row is None:
            return None
        features = _features(session, row.to_model_version)
        records = baseline_sample(_baselines(session, row), features)
        name, number = split_model_version(row.to_model_version)
        host, port = address
        check = predict_check(
            lambda sample: self.post(f"http://{host}:{port}{PREDICT_PATH}", sample, self.timeout),
            records, expected={"name": name, "version": str(number)}, timeout=self.timeout,
        )
        validation = Validation.from_dict(row.validation).with_check(check)
        row.validation = validation.to_dict()
        row.finished_at = datetime.now(UTC)
        tag = tag_of(generation.number)
        if validation.status == FAILING:
            row.state = ReplacementState.FAILED
            row.message = f"{tag} failed the check {check.name!r}: {check.message}"
            return f"failed the model replacement check {check.name!r}: {check.message}"
        row.state = ReplacementState.REPLACED
        row.message = f"{tag} serves {row.to_model_version}"
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
