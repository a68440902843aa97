"""Whether one model version can replace another behind the same model service.

Every check answers ``passing``, ``warning`` or ``failing`` with a message, and a
validation is as bad as its worst check. The static checks read only the stored model
details (the control plane never opens a model file); whether the new model loads and
predicts is checked later, on a healthy instance (``shipyard.supervisor.replacement_gate``).

What warns and what fails follows what the service's callers would see: the model
service refuses records with a missing or an unknown feature, or with a value that does
not fit a feature's type, so any change that turns a request that worked into a 400
fails; a change that only accepts more warns.

- features: the same names and types pass (in any order: records are read by name); a
  feature added or removed fails; a type change fails, except ``integer`` → ``number``
  (every integer is a number), which warns.
- target: the same name passes; a renamed target fails; a target recorded for only one
  of the two warns (nothing to compare).
- problem type: the same passes; classification ↔ regression fails.
- model file: a different file passes; the very same bytes warn (a replacement that
  changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInput

__all__ = [
    "FAILING",
    "PASSING",
    "REASONS",
    "WARNING",
    "Check",
    "Validation",
    "static_checks",
    "validate_reason",
]

PASSING = "passing"
WARNING = "warning"
FAILING = "failing"
_RANK = {PASSING: 0, WARNING: 1, FAILING: 2}

REASONS = ("accuracy", "data_drift", "errors", "scheduled_refresh", "scoring_speed", "other")

FEATURES_CHECK = "same features"
TARGET_CHECK = "same target"
PROBLEM_TYPE_CHECK = "same problem type"
MODEL_FILE_CHECK = "a different model file"
PREDICTS_CHECK = "loads and predicts on the baseline sample"

# Type changes every value that fitted the old type still fits.
_WIDENINGS = frozenset({("integer", "number")})


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(str(data["name"]), str(data["status"]), str(data.get("message", "")))


@dataclass(frozen=True)
class Validation:
    checks: tuple[Check, ...]

    @property
    def status(self) -> str:
        """The worst status of its checks (``passing`` for none)."""
        return max((c.status for c in self.checks), key=_RANK.__getitem__, default=PASSING)

    @property
    def failing(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == FAILING)

    def with_check(self, check: Check) -> Validation:
        """This validation with ``check`` added (or put in place of its namesake)."""
        kept = tuple(c for c in self.checks if c.name != check.name)
        return Validation((*kept, check))

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Validation:
        return cls(tuple(Check.from_dict(c) for c in data.get("checks", [])))


def validate_reason(reason: Any) -> str:
    """``reason`` if it is one of ``REASONS``, else ``InvalidInput`` naming them."""
    if not isinstance(reason, str) or reason not in REASONS:
        raise InvalidInput(
            f"unknown replacement reason {reason!r}; known: {', '.join(REASONS)}"
        )
    return reason


def static_checks(
    old: Mapping[str, Any], new: Mapping[str, Any], *, same_file: bool = False
) -> Validation:
    """Compare two model versions' stored details (``features``, ``target``,
    ``problem_type``), as ``ModelDetails.to_dict`` has them."""
    return Validation((
        _features(old.get("features", []), new.get("features", [])),
        _target(str(old.get("target", "")), str(new.get("target", ""))),
        _problem_type(str(old.get("problem_type", "")), str(new.get("problem_type", ""))),
        _model_file(same_file),
    ))


def _features(old: Sequence[Mapping[str, str]], new: Sequence[Mapping[str, str]]) -> Check:
    old_types = {f["name"]: f.get("type", "number") for f in old}
    new_types = {f["name"]: f.get("type", "number") for f in new}
    problems: list[str] = []
    added = [name for name in new_types if name not in old_types]
    removed = [name for name in old_types if name not in new_types]
    if added:
        problems.append(f"the new model also needs {_names(added)}, which callers do not send")
    if removed:
        problems.append(f"the new model lacks {_names(removed)}, which callers send")
    changed = [
        (name, old_types[name], kind) for name, kind in new_types.items()
        if name in old_types and old_types[name] != kind
    ]
    narrowed = [c for c in changed if (c[1], c[2]) not in _WIDENINGS]
    widened = [c for c in changed if (c[1], c[2]) in _WIDENINGS]
    problems.extend(f"{name!r} changes type from {a} to {b}" for name, a, b in narrowed)
    if problems:
        return Check(FEATURES_CHECK, FAILING, "; ".join(problems))
    if widened:
        described = ", ".join(f"{name!r} from {a} to {b}" for name, a, b in widened)
        return Check(
            FEATURES_CHECK, WARNING,
            f"the same features, but some accept more values: {described}",
        )
    in_order = [f["name"] for f in old] == [f["name"] for f in new]
    order = "" if in_order else ", in another order (records are read by name)"
    return Check(FEATURES_CHECK, PASSING, f"the same {len(new_types)} features{order}")


def _target(old: str, new: str) -> Check:
    if old == new:
        return Check(TARGET_CHECK, PASSING, f"both predict {old!r}" if old else "no target named")
    if not old or not new:
        known = old or new
        return Check(
            TARGET_CHECK, WARNING,
            f"only one of the two names its target ({known!r}), so they cannot be compared",
        )
    return Check(TARGET_CHECK, FAILING, f"the target changes from {old!r} to {new!r}")


def _problem_type(old: str, new: str) -> Check:
    if old == new:
        return Check(PROBLEM_TYPE_CHECK, PASSING, f"both are {old}")
    return Check(PROBLEM_TYPE_CHECK, FAILING, f"the problem type changes from {old} to {new}")


def _model_file(same_file: bool) -> Check:
    if same_file:
        return Check(
            MODEL_FILE_CHECK, WARNING,
            "the new version's file is the very same as the serving one's",
        )
    return Check(MODEL_FILE_CHECK, PASSING, "the model file differs from the serving one's")


def _names(names: Iterable[str]) -> str:
    listed = [repr(n) for n in names]
    return ("feature " if len(listed) == 1 else "features ") + ", ".join(listed)
