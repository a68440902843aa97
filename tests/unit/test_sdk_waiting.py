"""How the SDK tells a failed build from a generation that would not start, whichever
moment of its polling the control plane's answer changes at."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard_sdk.errors import BuildFailed, RunnerError
from shipyard_sdk.services_api import ServicesAPI


class BuildFailingAfterFirstAnswer:
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


class GivenUpAfterBuilding:
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
