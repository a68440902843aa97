"""The time a stats question covers (``StatsWindow``) and the size of its buckets
(``parse_bucket_size``, ISO 8601 durations as DataRobot takes them: ``PT1M``, ``PT1H``,
``P1D``).

A window is whole minutes, the smallest span rollups are kept at: its start is rounded
down to a minute, its end up. Without a start and an end it is the last 7 days up to the
next whole hour.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shipyard.domain.validation import quoted
from shipyard.errors import InvalidInput
from shipyard.query_log.time_range import parse_instant
from shipyard.stats.spans import MINUTE

__all__ = ["DEFAULT_DAYS", "MAX_BUCKETS", "StatsWindow", "iso", "parse_bucket_size"]

DEFAULT_DAYS = 7
MAX_BUCKETS = 10_000

_DURATION = re.compile(
    r"P(?:(?P<weeks>\d{1,6})W)?(?:(?P<days>\d{1,6})D)?"
    r"(?:T(?:(?P<hours>\d{1,7})H)?(?:(?P<minutes>\d{1,9})M)?(?:(?P<seconds>\d{1,10})S)?)?"
)
_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


@dataclass(frozen=True)
class StatsWindow:
    start: int
    """Epoch seconds, a whole minute; included."""
    end: int
    """Epoch seconds, a whole minute; excluded."""

    @classmethod
    def parse(
        cls, start: str | None, end: str | None, *, now: datetime | None = None
    ) -> StatsWindow:
        now = now or datetime.now(UTC)
        if end:
            until = parse_instant(end, now=now, name="end")
        else:
            until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if start:
            since = parse_instant(start, now=now, name="start")
        else:
            since = until - timedelta(days=DEFAULT_DAYS)
        first = math.floor(since.timestamp() / MINUTE) * MINUTE
        last = math.ceil(until.timestamp() / MINUTE) * MINUTE
        if last <= first:
            raise InvalidInput(
                f"the window ends ({iso(last)}) before it starts ({iso(first)}): "
                "give an end after the start"
            )
        return cls(first, last)

    def bucket_starts(self, size: int) -> range:
        """The start of each bucket of ``size`` seconds; 400 when there are too many."""
        count = math.ceil((self.end - self.start) / size)
        if count > MAX_BUCKETS:
            raise InvalidInput(
                f"{count} buckets of {size} seconds fit in the window; at most "
                f"{MAX_BUCKETS} are answered: choose a larger bucket_size or a shorter window"
            )
        return range(self.start, self.end, size)

    def as_dict(self) -> dict[str, str]:
        return {"start": iso(self.start), "end": iso(self.end)}


def parse_bucket_size(text: str) -> int:
    """An ISO 8601 duration of whole minutes, at least one, in seconds."""
    match = _DURATION.fullmatch(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise InvalidInput(
            f"bucket_size {quoted(text)} is not an ISO 8601 duration such as PT1M, PT15M, "
            "PT1H or P1D (years and months vary in length and are not taken)"
        )
    seconds = sum(int(value) * _SECONDS[name]
                  for name, value in match.groupdict().items() if value)
    if seconds < MINUTE or seconds % MINUTE:
        raise InvalidInput(
            f"bucket_size {quoted(text)} must be whole minutes, one at least (PT1M)"
        )
    return seconds


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
