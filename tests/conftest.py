"""Fixtures shared by every test: a clean environment, settings, the app and its client,
and a really running control plane.

Tests run on the two databases Shipyard supports: the embedded SQLite (``[sqlite]``) and a
real PostgreSQL (``[postgresql]``): one cluster per test process, started on first use
(``tests.postgres``), and a fresh database per test (``database_url``) or per module
(``module_database_url``), copied from one migrated once. Every test that asks for
``database`` (itself, or through ``settings``, ``app``, ``client``, ``database_url``,
``store_url`` or the ``shipyard`` fixture) runs on both; so do the end-to-end tests
that start ``shipyard up`` themselves and pass it ``database_url`` or
``module_database_url``: every one of them but the swarm runner's, which runs on
PostgreSQL alone, as the nodes of several machines would share it. A test about SQLite
itself (its files, its locks) is marked ``sqlite_only(reason)``. Where PostgreSQL is not
installed (Debian: ``apt-get install postgresql``), the ``[postgresql]`` variants skip,
saying so.

The suite runs on pytest-xdist workers (``pyproject.toml``), a module at a time on one
worker (its shared control plane starts once); the docker runner's modules all on one
(``tests.integration.docker_engine.ON_THE_ENGINE``), and the swarm runner's all on one
(``tests.integration.swarm_engine.IN_THE_SWARM``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from shipyard import Settings, create_app
from shipyard_sdk import Client
from tests.credentials import Credentials, SigningClient
from tests.postgres import PostgresCluster, running_cluster

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """No test sees the developer's Shipyard settings, or writes to their ~/.shipyard."""
    for name in list(os.environ):
        if name.startswith("SHIPYARD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path_factory.mktemp("default-home")))


DATABASES = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): a test of SQLite itself, not run on PostgreSQL")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each module's tests on one xdist worker unless it names a group of its own."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that asks for ``database`` (itself or through a fixture) once per
    database by the rule of this module's docstring, grouped by database within its
    module (so that a module's shared control plane starts once per database)."""
    if "database" not in metafunc.fixturenames:
        return
    if any("database" in marker.args[0] for marker in metafunc.definition.iter_markers(
            "parametrize") if marker.args and isinstance(marker.args[0], str)):
        return  # the test names its databases itself
    only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
    metafunc.parametrize("database", DATABASES[:1] if only_sqlite else DATABASES,
                         indirect=True, scope="module")


@pytest.fixture(scope="module")
def database(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on: ``sqlite`` or ``postgresql``."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The test session's PostgreSQL cluster, started on first use."""
    with running_cluster() as cluster:
        yield cluster


def database_url_for(database: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh database of the kind ``database`` names, dropped after: "" (the
    default SQLite file in the home) or a new, migrated PostgreSQL database."""
    if database == "sqlite":
        yield ""
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    with cluster.fresh_database() as url:
        yield url


@pytest.fixture
def database_url(database: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database for this test (see ``database_url_for``)."""
    yield from database_url_for(database, request)


@pytest.fixture(scope="module")
def module_database_url(database: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database shared by a module's tests (its shared control plane's)."""
    yield from database_url_for(database, request)


def store_url(database_url: str, tmp_path: Path) -> str:
    """The URL a test's own ``Store`` opens: its PostgreSQL database, else a SQLite file
    in ``tmp_path``."""
    return database_url or f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", port=0, database_url=database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    app.config["TESTING"] = True
    app.test_client_class = SigningClient
    yield app
    app.extensions["shipyard"].close()


@pytest.fixture
def admin_credentials(app: Flask, settings: Settings) -> Credentials:
    """The administrator a first start makes, as ``shipyard up`` does."""
    path = app.extensions["shipyard"].access.ensure_administrator(settings)
    return Credentials.read(path)


@pytest.fixture
def client(app: Flask, admin_credentials: Credentials) -> SigningClient:
    """A test client whose requests are signed with the administrator's key."""
    return app.test_client(credentials=admin_credentials)  # type: ignore[call-arg]


@pytest.fixture
def anonymous_client(app: Flask) -> FlaskClient:
    return app.test_client()


def signed_as(app: Flask, answer: dict) -> SigningClient:
    """A test client signing with the access key of an API answer (a new user's)."""
    return app.test_client(credentials=Credentials.from_dict(answer))  # type: ignore[call-arg]


@pytest.fixture
def alice(app: Flask, client: SigningClient) -> SigningClient:
    """A user, member of her own project ``alice``."""
    created = client.post("/iam/users", json={"name": "alice"})
    assert created.status_code == 201, created.get_json()
    return signed_as(app, created.get_json())


@pytest.fixture
def bob(app: Flask, client: SigningClient) -> SigningClient:
    """Another user, member of his own project ``bob`` only."""
    created = client.post("/iam/users", json={"name": "bob"})
    assert created.status_code == 201
    return signed_as(app, created.get_json())


@dataclass
class RunningShipyard:
    url: str
    home: Path
    process: subprocess.Popen[str]
    output: Path
    http: requests.Session = field(default_factory=requests.Session)
    """The session every raw HTTP call of a test goes through, so that a call carries
    whatever credentials this control plane asks for."""

    credentials: Credentials | None = None
    database_url: str = ""
    """Its PostgreSQL database ("" for SQLite in its home): what a restart passes on."""

    def __post_init__(self) -> None:
        self.credentials = Credentials.read(self.home / "credentials" / "admin.json")
        self.http.auth = self.credentials.aws4auth()

    def sdk(self) -> Client:
        """An SDK client for this control plane, signing as the administrator."""
        assert self.credentials is not None
        return self.credentials.client(self.url)

    def new_session(self) -> requests.Session:
        """Another session signing as the administrator (one per prober thread)."""
        assert self.credentials is not None
        session = requests.Session()
        session.auth = self.credentials.aws4auth()
        return session

    def set_access_level(self, service: str, level: str) -> None:
        """Change who may call ``service``; returns once the gateway applies it."""
        with self.sdk() as client:
            service_id = client.services.update(service, {"access_level": level})["id"]
        routes = self.home / "run" / "routes.json"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            entry = json.loads(routes.read_text())["services"].get(service_id, {})
            if entry.get("access_level") == level:
                self.wait_for_gateway_routes()
                return
            time.sleep(0.05)
        raise AssertionError(f"{service} did not become {level} in the routing table")

    def wait_for_gateway_routes(self, timeout: float = 20) -> None:
        """Return once the gateway serves the routing table published now (or a later
        one): the serial its answers tell is at the published file's, or past it."""
        published = json.loads((self.home / "run" / "routes.json").read_text()).get("serial", 0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.http.get(f"{self.url}/api/v1/environments", timeout=10)
            if int(answer.headers.get("X-Shipyard-Routes", "-1")) >= published:
                return
            time.sleep(0.02)
        raise AssertionError(f"the gateway did not load routing table {published}")

    def env(self) -> dict[str, str]:
        return {**os.environ, "SHIPYARD_URL": self.url, "SHIPYARD_HOME": str(self.home)}

    def cli(self, *args: str, cwd: Path | None = None, stdin: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run the real ``shipyard`` command against this control plane."""
        return subprocess.run(
            [sys.executable, "-m", "shipyard", *args],
            cwd=cwd, env=self.env(), input=stdin, capture_output=True, text=True, timeout=300,
        )

    def stop(self) -> int:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_shipyard(
    home: Path, *extra: str, env: dict[str, str] | None = None, database_url: str = "",
) -> RunningShipyard:
    """``shipyard up --port 0`` as a user would start it; returns once it printed its URL.
    Its store is ``database_url`` (``SHIPYARD_DATABASE_URL``), else SQLite in ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    output = home.parent / f"{home.name}-up.log"
    environment = {**os.environ, **(env or {})}
    if database_url:
        environment["SHIPYARD_DATABASE_URL"] = database_url
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "shipyard", "up", "--port", "0", "--home", str(home), *extra],
            stdout=sink, stderr=subprocess.STDOUT, text=True, env=environment,
        )
    deadline = time.monotonic() + 120  # a loaded 2-core machine can take a minute
    while time.monotonic() < deadline:
        found = re.search(r"running at (http://\S+)", output.read_text())
        if found:
            return RunningShipyard(found.group(1), home, process, output,
                                   database_url=database_url)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise AssertionError("shipyard up did not become ready:\n" + output.read_text())


@pytest.fixture
def shipyard(tmp_path: Path, database_url: str) -> Iterator[RunningShipyard]:
    running = start_shipyard(tmp_path / "home", database_url=database_url)
    yield running
    running.stop()
