"""How the SDK tells a failed build from a generation that would not start, whichever
moment of its polling the control plane's answer changes at; and how it waits for the
gateway to serve what the status says, by the routing table's serial."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from shipyard_sdk.errors import BuildFailed, RunnerError
from shipyard_sdk.services_api import ServicesAPI
from shipyard_sdk.traffic_api import TrafficAPI


@dataclass
class Answer:
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return self.body


class FakeControlPlane:
    """Answers ``json`` and ``request`` alike, from ``_answer``."""

    def json(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        return self._answer(path)

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        return Answer(self.json(method, path, **kwargs))

    def _answer(self, path: str) -> dict[str, Any]:
        raise NotImplementedError


class BuildFailingAfterFirstAnswer(FakeControlPlane):
    """A control plane whose build of v2 fails, in one transaction with the service's
    return to v1, right after it answers its first request."""

    def __init__(self, build_error: str = "") -> None:
        self.failed = False
        self.build_error = build_error

    def json(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        answer = self._answer(path)
        if self.build_error:
            self.failed = True
        return answer

    def _answer(self, path: str) -> dict[str, Any]:
        if path.endswith("/builds/2"):
            if self.failed:
                return {"build_state": "failed", "build_error": self.build_error}
            return {"build_state": "building", "build_error": ""}
        if self.failed:
            return {"live_generation": "v1", "target_generation": "v1", "state": "running",
                    "status_message": f"build of v2 failed: {self.build_error}"}
        return {"live_generation": "v1", "target_generation": "v2", "state": "running",
                "status_message": ""}


def test_a_build_that_fails_between_two_polls_is_reported_as_a_failed_build() -> None:
    services = ServicesAPI(BuildFailingAfterFirstAnswer("no matching distribution"))  # type: ignore[arg-type]
    with pytest.raises(BuildFailed, match="no matching distribution"):
        services.wait_until_serving("hello", "v2", poll=0)


class GivenUpAfterBuilding(FakeControlPlane):
    """A control plane whose v2 built but was given up, as an instance that never became
    healthy is."""

    def json(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        if path.endswith("/builds/2"):
            return {"build_state": "succeeded", "build_error": ""}
        return {"live_generation": "v1", "target_generation": "v1", "state": "running",
                "status_message": "v2 never became healthy; v1 still serving"}


def test_a_generation_given_up_after_its_build_is_reported_as_not_started() -> None:
    services = ServicesAPI(GivenUpAfterBuilding())  # type: ignore[arg-type]
    with pytest.raises(RunnerError, match="never became healthy"):
        services.wait_until_serving("hello", "v2", poll=0)


class GatewayCatchingUp:
    """A control plane where v2 is live from the start, in the routing table numbered 7,
    and whose gateway tells serials 5, 6, then 7 on its answers."""

    def __init__(self) -> None:
        self.told: Iterator[int] = iter([5, 6, 7])
        self.requests = 0

    def request(self, method: str, path: str, **_: Any) -> Answer:
        self.requests += 1
        headers = {"X-Shipyard-Routes": str(next(self.told))}
        if path.endswith("/mapping"):
            return Answer({"live": [{"generation": "v2", "proba": 1.0}],
                           "desired": [{"generation": "v2", "proba": 1.0}],
                           "challenger": None, "routes_serial": 7}, headers)
        return Answer({"live_generation": "v2", "target_generation": "v2",
                       "state": "running", "status_message": "", "routes_serial": 7}, headers)

    def json(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        return {"live": [], "desired": [{"generation": "v2", "proba": 1.0}]}


def test_serving_is_confirmed_once_the_gateway_has_the_table_the_status_names() -> None:
    control_plane = GatewayCatchingUp()
    services = ServicesAPI(control_plane)  # type: ignore[arg-type]
    assert services.wait_until_serving("hello", "v2", poll=0)["live_generation"] == "v2"
    assert control_plane.requests == 3


def test_a_mapping_is_confirmed_once_the_gateway_has_the_table_that_holds_it() -> None:
    control_plane = GatewayCatchingUp()
    traffic = TrafficAPI(control_plane)  # type: ignore[arg-type]
    assert traffic.wait_for_mapping("hello", poll=0)["routes_serial"] == 7
    assert control_plane.requests == 3
