"""Time ranges for exports: ISO 8601 instants, or durations back from now (``30s``,
``15m``, ``1h``, ``2d``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shipyard.domain.validation import quoted
from shipyard.errors import InvalidInput

__all__ = ["TimeRange", "parse_instant"]

_RELATIVE = re.compile(r"(\d{1,9})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_instant(value: str, *, now: datetime, name: str = "time") -> datetime:
    """``value`` as an aware UTC datetime; ``name`` is what an error calls it.

    An ISO 8601 instant without an offset is taken as UTC; ``1h`` is one hour before
    ``now``.
    """
    text = value.strip()
    relative = _RELATIVE.fullmatch(text)
    try:
        if relative:
            seconds = int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
            return (now - timedelta(seconds=seconds)).astimezone(UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError) as exc:
        raise _invalid(name, value) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class TimeRange:
    """From ``since`` (included) to ``until`` (excluded); None is unbounded."""

    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(
        cls, since: str | None, until: str | None, *, now: datetime | None = None
    ) -> TimeRange:
        now = now or datetime.now(UTC)
        start = parse_instant(since, now=now, name="since") if since else None
        end = parse_instant(until, now=now, name="until") if until else None
        if start is not None and end is not None and start > end:
            raise InvalidInput(f"since {quoted(since)} is after until {quoted(until)}")
        return cls(start, end)


def _invalid(name: str, value: str) -> InvalidInput:
    return InvalidInput(
        f"{name} {quoted(value)} is not a time: give an ISO 8601 instant such as "
        "2026-01-31T12:00:00Z, or a duration back from now such as 30s, 15m, 1h or 2d"
    )
