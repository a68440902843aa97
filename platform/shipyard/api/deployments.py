"""Deploying a service, its generations and builds, and the logs of both."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, request, stream_with_context

from shipyard.api.callers import (
    require_collaborator,
)
from shipyard.api.context import control_plane
from shipyard.domain.deploy_limits import settle_limit
from shipyard.domain.query_flags import query_flag
from shipyard.errors import InvalidInput
from shipyard_runners import InstanceHandle

__all__ = ["deployments"]

deployments = Blueprint("deployments", __name__)

FOLLOW_POLL = 0.1


@deployments.post("/<ref>/deploy")
def deploy(ref: str) -> tuple[dict[str, Any], int]:
    """Snapshot the service's files as a new generation, build it
    and switch to it once it is healthy.
    ---
    tags: [deployments]
    responses:
      "202":
        description: The new generation; its build has started.
        content:
          application/json:
            schema:
              allOf:
                - $ref: '#/components/schemas/Generation'
                - type: object
                  required: [settles_within]
                  properties:
                    settles_within:
                      type: number
                      description: >-
                        Seconds by which the generation serves or has been given up
                        (the build's and the start's limits, and a margin).
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    plane = control_plane()
    generation = plane.deployments.deploy(ref).to_dict()
    return {**generation, "settles_within": settle_limit(plane.settings)}, 202


@deployments.post("/<ref>/undeploy")
def undeploy(ref: str) -> tuple[dict[str, Any], int]:
    """Stop serving a service; its generations are kept.
    ---
    tags: [deployments]
    responses:
      "202":
        description: The service; its instances are stopping.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Service'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    control_plane().deployments.undeploy(ref)
    return control_plane().services.get(ref).to_dict(), 202


@deployments.get("/<ref>/builds")
def list_builds(ref: str) -> dict[str, Any]:
    """Every generation of a service and the state of its build.
    ---
    tags: [deployments]
    responses:
      "200":
        description: The generations, oldest first.
        content:
          application/json:
            schema:
              type: object
              required: [builds]
              properties:
                builds:
                  type: array
                  items: {$ref: '#/components/schemas/Generation'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return {"builds": [g.to_dict() for g in control_plane().deployments.generations(ref)]}


@deployments.get("/<ref>/builds/<int:number>")
def get_build(ref: str, number: int) -> dict[str, Any]:
    """One generation of a service, by build number.
    ---
    tags: [deployments]
    responses:
      "200":
        description: The generation.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Generation'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().deployments.generation(ref, number).to_dict()


@deployments.get("/<ref>/builds/<int:number>/log")
def build_log(ref: str, number: int) -> Response:
    """A build's log as text.

    With ``follow=true`` the answer streams until the build ends. Lines that start with
    ``warning:`` are documentation problems that did not fail the build. ``after=N``
    skips the first N lines, as a follower that lost its stream and reconnects does.
    ---
    tags: [deployments]
    parameters:
      - name: follow
        in: query
        schema: {type: boolean, default: false}
      - name: after
        in: query
        schema: {type: integer, minimum: 0, default: 0}
    responses:
      "200":
        description: The log, one line per line.
        content:
          text/plain:
            schema: {type: string}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    after = _count("after")
    follow = query_flag(request.args, "follow")
    plane = control_plane()
    lines, done = plane.deployments.build_log(ref, number, after=after)
    if not follow:
        return Response("".join(line + "\n" for _, line in lines), mimetype="text/plain")

    def _follow() -> Iterator[str]:
        nonlocal lines, done
        last = after
        while True:
            for seq, line in lines:
                last = seq
                yield line + "\n"
            if done:
                return
            time.sleep(FOLLOW_POLL)
            # One snapshot holds the lines and the state; a build stores its last line
            # before it ends, so nothing is missed.
            lines, done = plane.deployments.build_log(ref, number, after=last)

    return Response(stream_with_context(_follow()), mimetype="text/plain")


@deployments.get("/<ref>/logs")
def runtime_logs(ref: str) -> Response:
    """What a service's instances printed, newest last.
    ---
    tags: [deployments]
    parameters:
      - name: tail
        in: query
        description: Lines per instance.
        schema: {type: integer, minimum: 0, default: 200}
    responses:
      "200":
        description: Each instance's output under a header line.
        content:
          text/plain:
            schema: {type: string}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    plane = control_plane()
    tail = _count("tail", default=200)
    parts = []
    for generation, handle in plane.deployments.instance_handles(ref):
        instance = InstanceHandle.from_dict(handle)
        parts.append(f"==> {generation} {instance.instance_id} <==\n")
        parts.append(plane.runners.logs(instance, tail=tail))
    return Response("".join(parts), mimetype="text/plain")


def _count(name: str, default: int = 0) -> int:
    """Query parameter ``name``, a number of lines."""
    raw = request.args.get(name, str(default))
    if not raw.isdigit():
        raise InvalidInput(f"{name!r} must be a whole number of lines, not {raw!r}")
    return int(raw)
