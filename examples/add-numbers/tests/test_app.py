"""Tests for the add-numbers service; run them with ``python -m pytest``."""

import pytest
from app import app


@pytest.fixture
def client():
    return app.test_client()


def test_adds_two_numbers(client):
    response = client.post("/add-numbers", json={"num1": 2, "num2": 5})
    assert response.status_code == 200
    assert response.get_json() == 7


def test_adds_decimals(client):
    response = client.post("/add-numbers", json={"num1": 0.5, "num2": 1.25})
    assert response.get_json() == 1.75


def test_missing_field_is_a_400(client):
    response = client.post("/add-numbers", json={"num1": 2})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["type"] == "InvalidInput"
    assert "num2" in error["message"]


def test_text_is_not_a_number(client):
    response = client.post("/add-numbers", json={"num1": "2", "num2": 5})
    assert response.status_code == 400
    assert "num1" in response.get_json()["error"]["message"]
