"""``DriftReferences``: the model's own predictions on its baseline, the reference of
target drift, asked of the generation's instance (only instances run a model).

As a promotion gate it runs before a new generation of a monitored model service takes
traffic, so that its first scored rows already count against the reference; it never
keeps a generation out (drift is monitoring, not a check), and a failure is logged and
tried again later. ``take_due`` does the same, off the loop, for generations serving
without one: a challenger (gates are asked only about mapped generations), or one that
served before Shipyard took references.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from sqlalchemy import select

from shipyard.domain.generation_refs import tag_of
from shipyard.openapi.model_service import IMPORTANCE_PATH
from shipyard.stats.accuracy_metrics import metrics_of
from shipyard.stats.accuracy_rollup import rollup_for
from shipyard.stats.drift_profiles import (
    GenerationModel,
    generation_model,
    load_profile,
    save_profile,
)
from shipyard.stats.monitoring_settings import monitoring_of
from shipyard.store import GenerationRow, InstanceRow, ServiceRow, Store
from shipyard.supervisor.replacement_gate import Post, post_records
from shipyard.supervisor.rollout import wanted_generations
from shipyard_runners import State

__all__ = ["DriftReferences"]

log = logging.getLogger(__name__)

CHUNK = 1000
"""Baseline records per predict call."""
TIMEOUT = 30.0
RETRY_AFTER = 300.0
"""Seconds before a generation whose reference could not be taken is tried again."""
DUE_INTERVAL = 10.0
IMPORTANCE_ROWS = 2000
"""Baseline records the instance permutes for importance, where its model has none."""



class DriftReferences:
    """A ``shipyard.supervisor.PromotionGate`` that always lets the generation serve."""

    def __init__(self, *, timeout: float = TIMEOUT, post: Post = post_records) -> None:
        self.timeout = timeout
        self.post = post
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="drift-reference")
        self._lock = threading.Lock()
        self._tried: dict[str, float] = {}
        self._last_due = 0.0

    def __call__(
        self, store: Store, service_id: str, generation_id: str, address: tuple[str, int]
    ) -> str | None:
        self.take(store, service_id, generation_id, address)
        return None

    def take(
        self, store: Store, service_id: str, generation_id: str, address: tuple[str, int]
    ) -> bool:
        """Take the reference of one generation unless it has one; whether it has one."""
        with self._lock:
            self._tried[generation_id] = time.monotonic()
        with store.writing() as session:
            service = session.get(ServiceRow, service_id)
            generation = session.get(GenerationRow, generation_id)
            if service is None or generation is None \
                    or not monitoring_of(service).tracks_drift:
                return False
            tag = tag_of(generation.number)
            profile = load_profile(session, service_id, tag)
            model = generation_model(session, service_id, tag)
            if profile is None or model is None:
                return False
            if profile.prediction is not None:
                return True
            records, targets = _baseline_records(model)
            kind = service.kind
        host, port = address
        predictions: list[Any] = []
        try:
            for start in range(0, len(records), CHUNK):
                predictions.extend(self._predict(f"http://{host}:{port}{model.predict_path}",
                                                 records[start:start + CHUNK]))
        except (requests.RequestException, ValueError) as exc:
            log.warning("could not take the drift reference of %s %s: %s", service_id, tag, exc)
            return False
        importance = None
        if kind == "model":  # the model-service template's route
            importance = self._importance(f"http://{host}:{port}{IMPORTANCE_PATH}", records,
                                          [slot.name for slot in profile.features])
        problem = str(model.details.get("problem_type") or "")
        with store.writing() as session:
            current = load_profile(session, service_id, tag)
            if current is None or current.prediction is not None:
                return current is not None
            save_profile(session, service_id, tag, model.source,
                         current.with_predictions(
                             predictions, importance,
                             baseline_accuracy(problem, targets, predictions)))
        log.info("took the drift reference of %s %s: %d predictions on its baseline",
                 service_id, tag, len(predictions))
        return True

    def take_due(self, store: Store) -> None:
        """Queue the generations that serve (or take copies) without a reference."""
        now = time.monotonic()
        if now - self._last_due < DUE_INTERVAL:
            return
        self._last_due = now
        due: list[tuple[str, str, tuple[str, int]]] = []
        with store.reading() as session:
            for service in session.scalars(select(ServiceRow).where(ServiceRow.deployed)):
                if not monitoring_of(service).tracks_drift:
                    continue
                for generation_id in wanted_generations(session, service):
                    if service.kind != "model" and session.scalar(select(
                            GenerationRow.interface).where(GenerationRow.id == generation_id)
                    ) is None:
                        continue  # a custom generation that declares no model
                    with self._lock:
                        tried = self._tried.get(generation_id)
                    if tried is not None and now - tried < RETRY_AFTER:
                        continue
                    handle = session.scalars(select(InstanceRow.handle).where(
                        InstanceRow.generation_id == generation_id,
                        InstanceRow.state == State.HEALTHY.value)).first()
                    if handle:
                        due.append((service.id, generation_id, (handle["host"], handle["port"])))
        for service_id, generation_id, address in due:
            with self._lock:
                self._tried[generation_id] = now
            self._pool.submit(self._take_quietly, store, service_id, generation_id, address)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _take_quietly(self, store: Store, service_id: str, generation_id: str,
                      address: tuple[str, int]) -> None:
        try:
            self.take(store, service_id, generation_id, address)
        except Exception:
            log.exception("taking the drift reference of %s failed", generation_id)

    def _importance(self, url: str, records: list[dict[str, Any]],
                    features: list[str]) -> dict[str, float] | None:
        """The features' importance as the instance tells it; None when it cannot (a
        service rendered before the route existed, or a model it fails on)."""
        try:
            answer = self.post(url, records[:IMPORTANCE_ROWS], self.timeout)
            body = answer.json() if answer.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None
        importance = body.get("importance") if isinstance(body, dict) else None
        if not isinstance(importance, dict) or set(importance) != set(features) or not all(
            isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) for value in importance.values()
        ):
            return None
        return {name: float(value) for name, value in importance.items()}

    def _predict(self, url: str, records: list[dict[str, Any]]) -> list[Any]:
        answer = self.post(url, records, self.timeout)
        if answer.status_code != 200:
            raise ValueError(f"the predict route answered {answer.status_code}")
        body = answer.json()
        predictions = body.get("predictions") if isinstance(body, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(records):
            raise ValueError(f"no prediction per record for {len(records)} baseline records")
        return predictions


def _baseline_records(model: GenerationModel) -> tuple[list[dict[str, Any]], list[Any]]:
    """The baseline's records with their features only (a predict route refuses the
    target), and the target of each (None where it has none)."""
    features = [feature["name"] for feature in model.details["features"]]
    target = model.details.get("target") or ""
    records = [{name: record[name] for name in features} for record in model.baseline]
    targets = [record.get(target) if target else None for record in model.baseline]
    return records, targets


def baseline_accuracy(problem: str, targets: list[Any], predictions: list[Any]
                      ) -> dict[str, Any] | None:
    """The model's metrics on its own baseline, where the baseline holds the target: what
    accuracy health compares the live accuracy with. None without targets."""
    if problem not in ("classification", "regression") or any(t is None for t in targets) \
            or not targets:
        return None
    rollup = rollup_for(problem)
    try:
        for target, prediction in zip(targets, predictions, strict=True):
            rollup.add(target, prediction)
    except ValueError as exc:
        log.warning("no accuracy on the baseline: %s", exc)
        return None
    return {name: value for name, value in metrics_of(rollup).items()
            if not isinstance(value, dict)}
