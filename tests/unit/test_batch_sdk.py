"""The SDK's batch jobs (``client.batch``) over real HTTP, against a tiny scripted control
plane in a thread: the streamed, signed upload (verified with the platform's own SigV4
verifier, the body hashed as it arrives), the options as the API takes them, waiting,
atomic downloads, ``score`` from submit to files, and schedules. ``BatchServer`` serves
the CLI's tests too (tests/unit/test_batch_cli.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from requests_aws4auth import AWS4Auth

from shipyard.iam import SignatureRejected, SignedRequest, Verifier
from shipyard_sdk.batch_api import (
    StreamedUploadAuth,
    file_sha256,
    input_format,
    predictions_path,
    sibling_path,
)
from shipyard_sdk.client import Client
from shipyard_sdk.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    ShipyardError,
    Unavailable,
    UpstreamTimeout,
    error_body,
)

ACCESS_KEY = "AKIDSHIPYARDBATCH001"
SECRET = "batch/Test+Secret=Key0123456789abcdef"
TOKEN = "session-token/for+batch"
JOB_ID = "job-7f3a"
SCHEDULE_ID = "sch-51c0"
BLOCK = 1024 * 1024
CSV = b"sepal_length,sepal_width\n5.1,3.5\n4.9,3.0\n"
RESULTS = {"v2": b"sepal_length,prediction\n5.1,setosa\n4.9,setosa\n",
           "v1": b"sepal_length,prediction\n5.1,setosa\n4.9,versicolor\n"}
ERRORS = {"v2": b'{"line": 3, "message": "sepal_width is not a number"}\n'}


def generation(tag: str, role: str, *, scored: int = 0, failed: int = 0) -> dict[str, Any]:
    return {"generation": tag, "role": role, "rows_scored": scored, "rows_failed": failed,
            "result_url": f"/api/v1/batch-jobs/{JOB_ID}/results/{tag}",
            "errors_url": f"/api/v1/batch-jobs/{JOB_ID}/errors/{tag}"}


def job(state: str, done: int = 0, **changes: Any) -> dict[str, Any]:
    """A job as the API answers it, scored by v2 (main) and v1 (challenger)."""
    return {
        "id": JOB_ID, "service_id": "svc-1", "service": "iris", "state": state,
        "message": "", "created_at": "2024-05-01T10:00:00Z", "created_by": "alice",
        "started_at": None if state == "queued" else "2024-05-01T10:00:01Z",
        "finished_at": None, "input": {"format": "csv", "bytes": len(CSV), "job": None},
        "output_format": "csv",
        "options": {"chunk_size": 1000, "passthrough": [], "association_column": None},
        "generations": [generation("v2", "main", scored=done),
                        generation("v1", "challenger", scored=done)],
        "rows_total": 1000, "rows_done": done, "rate": None, "seconds_left": None,
        "expires_at": "2024-05-08T10:00:00Z", "schedule_id": None, **changes,
    }


def schedule(**changes: Any) -> dict[str, Any]:
    """A schedule as the API answers it: daily at 03:00 on a file the server reads."""
    return {
        "id": SCHEDULE_ID, "service_id": "svc-1", "service": "iris",
        "created_at": "2024-05-01T09:00:00+00:00", "created_by": "alice",
        "cron": "0 3 * * *", "source": "/data/exports/daily.csv", "format": None,
        "options": {}, "next_run_at": "2024-05-02T03:00:00+00:00", "last_run_at": None,
        "last_job_id": None, "last_error": "", **changes,
    }


RAN = schedule(last_run_at="2024-05-01T03:00:02+00:00", last_job_id=JOB_ID)
DUE_NOW = "2024-05-01T11:22:33+00:00"


SUCCEEDED = job("succeeded", 1000, finished_at="2024-05-01T10:01:00Z")


@dataclasses.dataclass
class Upload:
    """What one POST to ``.../batch-jobs`` or ``.../batch-schedules`` carried, and what
    the server made of it."""

    target: str
    content_type: str
    content_length: int | None
    size: int
    sha256: str
    signed: bool
    rejection: str | None
    body: bytes
    """The body when small (a JSON form), else empty: a big one is only hashed."""

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))


class BatchServer(ThreadingHTTPServer):
    """A control plane's batch-job and batch-schedule API with scripted answers.

    ``states`` are the job's answers to successive GETs (the last one repeats); uploads
    are hashed block by block as they arrive and, when signed, verified as the control
    plane does (a rejection answers 403). A new schedule is answered from its body, unless
    ``schedule_refusal`` is set: then with that error.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), BatchHandler)
        self.verifier = Verifier({ACCESS_KEY: SECRET}.get, ["execute-api", "s3"])
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str]] = []
        self.uploads: list[Upload] = []
        self.submitted = job("queued")
        self.states = [SUCCEEDED]
        self.jobs = [SUCCEEDED]
        self.results = dict(RESULTS)
        self.errors = dict(ERRORS)
        self.cut_short = False
        """Whether a result's answer promises more bytes than it sends."""
        self.schedules = [RAN]
        self.schedule_refusal: ShipyardError | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def next_state(self) -> dict[str, Any]:
        with self.lock:
            return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def paths(self, method: str | None = None) -> list[str]:
        """The paths asked for (with ``method``), in order."""
        return [urlsplit(target).path for seen_method, target in self.seen
                if method in (None, seen_method)]


class BatchHandler(BaseHTTPRequestHandler):
    server: BatchServer

    def do_GET(self) -> None:
        path = self._arrived()
        parts = path.split("/")
        if path.startswith("/api/v1/services/") and path.endswith("/batch-jobs"):
            self._json(200, {"jobs": self.server.jobs})
        elif path.startswith("/api/v1/services/") and path.endswith("/batch-schedules"):
            self._json(200, {"schedules": self.server.schedules})
        elif path == f"/api/v1/batch-schedules/{SCHEDULE_ID}":
            self._json(200, RAN)
        elif path.startswith("/api/v1/batch-schedules/"):
            self._no_schedule(path)
        elif path == f"/api/v1/batch-jobs/{JOB_ID}":
            self._json(200, self.server.next_state())
        elif len(parts) == 7 and parts[5] in ("results", "errors"):
            found = self.server.results if parts[5] == "results" else self.server.errors
            self._file(found.get(unquote(parts[6])), parts[5])
        else:
            self._json(404, error_body(NotFound(f"nothing at {path}")))

    def do_POST(self) -> None:
        path = self._arrived()
        upload = self._read_upload()
        if path == f"/api/v1/batch-jobs/{JOB_ID}/cancel":
            self._json(200, job("cancelled", 400))
            return
        if path == f"/api/v1/batch-schedules/{SCHEDULE_ID}/run":
            self._json(200, {**RAN, "next_run_at": DUE_NOW})
            return
        if path.startswith("/api/v1/batch-schedules/"):
            self._no_schedule(path.removesuffix("/run"))
            return
        with self.server.lock:
            self.server.uploads.append(upload)
        refusal = self.server.schedule_refusal
        if upload.rejection is not None:
            self._json(403, error_body(SignatureRejected(upload.rejection)))
        elif not path.endswith("/batch-schedules"):
            self._json(202, self.server.submitted)
        elif refusal is not None:
            self._json(refusal.http_status, error_body(refusal))
        else:
            body = json.loads(upload.body)
            self._json(201, schedule(
                cron=body.pop("cron"), source=body.pop("source"),
                format=body.pop("format", None), options=body,
            ))

    def do_DELETE(self) -> None:
        path = self._arrived()
        if path != f"/api/v1/batch-schedules/{SCHEDULE_ID}":
            self._no_schedule(path)
            return
        self.send_response(204)
        self.end_headers()

    def _no_schedule(self, path: str) -> None:
        schedule_id = unquote(path.rsplit("/", 1)[-1])
        self._json(404, error_body(NotFound(f"batch schedule {schedule_id!r} does not exist")))

    def _arrived(self) -> str:
        target = self.requestline.split(" ")[1]
        with self.server.lock:
            self.server.seen.append((self.command, target))
        return urlsplit(target).path

    def _read_upload(self) -> Upload:
        length = self.headers.get("Content-Length")
        left = int(length or 0)
        digest, size, kept = hashlib.sha256(), 0, b""
        while left:
            block = self.rfile.read(min(left, BLOCK))
            if not block:
                break
            digest.update(block)
            size += len(block)
            left -= len(block)
            if size <= 64 * 1024:
                kept += block
        target = self.requestline.split(" ")[1]
        signed = "Authorization" in self.headers
        rejection = None
        if signed:
            request = SignedRequest.from_target(
                self.command, target, self.headers.items(), body_sha256=digest.hexdigest(),
                now=datetime.now(UTC),
            )
            try:
                self.server.verifier.verify(request)
            except SignatureRejected as rejected:
                rejection = rejected.message
        return Upload(target, self.headers.get("Content-Type", ""),
                      None if length is None else int(length), size, digest.hexdigest(),
                      signed, rejection, kept if size <= 64 * 1024 else b"")

    def _json(self, status: int, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _file(self, content: bytes | None, kind: str) -> None:
        if content is None:
            self._json(404, error_body(NotFound(f"no {kind} for that generation")))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv" if kind == "results" else
                         "application/x-ndjson")
        promised = len(content) + (100 if self.server.cut_short else 0)
        self.send_header("Content-Length", str(promised))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def server() -> Iterator[BatchServer]:
    running = BatchServer()
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield running
    running.shutdown()
    running.server_close()
    thread.join(timeout=10)


@pytest.fixture
def signed(server: BatchServer) -> Iterator[Client]:
    with Client(server.url, access_key=ACCESS_KEY, secret_key=SECRET) as client:
        yield client


@pytest.fixture
def anonymous(server: BatchServer) -> Iterator[Client]:
    """A client without credentials (the clean test environment has none to find)."""
    with Client(server.url) as client:
        assert client.session.auth is None
        yield client


@pytest.fixture
def flowers(tmp_path: Path) -> Path:
    path = tmp_path / "flowers.csv"
    path.write_bytes(CSV)
    return path


class RecordingAdapter(HTTPAdapter):
    """requests' own transport, noting the body of each request it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[Any] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.bodies.append(request.body)
        return super().send(request, **kwargs)


# -- the signed, streamed upload ----------------------------------------------------------


def test_the_streamed_upload_is_signed_with_the_hash_given(flowers: Path) -> None:
    digest = file_sha256(flowers)
    assert digest == hashlib.sha256(CSV).hexdigest()
    signer = AWS4Auth(ACCESS_KEY, SECRET, "us-east-1", "execute-api", session_token=TOKEN)
    with flowers.open("rb") as body:
        prepared = requests.Request(
            "POST", "http://127.0.0.1:8123/api/v1/services/my%20iris/batch-jobs?format=csv",
            data=body, headers={"Content-Type": "text/csv"},
        ).prepare()
        signed = StreamedUploadAuth(signer, digest)(prepared)
        assert signed.body is body and body.tell() == 0  # set aside, never read
    assert signed.headers["Content-Length"] == str(len(CSV))
    assert signed.headers["x-amz-content-sha256"] == digest
    received = SignedRequest.from_target(
        "POST", signed.path_url, [("Host", "127.0.0.1:8123"), *signed.headers.items()],
        body_sha256=digest, now=datetime.now(UTC),
    )
    verifier = Verifier({ACCESS_KEY: SECRET}.get, ["execute-api"])
    identity = verifier.verify(received)
    assert (identity.access_key_id, identity.session_token) == (ACCESS_KEY, TOKEN)

    other_body = dataclasses.replace(received, body_sha256=hashlib.sha256(b"x").hexdigest())
    with pytest.raises(SignatureRejected) as rejected:
        verifier.verify(other_body)
    assert rejected.value.message == SignatureRejected.PAYLOAD
    # Declaring another hash than the one signed breaks the signature itself.
    other = hashlib.sha256(b"x").hexdigest()
    swapped = dataclasses.replace(
        received, body_sha256=other,
        headers=tuple((name, other if name.lower() == "x-amz-content-sha256" else value)
                      for name, value in received.headers),
    )
    with pytest.raises(SignatureRejected) as rejected:
        verifier.verify(swapped)
    assert rejected.value.message == SignatureRejected.MISMATCH


def test_the_hash_given_must_be_a_lowercase_hex_digest() -> None:
    signer = AWS4Auth(ACCESS_KEY, SECRET, "us-east-1", "execute-api")
    for wrong in ("UNSIGNED-PAYLOAD", "A" * 64, "0" * 63):
        with pytest.raises(ValueError, match="SHA-256"):
            StreamedUploadAuth(signer, wrong)


def test_a_big_upload_streams_from_disk_and_its_signature_is_accepted(
    server: BatchServer, signed: Client, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as sink:
        sink.write(b"a,b\n")
        for _ in range(32):
            sink.write(b"1,2\n" * (BLOCK // 4))
    size = big.stat().st_size
    transport = RecordingAdapter()
    signed.session.mount("http://", transport)
    tracemalloc.start()
    try:
        answer = signed.batch.submit("iris", big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer == server.submitted
    (upload,) = server.uploads
    assert upload.rejection is None and upload.signed
    assert (upload.size, upload.content_length) == (size, size)
    assert upload.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    (body,) = transport.bodies
    assert isinstance(body, io.BufferedReader) and body.name == str(big)
    assert peak < size / 4, f"{peak:,} bytes held at once for a {size:,}-byte upload"


def test_a_wrong_secret_is_refused_by_the_verifier(server: BatchServer, flowers: Path) -> None:
    with Client(server.url, access_key=ACCESS_KEY, secret_key="not/the+secret") as client, \
            pytest.raises(Forbidden, match="does not match"):
        client.batch.submit("iris", flowers)
    assert server.uploads[0].signed


def test_without_credentials_the_file_goes_unsigned(
    server: BatchServer, anonymous: Client, flowers: Path
) -> None:
    anonymous.batch.submit("iris", flowers)
    (upload,) = server.uploads
    assert not upload.signed
    assert (upload.body, upload.sha256) == (CSV, hashlib.sha256(CSV).hexdigest())


# -- formats, options and refusals -----------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("a.csv", "csv"), ("a.CSV", "csv"), ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"),
    ("archive.tar.csv", "csv"), ("a.parquet", "parquet"), ("a.Parquet", "parquet"),
])
def test_the_format_is_told_by_the_suffix(name: str, expected: str) -> None:
    assert input_format(name) == expected


def test_a_suffix_that_tells_no_format_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match=r"suffix '\.txt': name it \.csv, \.jsonl, "
                       r"\.ndjson or \.parquet, or give the format \(csv, jsonl or parquet\)"):
        input_format("data.txt")
    with pytest.raises(InvalidInput, match="without a suffix"):
        input_format("data")
    assert input_format("data.txt", "jsonl") == "jsonl"
    with pytest.raises(InvalidInput, match="'xlsx'"):
        input_format("data.csv", "xlsx")


@pytest.mark.parametrize(("file", "options", "message"), [
    ("data.txt", {}, r"suffix '\.txt'"),
    ("data.csv", {"output_format": "xlsx"}, "output format must be csv, jsonl or parquet"),
    ("data.csv", {"chunk_size": 0}, "chunk size"),
    ("data.csv", {"passthrough": ["a,b"]}, "comma"),
    ("data.csv", {"generations": [""]}, "non-empty"),
    ("missing.csv", {}, "no file"),
    ("empty.csv", {}, "empty"),
])
def test_refusals_come_before_anything_is_sent(
    server: BatchServer, signed: Client, tmp_path: Path, file: str, options: dict[str, Any],
    message: str,
) -> None:
    for name, content in (("data.txt", CSV), ("data.csv", CSV), ("empty.csv", b"")):
        (tmp_path / name).write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        signed.batch.submit("iris", tmp_path / file, **options)
    assert server.seen == []


def test_options_travel_as_query_parameters(
    server: BatchServer, signed: Client, flowers: Path
) -> None:
    signed.batch.submit(
        "my iris", flowers, output_format="jsonl", chunk_size=500, challenger=True,
        generations=["v2", "v1"], passthrough=("id", "name"), association_column="id",
    )
    (upload,) = server.uploads
    assert urlsplit(upload.target).path == "/api/v1/services/my%20iris/batch-jobs"
    assert upload.query == {
        "format": "csv", "output_format": "jsonl", "chunk_size": "500", "challenger": "true",
        "generations": "v2,v1", "passthrough": "id,name", "association_column": "id",
    }
    assert upload.content_type == "text/csv"
    assert upload.rejection is None


def test_defaults_are_left_to_the_server_and_json_lines_say_so(
    server: BatchServer, signed: Client, tmp_path: Path
) -> None:
    lines = tmp_path / "flowers.ndjson"
    lines.write_bytes(b'{"sepal_length": 5.1}\n')
    signed.batch.submit("iris", lines, generations="v3")
    (upload,) = server.uploads
    assert upload.query == {"format": "jsonl", "generations": "v3"}
    assert upload.content_type == "application/x-ndjson"


def test_a_parquet_file_is_sent_as_it_is_with_its_media_type(
    server: BatchServer, signed: Client, tmp_path: Path
) -> None:
    table = tmp_path / "flowers.parquet"
    content = b"PAR1" + bytes(range(256)) * 8 + b"PAR1"  # bytes that are no text
    table.write_bytes(content)
    signed.batch.submit("iris", table, output_format="csv")
    (upload,) = server.uploads
    assert upload.query == {"format": "parquet", "output_format": "csv"}
    assert upload.content_type == "application/vnd.apache.parquet"
    assert (upload.size, upload.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert upload.signed and upload.rejection is None


def test_submit_from_sends_the_json_form(server: BatchServer, signed: Client) -> None:
    signed.batch.submit_from("iris", "job-0", chunk_size=10, challenger=True,
                             generations=["v3"], passthrough=["id"])
    (upload,) = server.uploads
    assert upload.content_type == "application/json"
    assert json.loads(upload.body) == {"input_job": "job-0", "chunk_size": 10,
                                       "challenger": True, "generations": ["v3"],
                                       "passthrough": ["id"]}
    assert upload.rejection is None


def test_get_list_and_cancel(server: BatchServer, signed: Client) -> None:
    assert signed.batch.get(JOB_ID) == SUCCEEDED
    assert signed.batch.list("my iris") == [SUCCEEDED]
    assert signed.batch.cancel(JOB_ID)["state"] == "cancelled"
    assert server.seen == [
        ("GET", f"/api/v1/batch-jobs/{JOB_ID}"),
        ("GET", "/api/v1/services/my%20iris/batch-jobs"),
        ("POST", f"/api/v1/batch-jobs/{JOB_ID}/cancel"),
    ]


@pytest.mark.parametrize(("source", "output_format", "expected"), [
    ("data.csv", "csv", "data.predictions.csv"),
    ("data.ndjson", "jsonl", "data.predictions.ndjson"),
    ("data.csv", "jsonl", "data.predictions.jsonl"),
    ("data.txt", "csv", "data.predictions.csv"),
    ("data.parquet", "parquet", "data.predictions.parquet"),
    ("data.csv", "parquet", "data.predictions.parquet"),
    ("data.parquet", "csv", "data.predictions.csv"),
])
def test_default_output_paths(source: str, output_format: str, expected: str) -> None:
    assert predictions_path(Path("/in") / source, output_format) == Path("/in") / expected
    assert sibling_path(Path("/out/scored.csv"), "v1") == Path("/out/scored.v1.csv")


# -- waiting ------------------------------------------------------------------------------


def test_wait_polls_until_the_job_ends_and_reports_each_poll(
    server: BatchServer, signed: Client
) -> None:
    server.states = [job("queued"), job("running", 500, rate=250.0, seconds_left=2), SUCCEEDED]
    seen: list[tuple[str, int]] = []
    final = signed.batch.wait(JOB_ID, poll=0.01,
                              progress=lambda j: seen.append((j["state"], j["rows_done"])))
    assert final == SUCCEEDED
    assert seen == [("queued", 0), ("running", 500), ("succeeded", 1000)]


def test_wait_hands_back_a_failed_job_without_raising(
    server: BatchServer, signed: Client
) -> None:
    server.states = [job("running", 10), job("failed", 10, message="model crashed")]
    assert signed.batch.wait(JOB_ID, poll=0.01)["message"] == "model crashed"


def test_wait_gives_up_after_its_timeout(server: BatchServer, signed: Client) -> None:
    server.states = [job("running", 10)]
    with pytest.raises(UpstreamTimeout, match=f"{JOB_ID} was still running after 0.05s"):
        signed.batch.wait(JOB_ID, poll=0.01, timeout=0.05)


# -- downloads ----------------------------------------------------------------------------


def test_download_writes_the_file_whole(
    server: BatchServer, signed: Client, tmp_path: Path
) -> None:
    target = tmp_path / "scored.csv"
    target.write_bytes(b"an older file")
    assert signed.batch.download(JOB_ID, "v2", target) == target
    assert target.read_bytes() == RESULTS["v2"]
    errors = signed.batch.download(JOB_ID, "v2", tmp_path / "errors.jsonl", errors=True)
    assert errors.read_bytes() == ERRORS["v2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["errors.jsonl", "scored.csv"]
    assert server.paths("GET") == [f"/api/v1/batch-jobs/{JOB_ID}/results/v2",
                                   f"/api/v1/batch-jobs/{JOB_ID}/errors/v2"]


def test_a_broken_download_leaves_the_destination_as_it_was(
    server: BatchServer, signed: Client, tmp_path: Path
) -> None:
    target = tmp_path / "scored.csv"
    target.write_bytes(b"an older file")
    server.cut_short = True
    with pytest.raises(Unavailable, match="broke off"):
        signed.batch.download(JOB_ID, "v2", target)
    assert target.read_bytes() == b"an older file"
    assert [p.name for p in tmp_path.iterdir()] == ["scored.csv"]


def test_a_refused_download_writes_nothing(
    server: BatchServer, signed: Client, tmp_path: Path
) -> None:
    with pytest.raises(NotFound):
        signed.batch.download(JOB_ID, "v9", tmp_path / "scored.csv")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InvalidInput, match="is a folder"):
        signed.batch.download(JOB_ID, "v2", tmp_path)
    with pytest.raises(InvalidInput, match="no folder"):
        signed.batch.download(JOB_ID, "v2", tmp_path / "missing" / "scored.csv")


# -- score ----------------------------------------------------------------------------------


def test_score_submits_waits_and_downloads_every_generation(
    server: BatchServer, signed: Client, flowers: Path
) -> None:
    server.states = [job("running", 500), SUCCEEDED]
    polls: list[str] = []
    final = signed.batch.score("iris", flowers, challenger=True, poll=0.01,
                               progress=lambda j: polls.append(j["state"]))
    main, challenger = flowers.with_name("flowers.predictions.csv"), \
        flowers.with_name("flowers.predictions.v1.csv")
    assert final == {**SUCCEEDED, "files": {"v2": main, "v1": challenger}}
    assert (main.read_bytes(), challenger.read_bytes()) == (RESULTS["v2"], RESULTS["v1"])
    assert polls == ["running", "succeeded"]
    assert server.uploads[0].query == {"format": "csv", "challenger": "true"}


def test_score_names_files_by_the_output_and_its_format(
    server: BatchServer, signed: Client, flowers: Path, tmp_path: Path
) -> None:
    chosen = [generation("v3", "chosen"), generation("v1", "chosen")]
    server.states = [job("succeeded", 1000, output_format="jsonl", generations=chosen)]
    server.results = {"v3": b'{"prediction": 1}\n', "v1": b'{"prediction": 0}\n'}
    default = signed.batch.score("iris", flowers, output_format="jsonl",
                                 generations=["v3", "v1"], poll=0.01)
    assert default["files"] == {"v3": tmp_path / "flowers.predictions.jsonl",
                                "v1": tmp_path / "flowers.predictions.v1.jsonl"}
    named = signed.batch.score("iris", flowers, tmp_path / "scored.jsonl", poll=0.01)
    assert named["files"] == {"v3": tmp_path / "scored.jsonl",
                              "v1": tmp_path / "scored.v1.jsonl"}
    assert (tmp_path / "scored.v1.jsonl").read_bytes() == b'{"prediction": 0}\n'


@pytest.mark.parametrize(("ended", "message"), [
    (job("failed", 10, message="column 'petal_length' is missing"),
     f"batch job {JOB_ID} failed: column 'petal_length' is missing"),
    (job("cancelled", 10), f"batch job {JOB_ID} was cancelled"),
])
def test_score_raises_when_the_job_does_not_succeed(
    server: BatchServer, signed: Client, flowers: Path, ended: dict[str, Any], message: str
) -> None:
    server.states = [ended]
    with pytest.raises(ShipyardError) as raised:
        signed.batch.score("iris", flowers, poll=0.01)
    assert raised.value.message == message
    assert [p.name for p in flowers.parent.iterdir()] == ["flowers.csv"]


def test_score_without_waiting_only_submits(
    server: BatchServer, signed: Client, flowers: Path
) -> None:
    assert signed.batch.score("iris", flowers, wait=False) == server.submitted
    assert server.paths() == ["/api/v1/services/iris/batch-jobs"]


# -- schedules ------------------------------------------------------------------------------


def test_schedule_sends_the_json_form_with_the_job_options(
    server: BatchServer, signed: Client
) -> None:
    made = signed.batch.schedule(
        "my iris", "0 3 * * *", "https://exports.example.com/daily.parquet",
        format="parquet", output_format="csv", chunk_size=500, challenger=True,
        generations=["v2", "v1"], passthrough=("id", "name"), association_column="id",
    )
    options = {"output_format": "csv", "chunk_size": 500, "challenger": True,
               "generations": ["v2", "v1"], "passthrough": ["id", "name"],
               "association_column": "id"}
    (upload,) = server.uploads
    assert server.seen == [("POST", "/api/v1/services/my%20iris/batch-schedules")]
    assert upload.content_type == "application/json"
    assert upload.signed and upload.rejection is None
    assert json.loads(upload.body) == {
        "cron": "0 3 * * *", "source": "https://exports.example.com/daily.parquet",
        "format": "parquet", **options,
    }
    assert made == schedule(source="https://exports.example.com/daily.parquet",
                            format="parquet", options=options)


def test_a_schedule_leaves_defaults_to_the_server(server: BatchServer, signed: Client) -> None:
    made = signed.batch.schedule("iris", "@daily", "/data/exports/daily.csv", generations="v3")
    assert json.loads(server.uploads[0].body) == {
        "cron": "@daily", "source": "/data/exports/daily.csv", "generations": ["v3"],
    }
    assert (made["format"], made["options"]) == (None, {"generations": ["v3"]})


@pytest.mark.parametrize(("options", "message"), [
    ({"format": "xlsx"}, "format must be csv, jsonl or parquet, not 'xlsx'"),
    ({"output_format": "xlsx"}, "output format must be csv, jsonl or parquet"),
    ({"chunk_size": 0}, "chunk size"),
    ({"generations": [""]}, "non-empty"),
    ({"passthrough": [3]}, "non-empty"),
])
def test_schedule_refusals_come_before_anything_is_sent(
    server: BatchServer, signed: Client, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        signed.batch.schedule("iris", "0 3 * * *", "/data/exports/daily.csv", **options)
    assert server.seen == []


def test_a_schedule_the_server_refuses_raises_its_error(
    server: BatchServer, signed: Client
) -> None:
    server.schedule_refusal = InvalidInput("cron 'at three' does not parse")
    with pytest.raises(InvalidInput, match="cron 'at three' does not parse"):
        signed.batch.schedule("iris", "at three", "/data/exports/daily.csv")
    server.schedule_refusal = Forbidden("'/etc/passwd' is not under a folder batch jobs "
                                       "may read")
    with pytest.raises(Forbidden, match="may read"):
        signed.batch.schedule("iris", "@daily", "/etc/passwd")


def test_schedules_get_run_and_unschedule(server: BatchServer, signed: Client) -> None:
    assert signed.batch.schedules("my iris") == [RAN]
    assert signed.batch.get_schedule(SCHEDULE_ID) == RAN
    assert signed.batch.run_schedule(SCHEDULE_ID) == {**RAN, "next_run_at": DUE_NOW}
    assert signed.batch.unschedule(SCHEDULE_ID) is None
    assert server.seen == [
        ("GET", "/api/v1/services/my%20iris/batch-schedules"),
        ("GET", f"/api/v1/batch-schedules/{SCHEDULE_ID}"),
        ("POST", f"/api/v1/batch-schedules/{SCHEDULE_ID}/run"),
        ("DELETE", f"/api/v1/batch-schedules/{SCHEDULE_ID}"),
    ]
    assert server.uploads == []


@pytest.mark.parametrize("call", ["get_schedule", "run_schedule", "unschedule"])
def test_an_unknown_schedule_raises_not_found(
    server: BatchServer, signed: Client, call: str
) -> None:
    with pytest.raises(NotFound, match="batch schedule 'sch/0' does not exist"):
        getattr(signed.batch, call)("sch/0")
    ((_method, target),) = server.seen
    assert target.startswith("/api/v1/batch-schedules/sch%2F0")


def test_a_scheduled_job_names_its_schedule(server: BatchServer, signed: Client) -> None:
    server.jobs = [job("queued", schedule_id=SCHEDULE_ID), SUCCEEDED]
    assert [j["schedule_id"] for j in signed.batch.list("iris")] == [SCHEDULE_ID, None]
