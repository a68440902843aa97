"""Memoized pure functions of short request texts, for the signature check.

The canonical forms of a path or a query, and the parsed parts of a credential or of a
presigned query's signature information, are pure functions of the text received, so a
service's paths and a client's repeated texts are worked out once and then looked up.
That is safe to cache: an entry holds no secret and proves nothing, since the signature
over them is still computed with the caller's key on every request, and a revoked key or
a changed secret is looked up as before. Only short texts are kept (at most
``MEMO_ENTRIES`` of at most ``MEMO_LENGTH`` characters each, per function), so that no
caller can fill the memory with texts made up to be long and different; a longer one is
worked out every time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["MEMO_ENTRIES", "MEMO_LENGTH", "memoized_when_short"]

MEMO_ENTRIES = 2048
MEMO_LENGTH = 1024

Result = TypeVar("Result")


def memoized_when_short(function: Callable[..., Result]) -> Callable[..., Result]:
    """``function(text, *hashable)`` memoized while ``text`` is short."""
    cached = functools.lru_cache(maxsize=MEMO_ENTRIES)(function)

    @functools.wraps(function)
    def memoized(text: str, *rest: Any) -> Result:
        if len(text) > MEMO_LENGTH:
            return function(text, *rest)
        return cached(text, *rest)

    memoized.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return memoized
