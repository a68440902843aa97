"""``Callers``: the distinct callers of a rollup, as a mergeable set.

Callers are Shipyard identities (a user, an API key, an instance, or anonymous), a set
bounded by the registry rather than by traffic, so it is kept exactly: as 8-byte digests
of the labels, which a query unions and counts.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

__all__ = ["Callers", "caller_digest"]

_DIGEST = 8


@lru_cache(maxsize=4096)
def caller_digest(label: str) -> bytes:
    return hashlib.blake2b(label.encode("utf-8", "surrogatepass"), digest_size=_DIGEST).digest()


class Callers:
    __slots__ = ("digests",)

    def __init__(self, digests: set[bytes] | None = None) -> None:
        self.digests: set[bytes] = digests if digests is not None else set()

    def add(self, label: str) -> None:
        self.digests.add(caller_digest(label))

    def merge(self, other: Callers) -> None:
        self.digests |= other.digests

    def __len__(self) -> int:
        return len(self.digests)

    def to_bytes(self) -> bytes:
        return b"".join(sorted(self.digests))

    @classmethod
    def from_bytes(cls, data: bytes | None) -> Callers:
        if not data:
            return cls()
        return cls({data[start:start + _DIGEST] for start in range(0, len(data), _DIGEST)})
