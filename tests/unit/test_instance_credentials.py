"""An instance's access key lives as long as the instance: renewed while it runs (its
environment cannot be given a new one), revoked once it is gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from shipyard.domain.control_plane import ControlPlane
from shipyard.iam.access_keys import AccessKeys
from shipyard.store import AccessKeyRow, GenerationRow, InstanceRow, ServiceRow
from shipyard.supervisor.housekeeping import INSTANCE_CREDENTIALS_LIFETIME, Housekeeping
from tests.credentials import Credentials


@pytest.fixture
def plane(app: Flask, client: FlaskClient) -> ControlPlane:
    """Service ``svc`` deployed once (v1, its build pending), with instances i1 and i2."""
    assert client.post("/api/v1/services", json={"name": "svc"}).status_code == 201
    assert client.post("/api/v1/services/svc/enable").status_code == 200
    assert client.post("/api/v1/services/svc/deploy").status_code == 202
    plane: ControlPlane = app.extensions["shipyard"]
    with plane.store.writing() as session:
        service = session.scalars(select(ServiceRow).where(ServiceRow.name == "svc")).one()
        generation = session.scalars(select(GenerationRow)).one()
        for instance_id in ("i1", "i2"):
            session.add(InstanceRow(id=instance_id, service_id=service.id,
                                    generation_id=generation.id, state="running"))
    return plane


def issue(plane: ControlPlane, instance_id: str, lifetime: timedelta) -> tuple[str, str]:
    with plane.store.writing() as session:
        service_id = session.get_one(InstanceRow, instance_id).service_id
        key = plane.access.access_keys.issue_for_instance(
            session, service_id, instance_id, lifetime)
    return key.key.id, key.secret_access_key


def expiry(plane: ControlPlane, key_id: str) -> datetime | None:
    with plane.store.reading() as session:
        return session.get_one(AccessKeyRow, key_id).expires_at


def test_a_running_instance_keeps_its_key_past_its_first_lifetime(plane: ControlPlane) -> None:
    key_id, secret = issue(plane, "i1", timedelta(minutes=1))
    Housekeeping(plane.store, plane.settings).renew_instance_credentials()
    expires_at = expiry(plane, key_id)
    assert expires_at is not None
    assert expires_at - datetime.now(UTC) > INSTANCE_CREDENTIALS_LIFETIME - timedelta(minutes=1)
    resolved = plane.access.access_keys.resolve(key_id)
    assert resolved is not None and resolved[0] == secret


def test_an_adopted_instance_whose_key_lapsed_while_nobody_renewed_it_gets_it_back(
    plane: ControlPlane,
) -> None:
    key_id, _ = issue(plane, "i1", timedelta(seconds=-1))
    assert plane.access.access_keys.resolve(key_id) is None
    Housekeeping(plane.store, plane.settings).renew_instance_credentials()
    assert plane.access.access_keys.resolve(key_id) is not None


def test_the_key_of_an_instance_that_is_gone_is_revoked_and_stays_revoked(
    plane: ControlPlane,
) -> None:
    gone, _ = issue(plane, "i1", timedelta(hours=1))
    kept, _ = issue(plane, "i2", timedelta(hours=1))
    with plane.store.writing() as session:
        session.delete(session.get_one(InstanceRow, "i1"))
    with plane.store.writing() as session:
        assert AccessKeys.renew_for_instances(session, INSTANCE_CREDENTIALS_LIFETIME) == (1, 1)
    assert plane.access.access_keys.resolve(gone) is None
    assert plane.access.access_keys.resolve(kept) is not None
    # A revoked key is never renewed, even were its instance id to come back.
    with plane.store.writing() as session:
        instance = session.get_one(InstanceRow, "i2")
        session.add(InstanceRow(id="i1", service_id=instance.service_id,
                                generation_id=instance.generation_id, state="running"))
    with plane.store.writing() as session:
        assert AccessKeys.renew_for_instances(session, INSTANCE_CREDENTIALS_LIFETIME) == (1, 0)
    assert plane.access.access_keys.resolve(gone) is None


def test_user_keys_are_left_alone(plane: ControlPlane, admin_credentials: Credentials) -> None:
    before = expiry(plane, admin_credentials.access_key_id)
    with plane.store.writing() as session:
        assert AccessKeys.renew_for_instances(session, INSTANCE_CREDENTIALS_LIFETIME) == (0, 0)
    assert expiry(plane, admin_credentials.access_key_id) == before
    assert plane.access.access_keys.resolve(admin_credentials.access_key_id) is not None
