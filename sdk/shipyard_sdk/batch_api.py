"""Batch prediction jobs from Python: score a CSV, JSON Lines or Parquet file with a model
service's generations, in the background, and fetch the results.

    job = client.batch.score("iris", "flowers.csv", challenger=True)
    job["files"]  # {"v2": Path("flowers.predictions.csv"), "v1": Path(...)}

Or on a schedule, on a file the control plane reads itself at each run (at a path or URL
its administrator allows); each run is a job of its own:

    schedule = client.batch.schedule("iris", "0 3 * * *", "/data/exports/daily.csv")

The input file is streamed from disk, never read whole: signed uploads carry its SHA-256,
computed beforehand in blocks (``StreamedUploadAuth``), because the control plane refuses
``UNSIGNED-PAYLOAD``.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from requests_aws4auth import AWS4Auth

from shipyard_sdk.errors import InvalidInput, ShipyardError, Unavailable, UpstreamTimeout
from shipyard_sdk.services_api import service_path

if TYPE_CHECKING:
    from shipyard_sdk.client import Client

__all__ = [
    "FINAL_STATES",
    "FORMATS",
    "BatchAPI",
    "StreamedUploadAuth",
    "file_sha256",
    "input_format",
    "is_final",
    "main_generation",
    "predictions_path",
    "raise_unless_succeeded",
    "sibling_path",
]

FORMATS = ("csv", "jsonl", "parquet")
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})
BLOCK_SIZE = 1024 * 1024
CONTENT_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson",
                 "parquet": "application/vnd.apache.parquet"}
SUFFIXES = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}
_FORMAT_OF_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                     ".parquet": "parquet"}
_FORMAT_NAMES = f"{', '.join(FORMATS[:-1])} or {FORMATS[-1]}"

Progress = Callable[[dict[str, Any]], object]


class BatchAPI:
    """``/api/v1/services/<ref>/batch-jobs``, ``/api/v1/batch-jobs``, and their schedules:
    ``/api/v1/services/<ref>/batch-schedules`` and ``/api/v1/batch-schedules``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def submit(
        self, service: str, path: str | os.PathLike[str], *,
        format: str | None = None,  # noqa: A002 (the API's name for it)
        output_format: str | None = None, chunk_size: int | None = None,
        challenger: bool = False, generations: Iterable[str] | None = None,
        passthrough: Iterable[str] = (), association_column: str | None = None,
    ) -> dict[str, Any]:
        """Start a job scoring the file at ``path`` with ``service``; the job, queued.

        ``format`` is the file's (``csv``, ``jsonl`` or ``parquet``; by default from its
        suffix: ``.csv``, ``.jsonl``, ``.ndjson``, ``.parquet``), ``output_format`` the
        results' (default: the input's). ``generations`` (``["v2", "v1"]``) score instead
        of the one serving; ``challenger`` adds the service's challenger. ``passthrough``
        names input columns copied to the results; ``association_column`` the column whose
        values identify each prediction (to join actuals later)."""
        source = Path(path)
        fmt = input_format(source, format)
        options = _options(output_format, chunk_size, challenger, generations, passthrough,
                           association_column)
        for name in (*options.get("generations", ()), *options.get("passthrough", ())):
            if "," in name:
                raise InvalidInput(f"{name!r}: a name sent in a list cannot hold a comma")
        if not source.is_file():
            raise InvalidInput(f"no file at {str(source)!r}")
        if source.stat().st_size == 0:
            raise InvalidInput(f"{str(source)!r} is empty: nothing to score")
        params = {"format": fmt, **_query(options)}
        auth = self._upload_auth(file_sha256(source))
        with source.open("rb") as body:
            return self._client.json(
                "POST", _jobs_path(service), data=body, params=params, auth=auth,
                headers={"Content-Type": CONTENT_TYPES[fmt]},
            )

    def submit_from(
        self, service: str, input_job: str, *, output_format: str | None = None,
        chunk_size: int | None = None, challenger: bool = False,
        generations: Iterable[str] | None = None, passthrough: Iterable[str] = (),
        association_column: str | None = None,
    ) -> dict[str, Any]:
        """Start a job scoring the input file of job ``input_job`` again (with other
        generations, say), without sending it; options as ``submit``'s."""
        body = {"input_job": input_job, **_options(
            output_format, chunk_size, challenger, generations, passthrough, association_column
        )}
        return self._client.json("POST", _jobs_path(service), json=body)

    def get(self, job_id: str) -> dict[str, Any]:
        return self._client.json("GET", _job_path(job_id))

    def list(self, service: str) -> list[dict[str, Any]]:
        """``service``'s jobs, newest first."""
        return self._client.json("GET", _jobs_path(service))["jobs"]

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Stop the job; the job, cancelled unless it had already ended."""
        return self._client.json("POST", _job_path(job_id) + "/cancel")

    def download(
        self, job_id: str, generation: str, destination: str | os.PathLike[str], *,
        errors: bool = False,
    ) -> Path:
        """Write generation ``generation``'s results (with ``errors``: the rows that failed,
        as JSON Lines of ``line`` and ``message``) to ``destination``; its path. The file
        appears whole or not at all: it is written beside it first, then renamed."""
        target = Path(destination)
        if target.is_dir():
            raise InvalidInput(f"{str(target)!r} is a folder: give the file to write")
        if not target.parent.is_dir():
            raise InvalidInput(f"no folder {str(target.parent)!r} to write {target.name} in")
        kind = "errors" if errors else "results"
        response = self._client.request(
            "GET", f"{_job_path(job_id)}/{kind}/{quote(generation, safe='')}", stream=True
        )
        with response:
            _write_whole(response, target, f"the {kind} of batch job {job_id} {generation}")
        return target

    def download_results(
        self, job: Mapping[str, Any], output: str | os.PathLike[str]
    ) -> dict[str, Path]:
        """Every generation's results of a finished ``job``: the main (or first)
        generation's to ``output``, each other's beside it (``sibling_path``); where each
        went, by generation."""
        output = Path(output)
        first = main_generation(job)["generation"]
        files: dict[str, Path] = {}
        for entry in job["generations"]:
            tag = entry["generation"]
            where = output if tag == first else sibling_path(output, tag)
            files[tag] = self.download(job["id"], tag, where)
        return files

    def wait(
        self, job_id: str, *, progress: Progress | None = None, poll: float = 1.0,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Poll the job every ``poll`` seconds until it ends; the job then, whichever way it
        ended (see ``raise_unless_succeeded``). ``progress`` is called with the job at
        each poll. Still running after ``timeout`` seconds raises ``UpstreamTimeout``
        (the job goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if progress is not None:
                progress(job)
            if is_final(job):
                return job
            pause = poll
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise UpstreamTimeout(
                        f"batch job {job_id} was still {job['state']} after {timeout:g}s"
                    )
                pause = min(poll, left)
            time.sleep(pause)

    def score(
        self, service: str, path: str | os.PathLike[str],
        output: str | os.PathLike[str] | None = None, *, challenger: bool = False,
        wait: bool = True, progress: Progress | None = None,
        format: str | None = None,  # noqa: A002 (the API's name for it)
        output_format: str | None = None, chunk_size: int | None = None,
        generations: Iterable[str] | None = None, passthrough: Iterable[str] = (),
        association_column: str | None = None, poll: float = 1.0,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Score the file at ``path`` with ``service`` (options as ``submit``'s). Without
        ``wait``, the job as submitted. Else wait for it (``progress``, ``poll`` and
        ``timeout`` as ``wait``'s) and download each generation's results: the main
        one's to ``output`` (default: ``predictions_path``), the others beside it; the
        finished job, with ``files``: where each generation's results went. A job that
        fails or is cancelled raises ``ShipyardError`` with its message."""
        job = self.submit(
            service, path, format=format, output_format=output_format, chunk_size=chunk_size,
            challenger=challenger, generations=generations, passthrough=passthrough,
            association_column=association_column,
        )
        if not wait:
            return job
        job = raise_unless_succeeded(
            self.wait(job["id"], progress=progress, poll=poll, timeout=timeout)
        )
        destination = output or predictions_path(path, job["output_format"])
        return {**job, "files": self.download_results(job, destination)}

    def schedule(
        self, service: str, cron: str, source: str, *,
        format: str | None = None,  # noqa: A002 (the API's name for it)
        output_format: str | None = None, chunk_size: int | None = None,
        challenger: bool = False, generations: Iterable[str] | None = None,
        passthrough: Iterable[str] = (), association_column: str | None = None,
    ) -> dict[str, Any]:
        """Score the file at ``source`` with ``service`` each time ``cron`` fires; the
        schedule, with its ``next_run_at``.

        ``cron`` is five fields in UTC (``"0 3 * * *"``: at 03:00 each day) or a name such
        as ``@daily``. ``source`` is read by the control plane at each run, never sent from
        here: a path on its machine or an ``https://`` URL, under a folder or prefix its
        administrator allows. ``format`` is the file's (default: told at each run);
        options as ``submit``'s. Each run is a job of its own, whose ``schedule_id`` is
        the schedule's; a run that makes no job says why in the schedule's
        ``last_error``."""
        body: dict[str, Any] = {"cron": cron, "source": source}
        if format is not None:
            body["format"] = _checked_format(format, "format")
        body.update(_options(output_format, chunk_size, challenger, generations,
                             passthrough, association_column))
        return self._client.json("POST", _schedules_path(service), json=body)

    def schedules(self, service: str) -> list[dict[str, Any]]:
        """``service``'s batch schedules, oldest first."""
        return self._client.json("GET", _schedules_path(service))["schedules"]

    def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._client.json("GET", _schedule_path(schedule_id))

    def run_schedule(self, schedule_id: str) -> dict[str, Any]:
        """Make the schedule due now: the control plane starts its run within a tick (the
        job then shows in ``list``); the schedule."""
        return self._client.json("POST", _schedule_path(schedule_id) + "/run")

    def unschedule(self, schedule_id: str) -> None:
        """Delete the schedule: it runs no more; the jobs it started stay, with their
        results."""
        self._client.json("DELETE", _schedule_path(schedule_id))

    def _upload_auth(self, body_sha256: str) -> StreamedUploadAuth | None:
        """The client's signer with the body's hash given, or None to send as the session
        does (anonymously, when it has no credentials)."""
        signer = self._client.session.auth
        if isinstance(signer, AWS4Auth):
            return StreamedUploadAuth(signer, body_sha256)
        return None


class StreamedUploadAuth(AWS4Auth):
    """Signs as ``signer`` does, with the body's SHA-256 given instead of computed.

    AWS4Auth reads a file body into memory to hash it; this one sets the body aside while
    it signs, so requests streams the file afterwards. AWS4Auth first declares the empty
    body's hash in ``x-amz-content-sha256``; ``get_canonical_headers`` is the step after
    that and before the canonical request is built, so the real hash goes in there.
    """

    def __init__(self, signer: AWS4Auth, body_sha256: str) -> None:
        if len(body_sha256) != 64 or body_sha256.strip("0123456789abcdef"):
            raise ValueError("body_sha256 must be a lowercase hex SHA-256 digest")
        super().__init__(signer.access_id, signer.signing_key,
                         session_token=getattr(signer, "session_token", None),
                         raise_invalid_date=signer.raise_invalid_date)
        self.include_hdrs = set(signer.include_hdrs)
        self.body_sha256 = body_sha256

    def __call__(self, req: requests.PreparedRequest) -> requests.PreparedRequest:
        body, req.body = req.body, None
        try:
            return super().__call__(req)
        finally:
            req.body = body

    def get_canonical_headers(  # type: ignore[override]
        self, req: requests.PreparedRequest, include: Iterable[str] | None = None
    ) -> tuple[str, str]:
        req.headers["x-amz-content-sha256"] = self.body_sha256
        return super().get_canonical_headers(req, include)


def input_format(path: str | os.PathLike[str], given: str | None = None) -> str:
    """``given`` (checked), else the file's format by its suffix: ``csv``, ``jsonl`` or
    ``parquet``."""
    if given is not None:
        return _checked_format(given, "format")
    suffix = Path(path).suffix
    found = _FORMAT_OF_SUFFIX.get(suffix.lower())
    if found is None:
        told = f"its suffix {suffix!r}" if suffix else "a name without a suffix"
        raise InvalidInput(
            f"cannot tell the format of {Path(path).name!r} from {told}: name it .csv, "
            f".jsonl, .ndjson or .parquet, or give the format ({_FORMAT_NAMES})"
        )
    return found


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The lowercase hex SHA-256 of the file's content, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(BLOCK_SIZE):
            digest.update(block)
    return digest.hexdigest()


def predictions_path(input_path: str | os.PathLike[str], output_format: str) -> Path:
    """Where an input file's results go by default: beside it, ``<stem>.predictions`` with
    the input's suffix when it fits ``output_format`` (``.ndjson`` stays), else the
    format's own."""
    source = Path(input_path)
    fits = _FORMAT_OF_SUFFIX.get(source.suffix.lower()) == output_format
    suffix = source.suffix if fits else SUFFIXES[_checked_format(output_format, "output format")]
    return source.with_name(f"{source.stem}.predictions{suffix}")


def sibling_path(output: str | os.PathLike[str], generation: str) -> Path:
    """Where generation ``generation``'s results go beside ``output``:
    ``<output stem>.<generation><output suffix>``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.{generation}{output.suffix}")


def main_generation(job: Mapping[str, Any]) -> dict[str, Any]:
    """The job's generation whose role is ``main``, else its first one."""
    entries = job.get("generations") or []
    if not entries:
        raise ShipyardError(f"batch job {job['id']} names no generation")
    return next((entry for entry in entries if entry.get("role") == "main"), entries[0])


def is_final(job: Mapping[str, Any]) -> bool:
    return job["state"] in FINAL_STATES


def raise_unless_succeeded(job: dict[str, Any]) -> dict[str, Any]:
    """``job`` as it is, unless it failed or was cancelled: then ``ShipyardError`` with
    its message."""
    message = job.get("message") or ""
    if job["state"] == "failed":
        raise ShipyardError(f"batch job {job['id']} failed: {message or 'no reason given'}")
    if job["state"] == "cancelled":
        raise ShipyardError(
            f"batch job {job['id']} was cancelled" + (f": {message}" if message else "")
        )
    return job


def _jobs_path(service: str) -> str:
    return service_path(service) + "/batch-jobs"


def _job_path(job_id: str) -> str:
    return "/api/v1/batch-jobs/" + quote(job_id, safe="")


def _schedules_path(service: str) -> str:
    return service_path(service) + "/batch-schedules"


def _schedule_path(schedule_id: str) -> str:
    return "/api/v1/batch-schedules/" + quote(schedule_id, safe="")


def _checked_format(value: str, what: str) -> str:
    if value not in FORMATS:
        raise InvalidInput(f"{what} must be {_FORMAT_NAMES}, not {value!r}")
    return value


def _options(
    output_format: str | None, chunk_size: int | None, challenger: bool,
    generations: Iterable[str] | None, passthrough: Iterable[str],
    association_column: str | None,
) -> dict[str, Any]:
    """A job's options as the JSON form names them, those left at their default left out."""
    if output_format is not None:
        _checked_format(output_format, "output format")
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
        raise InvalidInput(f"chunk size must be a whole number of rows, 1 or more, "
                           f"not {chunk_size!r}")
    options = {
        "output_format": output_format,
        "chunk_size": None if chunk_size is None else int(chunk_size),
        "challenger": True if challenger else None,
        "generations": _names(generations, "generation") or None,
        "passthrough": _names(passthrough, "passthrough column") or None,
        "association_column": association_column or None,
    }
    return {name: value for name, value in options.items() if value is not None}


def _names(values: Iterable[str] | None, what: str) -> list[str]:
    """``values`` as a list; a lone string is one name, not its characters."""
    if values is None:
        return []
    names = [values] if isinstance(values, str) else list(values)
    if not all(isinstance(name, str) and name for name in names):
        raise InvalidInput(f"each {what} must be a non-empty name, got {names!r}")
    return names


def _query(options: Mapping[str, Any]) -> dict[str, str]:
    """Options as query parameters: lists joined by commas, the challenger as ``true``."""
    return {
        name: ",".join(value) if isinstance(value, list) else
        "true" if value is True else str(value)
        for name, value in options.items()
    }


def _write_whole(response: requests.Response, target: Path, what: str) -> None:
    """Stream ``response``'s body to a file beside ``target``, renamed to it once whole."""
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        with partial.open("xb") as sink:
            for block in response.iter_content(chunk_size=BLOCK_SIZE):
                sink.write(block)
        os.replace(partial, target)
    except requests.RequestException as exc:
        raise Unavailable(f"the download of {what} broke off: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
