"""One image build on the engine, its output streamed line by line as it comes.

The Docker SDK's model layer (``images.build``) reads the whole output before it returns,
so this uses the API layer's streaming build, and parses the engine's JSON messages:
``stream`` (output, in pieces that are not whole lines), ``aux`` (the image id), ``error``.
A failed step becomes ``BuildFailed`` naming what the step does (from ``steps``: a
substring of the instruction → a description) and ending with its last line of output,
as the local runner's failures do.
"""

from __future__ import annotations

import io
import logging
import re
from collections import deque
from collections.abc import Iterable, Mapping

import docker

from shipyard_runners.containers.engine import engine_errors
from shipyard_runners.protocol import LogSink
from shipyard_sdk.errors import BuildFailed

__all__ = ["OutputLines", "build_image"]

logger = logging.getLogger(__name__)

_STEP = re.compile(r"^Step \d+/\d+ : (.*)$")
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
"""The engine colours a step's stderr red; the log keeps the text."""
_NOISE = re.compile(r"^ ---> (Running in|Using cache|[0-9a-f]{12}$)|^Removing intermediate")


class OutputLines:
    """Reassembles whole lines from the pieces a container's output comes in, logs each,
    and keeps the last ones that are not blank (a failure's reason)."""

    def __init__(self, log: LogSink) -> None:
        self.log = log
        self.partial = ""
        self.last: deque[str] = deque(maxlen=20)

    def feed(self, text: str) -> None:
        self.partial += text.replace("\r\n", "\n")
        *complete, self.partial = self.partial.split("\n")
        for line in complete:
            self._line(line)

    def flush(self) -> None:
        if self.partial:
            self._line(self.partial)
            self.partial = ""

    def _line(self, line: str) -> None:
        if line.strip():
            self.last.append(line)
        self.log(line)


class _Lines(OutputLines):
    """A build's output: the step it is at, and its noise kept out of ``last``."""

    def __init__(self, log: LogSink) -> None:
        super().__init__(log)
        self.step = ""

    def _line(self, line: str) -> None:
        line = _COLOUR.sub("", line).rstrip("\r")
        step = _STEP.match(line)
        if step:
            self.step = step.group(1)
            self.last.clear()
        elif line.strip() and not _NOISE.match(line):
            self.last.append(line)
        self.log(line)


def _describe(step: str, steps: Mapping[str, str]) -> str:
    for fragment, description in steps.items():
        if fragment in step:
            return description
    return f"the build step {step[:120]!r}" if step else "the image build"


def build_image(
    client: docker.DockerClient,
    context: bytes,
    *,
    tag: str,
    buildargs: Mapping[str, str],
    steps: Mapping[str, str],
    log: LogSink,
    memory_bytes: int = 0,
) -> str:
    """Build the tar ``context`` into an image tagged ``tag``; return the image id.

    The Dockerfile labels the image itself, early, so that every intermediate image is
    labelled too (the engine's ``labels`` option would add one slow step per label at the
    end). ``memory_bytes`` (when positive) caps every build step's container, swap
    included, as the profile caps its instances."""
    lines = _Lines(log)
    image_id = ""
    with engine_errors("building an image", BuildFailed):
        messages: Iterable[dict[str, object]] = client.api.build(
            fileobj=io.BytesIO(context), custom_context=True, tag=tag,
            buildargs=dict(buildargs), rm=True, forcerm=True, pull=False, decode=True,
            container_limits=(
                {"memory": memory_bytes, "memswap": memory_bytes} if memory_bytes > 0 else None
            ),
        )
        failure: BuildFailed | None = None
        # Read to the end even after an error, which the engine sends last: a stream left
        # half-read keeps its socket open.
        for message in messages:
            if "stream" in message:
                lines.feed(str(message["stream"]))
            elif "error" in message and failure is None:
                lines.flush()
                detail = message.get("errorDetail")
                code = detail.get("code") if isinstance(detail, dict) else None
                error = _COLOUR.sub("", str(message["error"])).strip()
                log(error)
                what = _describe(lines.step, steps)
                reason = f"{what} failed" + (f" (exit code {code})" if code else "")
                last = lines.last[-1].strip() if lines.last else error
                failure = BuildFailed(f"{reason}: {last}")
            elif isinstance(message.get("aux"), dict):
                image_id = str(message["aux"].get("ID", ""))  # type: ignore[union-attr]
            elif "status" in message:
                lines.feed(str(message["status"]) + "\n")
        lines.flush()
    if failure is not None:
        raise failure
    if not image_id:
        raise BuildFailed(f"the engine built {tag} but named no image")
    return image_id
