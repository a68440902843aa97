"""Yes-or-no query parameters are read one way by every view: the words a user may write
for yes and no are taken in any case, anything else is a 400 naming the parameter."""

from __future__ import annotations

import pytest

from shipyard.domain.query_flags import query_flag
from shipyard.errors import InvalidInput


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("1", True), ("yes", True), ("TRUE", True), ("Yes", True),
    ("false", False), ("0", False), ("no", False), ("False", False),
])
def test_the_words_for_yes_and_no(value: str, expected: bool) -> None:
    assert query_flag({"follow": value}, "follow") is expected


def test_an_absent_flag_is_none() -> None:
    assert query_flag({}, "follow") is None


@pytest.mark.parametrize("value", ["maybe", "", "on", "2", "true "])
def test_any_other_value_is_refused_by_name(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        query_flag({"redeploy": value}, "redeploy")
    assert str(refused.value) == f"'redeploy' must be true or false, not {value!r}"


@pytest.mark.parametrize("path", [
    "/iam/tokens?all=maybe",
    "/api/v1/services?enabled=maybe",
    "/api/v1/services/flags/builds/1/log?follow=maybe",
    "/api/v1/services/flags/builds/1/log?follow=",
])
def test_views_refuse_a_flag_that_is_no_yes_or_no(client, path: str) -> None:
    assert client.post("/api/v1/services", json={"name": "flags"}).status_code == 201
    answer = client.get(path)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    name, value = path.split("?")[1].split("=")
    assert answer.get_json()["error"]["message"] == (
        f"{name!r} must be true or false, not {value!r}")


def test_views_take_every_word_for_yes(client) -> None:
    assert client.get("/iam/tokens?all=1").status_code == 200
    assert client.get("/iam/tokens?all=YES").status_code == 200
    assert client.get("/api/v1/services?enabled=0").status_code == 200
