"""Traffic between a service's generations: listing and deleting them, the mapping,
switching, rolling back, and the challenger."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shipyard.api.callers import require_collaborator
from shipyard.api.context import control_plane, json_body, json_fields
from shipyard.errors import InvalidInput

__all__ = ["traffic"]

traffic = Blueprint("traffic", __name__)


@traffic.get("/<ref>/generations")
def list_generations(ref: str) -> dict[str, Any]:
    """Every generation of a service with its build, whether it is mounted, its share of
    live traffic and whether it is the challenger.
    ---
    tags: [traffic]
    responses:
      "200":
        description: The generations, oldest first.
        content:
          application/json:
            schema:
              type: object
              required: [generations]
              properties:
                generations:
                  type: array
                  items: {$ref: '#/components/schemas/GenerationStanding'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    standings = control_plane().traffic.standings(ref)
    return {"generations": [standing.to_dict() for standing in standings]}


@traffic.patch("/<ref>/generations/<tag>")
def set_generation_replicas(ref: str, tag: str) -> dict[str, Any]:
    """Set a generation's own replica bounds, over its service's: ``min_replicas`` and
    ``max_replicas`` (null: the service's again), checked together and against the
    profile's ceiling. The supervisor applies them within a second.
    ---
    tags: [traffic]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            properties:
              min_replicas: {type: integer, nullable: true, minimum: 0}
              max_replicas: {type: integer, nullable: true, minimum: 1}
    responses:
      "200":
        description: The generation, with its bounds and the replicas it runs.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/GenerationStanding'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().traffic.set_replicas(ref, tag, json_body()).to_dict()


@traffic.delete("/<ref>/generations/<tag>")
def delete_generation(ref: str, tag: str) -> tuple[str, int]:
    """Delete a generation that takes no traffic, is not the challenger and is not
    building, with its build log; its artifact (code, image, and its environment if no
    other generation uses it) is removed by the supervisor soon after. Its calls stay in
    the query log, and its tag is never given to another generation.
    ---
    tags: [traffic]
    responses:
      "204": {description: Deleted.}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      "409":
        description: The generation is in the mapping in force or asked for, is the
          challenger, is building, or still has instances stopping; the message says which.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Error'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    control_plane().traffic.delete_generation(ref, tag)
    return "", 204


@traffic.get("/<ref>/mapping")
def get_mapping(ref: str) -> dict[str, Any]:
    """The mapping in force, the one asked for, and the challenger.
    ---
    tags: [traffic]
    responses:
      "200":
        description: The mappings.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Mapping'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().traffic.mapping(ref)


@traffic.put("/<ref>/mapping")
def set_mapping(ref: str) -> tuple[dict[str, Any], int]:
    """Split live traffic between built generations.

    Either ``entries`` with probabilities that sum to 1, or SageMaker-style integer
    ``weights``, which are normalized. The new mapping takes effect, with no rebuild or
    restart, as soon as every generation in it has a healthy instance; generations left
    with no share are stopped after their calls in flight finish.
    ---
    tags: [traffic]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            oneOf:
              - type: object
                required: [entries]
                additionalProperties: false
                properties:
                  entries:
                    type: array
                    minItems: 1
                    items:
                      type: object
                      required: [generation, proba]
                      additionalProperties: false
                      properties:
                        generation: {type: string, example: v1}
                        proba: {type: number, minimum: 0, maximum: 1, example: 0.5}
              - type: object
                required: [weights]
                additionalProperties: false
                properties:
                  weights:
                    type: object
                    additionalProperties: {type: integer, minimum: 0}
                    example: {v1: 25, v2: 75}
    responses:
      "202":
        description: The mappings; ``live`` changes once the new one is in force.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Mapping'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().traffic.set_mapping(ref, json_body()), 202


@traffic.post("/<ref>/switch-to-newest")
def switch_to_newest(ref: str) -> tuple[dict[str, Any], int]:
    """Put all live traffic on the newest generation, as soon as it can take it.

    A generation still waiting for its build (an import, a deploy) is accepted: it takes
    all traffic once it is built and healthy, and if its build fails the mapping in force
    stays (the service's status says why). Follow its build and its switch with
    ``GET .../builds/<n>/log?follow=true`` and ``GET .../mapping``. A newest generation
    whose build failed is refused (422, with its build error).
    ---
    tags: [traffic]
    responses:
      "202":
        description: The generation that is to take all traffic, with its build state.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Generation'}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      "422":
        description: The newest generation's build failed; the message holds its error.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Error'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().traffic.switch_to_newest(ref).to_dict(), 202


@traffic.post("/<ref>/rollback")
def rollback(ref: str) -> tuple[dict[str, Any], int]:
    """Put all live traffic back on an earlier generation (rebuilt if its artifact is
    gone).
    ---
    tags: [traffic]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [generation]
            additionalProperties: false
            properties:
              generation: {type: string, example: v1}
    responses:
      "202":
        description: The generation that is to take all traffic.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Generation'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    tag = json_fields("generation").get("generation")
    if not isinstance(tag, str):
        raise InvalidInput('"generation" must be a tag such as v1')
    return control_plane().traffic.rollback(ref, tag).to_dict(), 202


@traffic.put("/<ref>/challenger")
def set_challenger(ref: str) -> tuple[dict[str, Any], int]:
    """Name the generation that gets a copy of every call (``null`` for none).

    The copy is sent after the caller has its answer; the challenger's status, latency and
    answer are kept in the query log under the call's request id, never returned.
    ---
    tags: [traffic]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [generation]
            additionalProperties: false
            properties:
              generation: {type: string, nullable: true, example: v2}
    responses:
      "200":
        description: The mappings and the challenger.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Mapping'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    data = json_fields("generation")
    if "generation" not in data:
        raise InvalidInput('"generation" is required: a tag such as v2, or null for none')
    tag = data["generation"]
    if tag is not None and not isinstance(tag, str):
        raise InvalidInput('"generation" must be a tag such as v2, or null for none')
    return control_plane().traffic.set_challenger(ref, tag), 200


@traffic.delete("/<ref>/challenger")
def unset_challenger(ref: str) -> tuple[dict[str, Any], int]:
    """Stop copying calls to a challenger.
    ---
    tags: [traffic]
    responses:
      "200":
        description: The mappings, with no challenger.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Mapping'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    require_collaborator(ref)
    return control_plane().traffic.set_challenger(ref, None), 200
