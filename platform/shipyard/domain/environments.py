"""Environment profiles (small / large / gpu) read from ``environments.yaml``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shipyard.domain.validation import validate_flag
from shipyard.errors import InvalidInput, UnknownEnvironment

__all__ = ["DEFAULT_MAX_REPLICAS", "Environment", "EnvironmentCatalog", "parse_size"]

DEFAULT_MAX_REPLICAS = 8
"""A profile's ceiling on a generation's replicas where ``environments.yaml`` sets none."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}


def parse_size(value: Any) -> int:
    """``"4GiB"`` → 4294967296; plain numbers are bytes."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise InvalidInput(f"{value!r} is not a size such as 512MiB or 4GiB")
    unit = (match.group(2) or "").lower().removesuffix("b")
    return int(float(match.group(1)) * _UNITS[unit])


@dataclass(frozen=True)
class Environment:
    name: str
    cpu: float
    memory_bytes: int
    gpu: int
    gpu_memory_bytes: int
    base_image: str
    description: str
    allow_cpu_fallback: bool = False
    """Whether its instances run on CPU where no GPU is found, instead of not starting."""
    max_replicas: int = DEFAULT_MAX_REPLICAS
    """The most replicas a generation on this profile may run (a service's max_replicas)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "cpu": self.cpu, "memory_bytes": self.memory_bytes,
            "gpu": self.gpu, "gpu_memory_bytes": self.gpu_memory_bytes,
            "base_image": self.base_image, "description": self.description,
            "allow_cpu_fallback": self.allow_cpu_fallback, "max_replicas": self.max_replicas,
        }


@dataclass(frozen=True)
class EnvironmentCatalog:
    profiles: Mapping[str, Environment]
    default: str

    @classmethod
    def load(cls, path: Path) -> EnvironmentCatalog:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"cannot read environments file {str(path)!r}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
            raise InvalidInput(f"environments file {str(path)!r} needs a 'profiles' mapping")
        profiles = {name: _profile(name, spec) for name, spec in data["profiles"].items()}
        default = str(data.get("default") or next(iter(profiles)))
        if default not in profiles:
            raise InvalidInput(f"default environment {default!r} is not a profile in {path}")
        return cls(profiles=profiles, default=default)

    def get(self, name: str | None) -> Environment:
        """The named profile (the default one for ``None``)."""
        key = self.default if name is None else name
        if key not in self.profiles:
            known = ", ".join(sorted(self.profiles))
            raise UnknownEnvironment(f"unknown environment {key!r}; known: {known}")
        return self.profiles[key]


def _max_replicas(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"environment {name!r}: 'max_replicas' must be a whole number of "
                           f"at least 1, not {value!r}")
    return value


def _profile(name: str, spec: Any) -> Environment:
    if not isinstance(spec, dict):
        raise InvalidInput(f"environment {name!r} must be a mapping")
    try:
        return Environment(
            name=str(name),
            cpu=float(spec["cpu"]),
            memory_bytes=parse_size(spec["memory"]),
            gpu=int(spec.get("gpu", 0)),
            gpu_memory_bytes=parse_size(spec.get("gpu_memory", 0)),
            base_image=str(spec.get("base_image", "")),
            description=str(spec.get("description", "")),
            allow_cpu_fallback=validate_flag(
                spec.get("allow_cpu_fallback", False),
                f"environment {name!r}: 'allow_cpu_fallback'",
            ),
            max_replicas=_max_replicas(name, spec.get("max_replicas", DEFAULT_MAX_REPLICAS)),
        )
    except KeyError as exc:
        raise InvalidInput(f"environment {name!r} is missing {exc.args[0]!r}") from exc

