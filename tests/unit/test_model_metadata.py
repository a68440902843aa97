"""A model's metadata is checked before anything is stored: its baseline records must be
records the predict route would take, and its target is not one of its features."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from shipyard.errors import InvalidInput

FEATURES = [{"name": "size", "type": "number"}, {"name": "legs", "type": "integer"},
            {"name": "colour", "type": "string"}, {"name": "wild", "type": "boolean"}]
GOOD = {"size": 1.5, "legs": 4, "colour": "red", "wild": False, "kind": "cat"}


def upload(app: Flask, baseline: list[dict[str, Any]], **changes: Any) -> Any:
    metadata = {"features": FEATURES, "target": "kind", "problem_type": "classification",
                "baseline": baseline, **changes}
    return app.extensions["shipyard"].models.upload("animals", b"model", metadata)


def test_a_baseline_of_well_typed_records_is_kept(app: Flask) -> None:
    integral = {**GOOD, "legs": 2.0}
    assert upload(app, [GOOD, integral]).baseline_rows == 2


@pytest.mark.parametrize(("record", "message"), [
    ({k: v for k, v in GOOD.items() if k != "legs"}, "baseline record 1 lacks the feature(s) "
                                                     "['legs']"),
    ({**GOOD, "size": "big"}, "feature 'size' must be a finite number, not 'big'"),
    ({**GOOD, "legs": 2.5}, "feature 'legs' must be an integer, not 2.5"),
    ({**GOOD, "colour": 3}, "feature 'colour' must be a string, not 3"),
    ({**GOOD, "wild": 1}, "feature 'wild' must be true or false, not 1"),
    ({**GOOD, "size": True}, "feature 'size' must be a finite number, not True"),
    ({**GOOD, "size": None}, "feature 'size' must be a finite number, not None"),
    ({**GOOD, "size": float("nan")}, "feature 'size' must be a finite number, not nan"),
])
def test_a_baseline_record_the_predict_route_would_refuse_is_refused(
    app: Flask, record: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        upload(app, [GOOD, record])
    assert message in refused.value.message
    assert app.extensions["shipyard"].models.list() == []


def test_a_target_named_like_a_feature_is_refused(app: Flask) -> None:
    with pytest.raises(InvalidInput, match="the target 'size' is also named as a feature"):
        upload(app, [], target="size")
