"""A name with a NUL character (``%00`` in a URL) names nothing stored, on every database:
no stored name holds one (they are checked when made), and PostgreSQL refuses to look one
up, so such a lookup never becomes an internal error."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


def test_a_service_named_with_a_nul_is_not_found_and_matches_no_search(client: FlaskClient
                                                                      ) -> None:
    assert client.post("/api/v1/services", json={"name": "ab"}).status_code == 201
    answer = client.get("/api/v1/services/a%00b")
    assert answer.status_code == 404
    assert answer.get_json()["error"]["message"] == "no service 'a\\x00b'"
    listed = client.get("/api/v1/services?search=a%00b")
    assert listed.status_code == 200
    assert listed.get_json()["services"] == []


@pytest.mark.parametrize("path", ["/api/v1/models/a%00b", "/api/v1/batch-jobs/a%00b",
                                  "/iam/projects/a%00b"])
def test_other_lookups_with_a_nul_are_refused_or_not_found(client: FlaskClient, path: str
                                                          ) -> None:
    assert client.post("/api/v1/services", json={"name": "ab"}).status_code == 201
    answer = client.get(path)
    error = answer.get_json()["error"]
    assert (answer.status_code, error["type"]) in {(404, "NotFound"), (400, "InvalidInput")}
    if answer.status_code == 400:
        assert "NUL character" in error["message"]
