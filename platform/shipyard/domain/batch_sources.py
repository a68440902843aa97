"""Where a scheduled batch job may read its input: only the folders and URL prefixes the
administrator lists in ``batch_sources``; anything else is refused.

A source is an absolute path or an ``http``/``https`` URL. A path must be inside a listed
folder once every symbolic link and ``..`` in it is resolved (so a link in an allowed
folder cannot lead out of it), checked when the schedule is made and again each time the
file is opened; the file itself may not exist yet (it may be written before each run). A
URL must start with a listed prefix, compared after the URL is normalized: no user
information, no ``..`` segment, and a prefix matches only whole path segments
(``https://data.example/exports/`` allows ``.../exports/a.csv``, never
``.../exports-old/a.csv``).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from shipyard.errors import InvalidInput, NotFound, Unavailable

__all__ = ["BatchSources", "Source"]

_URL_SCHEMES = ("http", "https")
_DOWNLOAD_TIMEOUT = 60.0


@dataclass(frozen=True)
class Source:
    """A checked source: ``path`` or ``url``, and where it is."""

    kind: str
    location: str

    @property
    def name(self) -> str:
        """The file name it ends with (its suffix tells its format)."""
        if self.kind == "path":
            return Path(self.location).name
        return posixpath.basename(urlsplit(self.location).path)


class BatchSources:
    """The allow-list of ``batch_sources``, and reading a source it allows."""

    def __init__(self, entries: Sequence[str]) -> None:
        self.folders = [Path(os.path.realpath(e)) for e in entries
                        if not e.startswith(("http://", "https://"))]
        self.prefixes = [_with_slash(_checked_url(e, "batch_sources entry"))
                         for e in entries if e.startswith(("http://", "https://"))]

    def check(self, source: object) -> Source:
        """``source`` if the allow-list allows it; ``InvalidInput`` naming why not."""
        if not isinstance(source, str) or not source:
            raise InvalidInput("'source' must be the path or URL of the file to score")
        if source.startswith(("http://", "https://")):
            url = _checked_url(source, "source")
            if not any(url.startswith(prefix) for prefix in self.prefixes):
                raise InvalidInput(f"source {source!r} is not under a URL the administrator "
                                   f"allows (batch_sources){self._allowed()}")
            return Source("url", url)
        if not os.path.isabs(source):
            raise InvalidInput(f"source {source!r} must be an absolute path or an http(s) URL")
        resolved = Path(os.path.realpath(source))
        if not any(resolved.is_relative_to(folder) and resolved != folder
                   for folder in self.folders):
            raise InvalidInput(f"source {source!r} is not in a folder the administrator "
                               f"allows (batch_sources){self._allowed()}")
        return Source("path", str(resolved))

    @contextlib.contextmanager
    def open(self, source: Source) -> Iterator[tuple[IO[bytes], str | None]]:
        """The source's bytes, streamed, and the media type its server names (None for a
        file); checked against the allow-list again (a link may have changed)."""
        checked = self.check(source.location)
        if checked.kind == "path":
            try:
                with open(checked.location, "rb") as file:
                    yield file, None
            except FileNotFoundError:
                raise NotFound(f"no file at {checked.location!r}") from None
            return
        import requests

        try:
            response = requests.get(checked.location, stream=True, timeout=_DOWNLOAD_TIMEOUT,
                                    allow_redirects=False)
        except requests.RequestException as exc:
            raise Unavailable(f"cannot fetch {checked.location!r}: {exc}") from exc
        with response:
            if response.status_code != 200:
                raise Unavailable(f"fetching {checked.location!r} answered "
                                  f"{response.status_code}")
            response.raw.decode_content = True
            yield response.raw, response.headers.get("Content-Type")

    def _allowed(self) -> str:
        listed = [str(f) for f in self.folders] + self.prefixes
        return f": {', '.join(listed)}" if listed else ": it allows none"


def _checked_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in _URL_SCHEMES or not parts.hostname:
        raise InvalidInput(f"{what} {url!r} must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"{what} {url!r} must not carry credentials")
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise InvalidInput(f"{what} {url!r} must not hold a '.' or '..' segment")
    if parts.fragment:
        raise InvalidInput(f"{what} {url!r} must not have a fragment")
    return url


def _with_slash(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"
