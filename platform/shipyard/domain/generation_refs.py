"""How a service's generations are referred to: by tag (``v2``) where people see them, by
id with a share of traffic in a stored mapping (``[{"generation_id", "proba"}]``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput
from shipyard.store import GenerationRow

__all__ = [
    "Shares", "generation_numbers", "main_generation", "mapping_of", "parse_tag",
    "stored_mapping", "tag_in", "tag_of", "tagged_mapping",
]

_TAG = re.compile(r"^v([1-9][0-9]{0,8})$")

Shares = list[tuple[str, float]]  # (generation id, proba)


def tag_of(number: int) -> str:
    return f"v{number}"


def parse_tag(tag: str) -> int:
    """The number of a generation tag such as ``v2``."""
    match = _TAG.match(tag) if isinstance(tag, str) else None
    if match is None:
        raise InvalidInput(f"generation must be a tag such as v2, not {tag!r}")
    return int(match.group(1))


def generation_numbers(session: Session, service_id: str | None = None) -> dict[str, int]:
    """The number of each generation by id: of one service, or of every service."""
    query = select(GenerationRow.id, GenerationRow.number)
    if service_id is not None:
        query = query.where(GenerationRow.service_id == service_id)
    return dict(session.execute(query).all())


def tag_in(numbers: Mapping[str, int], generation_id: str | None) -> str | None:
    """The tag of ``generation_id`` among ``numbers`` (``generation_numbers``), or None."""
    return tag_of(numbers[generation_id]) if generation_id in numbers else None


def mapping_of(stored: Sequence[Mapping[str, Any]] | None) -> Shares:
    """A stored mapping as (generation id, proba) pairs."""
    return [(str(item["generation_id"]), float(item["proba"])) for item in stored or ()]


def stored_mapping(pairs: Shares) -> list[dict[str, Any]]:
    return [{"generation_id": generation_id, "proba": proba} for generation_id, proba in pairs]


def tagged_mapping(
    numbers: Mapping[str, int], stored: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """A stored mapping as people see it: ``[{"generation": "v2", "proba": 0.5}]``."""
    return [
        {"generation": tag_of(numbers[generation_id]), "proba": proba}
        for generation_id, proba in mapping_of(stored) if generation_id in numbers
    ]


def main_generation(pairs: Shares) -> str | None:
    """The generation taking the largest share (on a tie, the one listed last)."""
    best: tuple[float, str] | None = None
    for generation_id, proba in pairs:
        if proba > 0 and (best is None or proba >= best[0]):
            best = (proba, generation_id)
    return best[1] if best else None
