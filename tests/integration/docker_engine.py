"""What the docker runner's tests need: a reachable engine and the base image.

Without an engine (or without the base image and the means to build it) these tests skip
with the reason; CI installs and starts one (``.ci/run``). Everything a test makes on the
engine carries an installation id of its own (``test-...``), so ``purge`` removes it and
nothing else.
"""

from __future__ import annotations

import functools
import uuid

import pytest

from shipyard.images import RECIPES, build_base_images, debian_mirror
from shipyard_runners.containers.engine import Engine
from shipyard_sdk.errors import ShipyardError

__all__ = ["BASE_IMAGE", "ON_THE_ENGINE", "require_docker", "test_installation"]

BASE_IMAGE = "shipyard/python:3.11-bookworm"

ON_THE_ENGINE = pytest.mark.xdist_group("docker-engine")
"""Marks a module that builds and runs the docker runner's images and containers: such
modules run on one pytest-xdist worker, one after the other, so that two of them never
build environment images side by side on a 2-core machine (the swarm runner's modules run
on another worker: ``swarm_engine.IN_THE_SWARM``)."""


@functools.cache
def _docker_problem() -> str:
    """Why the docker tests cannot run here ("" when they can)."""
    engine = Engine()
    try:
        client = engine.client()
    except ShipyardError as exc:
        return exc.message
    try:
        if not client.images.list(name=BASE_IMAGE):
            # Built once; CI loads a cached one before the tests.
            build_base_images([RECIPES[BASE_IMAGE]], debian_mirror(), lambda _line: None,
                              engine)
    except ShipyardError as exc:
        return f"base image {BASE_IMAGE} is missing and cannot be built: {exc.message}"
    return ""


def require_docker() -> None:
    """Skip the calling test unless an engine answers and the base image is there."""
    problem = _docker_problem()
    if problem:
        pytest.skip(f"docker runner tests need a Docker engine: {problem}")


def test_installation() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


test_installation.__test__ = False  # type: ignore[attr-defined]
