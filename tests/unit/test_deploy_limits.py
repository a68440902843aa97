"""A deploy answers how long its generation may take to serve or be given up, from the
control plane's own limits, so a client knows how long to wait."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from shipyard import Settings
from shipyard.domain.deploy_limits import settle_limit


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", port=0, start_timeout=7, database_url=database_url)


def deploy_answer(client: FlaskClient) -> dict:
    assert client.post("/api/v1/services", json={"name": "svc"}).status_code == 201
    assert client.post("/api/v1/services/svc/enable").status_code == 200
    answer = client.post("/api/v1/services/svc/deploy")
    assert answer.status_code == 202
    return answer.get_json()


def test_a_deploy_answers_its_generation_and_when_it_settles(client: FlaskClient) -> None:
    answer = deploy_answer(client)
    assert answer["tag"] == "v1" and answer["build_state"] == "pending"
    # A build may install packages for 30 min, then check the import and list the routes
    # for 5 min each; then the instance has start_timeout (7 s here) to become healthy.
    assert answer["settles_within"] > 30 * 60 + 2 * 5 * 60 + 7


def test_the_start_timeout_setting_moves_it(tmp_path: Path) -> None:
    quick = settle_limit(Settings(home=tmp_path / "a", port=0, start_timeout=7))
    slow = settle_limit(Settings(home=tmp_path / "b", port=0, start_timeout=300))
    assert slow - quick == 293
