"""``/api/v1/services`` from Python: the registry, files, deploys and logs."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
import urllib3

from shipyard_sdk.errors import (
    BadGateway,
    BuildFailed,
    RunnerError,
    ShipyardError,
    Unavailable,
)
from shipyard_sdk.user_services import ROUTES_HEADER

RECONNECT_WITHIN = 30.0
"""How long a followed build log keeps trying to open its stream again after a break."""
RECONNECT_PAUSE = 0.25
MAX_ACTUALS_PER_UPLOAD = 100_000
"""The most actuals the API takes in one call; ``submit_actuals`` sends more in parts."""
ACTUALS_COUNTS = ("received", "matched", "unmatched", "updated")
_REQUIRED_ACTUAL_FIELDS = ("association_id", "actual_value")
_CSV = "text/csv; charset=utf-8"

if TYPE_CHECKING:
    from shipyard_sdk.client import Client

__all__ = ["ServicesAPI", "gateway_serves", "service_path"]


class ServicesAPI:
    """``/api/v1/services``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self, **filters: str | bool | list[str] | tuple[str, ...]
    ) -> list[dict[str, Any]]:
        """The services the caller may see, each with its ``service_health``,
        ``drift_health`` and ``accuracy_health``; ``filters`` are the API's
        (``kind="model"``, ``state``, ``enabled``, ``deployed``, ``environment``,
        ``runner``, ``project``, ``search``, ``order_by``, and ``service_health``,
        ``drift_health``, ``accuracy_health``: ``"failing"``, or several as
        ``"warning,failing"`` or a list)."""
        params = {name: _parameter(value) for name, value in filters.items()}
        return self._client.json("GET", "/api/v1/services", params=params)["services"]

    def health(self, ref: str) -> dict[str, Any]:
        """The service's health now: ``status`` (passing, warning, failing or unknown),
        ``reasons`` and ``window_minutes``. Its thresholds are in ``get(ref)`` and change
        with ``update(ref, {"health_thresholds": {...}})``."""
        return self.get(ref)["service_health"]

    def get(self, ref: str) -> dict[str, Any]:
        return self._client.json("GET", service_path(ref))

    def secrets(self, ref: str) -> dict[str, Any]:
        """``{"secrets": [{"name", "updated_at"}...], "waiting": [names]}``: never values."""
        return self._client.json("GET", service_path(ref) + "/secrets")

    def set_secret(
        self, ref: str, name: str, value: str, *, redeploy: bool = False
    ) -> dict[str, Any]:
        """Set secret ``name`` of the service (it takes effect at its next deploy; with
        ``redeploy``, one is made now and answered as ``generation``)."""
        return self._client.json(
            "PUT", f"{service_path(ref)}/secrets/{quote(name, safe='')}",
            params={"redeploy": "true" if redeploy else "false"}, json={"value": value},
        )

    def unset_secret(self, ref: str, name: str, *, redeploy: bool = False) -> dict[str, Any]:
        return self._client.json(
            "DELETE", f"{service_path(ref)}/secrets/{quote(name, safe='')}",
            params={"redeploy": "true" if redeploy else "false"},
        )

    def variables(self, ref: str) -> dict[str, str]:
        """The environment variables the service's next generation will have."""
        return self._client.json("GET", service_path(ref) + "/env")["env"]

    def set_variables(self, ref: str, variables: Mapping[str, Any]) -> dict[str, str]:
        """Replace the service's environment variables (all of them: a name left out is
        unset); they take effect at its next deploy. The variables stored."""
        return self._client.json("PUT", service_path(ref) + "/env",
                                 json={"env": dict(variables)})["env"]

    def create(self, spec: Mapping[str, Any], archive: bytes | None = None) -> dict[str, Any]:
        """Create from a template, or from ``archive`` (zip or tar.gz) when given."""
        if archive is None:
            return self._client.json("POST", "/api/v1/services", json=dict(spec))
        return self._client.json(
            "POST",
            "/api/v1/services",
            data={"service": json.dumps(dict(spec))},
            files={"archive": ("service.zip", archive, "application/zip")},
        )

    def update(self, ref: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change the fields in ``changes``; ``health_thresholds`` merge over the stored
        ones (``{"server_error_rate": {"warning": 0.02}}``; None puts them all back to
        their defaults)."""
        return self._client.json("PATCH", service_path(ref), json=dict(changes))

    def delete(self, ref: str) -> None:
        self._client.json("DELETE", service_path(ref))

    def enable(self, ref: str) -> dict[str, Any]:
        return self._client.json("POST", service_path(ref) + "/enable")

    def disable(self, ref: str) -> dict[str, Any]:
        return self._client.json("POST", service_path(ref) + "/disable")

    def files(self, ref: str) -> list[dict[str, Any]]:
        return self._client.json("GET", service_path(ref) + "/files")["files"]

    def read_file(self, ref: str, path: str) -> bytes:
        return self._client.request("GET", _file_path(ref, path)).content

    def write_file(self, ref: str, path: str, content: bytes) -> dict[str, Any]:
        return self._client.json("PUT", _file_path(ref, path), data=content)

    def delete_file(self, ref: str, path: str) -> None:
        self._client.json("DELETE", _file_path(ref, path))

    def replace_files(self, ref: str, archive: bytes) -> list[dict[str, Any]]:
        headers = {"Content-Type": "application/octet-stream"}
        answer = self._client.json(
            "PUT", service_path(ref) + "/files", data=archive, headers=headers
        )
        return answer["files"]

    def archive(self, ref: str) -> bytes:
        return self._client.request("GET", service_path(ref) + "/archive").content

    def deploy(self, ref: str) -> dict[str, Any]:
        """Start building a new generation from the service's current files."""
        return self._client.json("POST", service_path(ref) + "/deploy")

    def undeploy(self, ref: str) -> dict[str, Any]:
        return self._client.json("POST", service_path(ref) + "/undeploy")

    def builds(self, ref: str) -> list[dict[str, Any]]:
        return self._client.json("GET", service_path(ref) + "/builds")["builds"]

    def build(self, ref: str, number: int) -> dict[str, Any]:
        return self._client.json("GET", f"{service_path(ref)}/builds/{number}")

    def build_log(
        self, ref: str, number: int, *, follow: bool = False, timeout: float | None = None,
        reconnect_within: float = RECONNECT_WITHIN,
    ) -> Iterator[str]:
        """The build's log lines; with ``follow``, as they come until the build ends.

        ``timeout`` bounds each wait for more of the log (None: as long as it takes). A
        followed stream that breaks (the control plane restarting) is opened again, on
        from the lines already read, for up to ``reconnect_within`` seconds. A stream
        that stalls past ``timeout``, or stays broken, raises ``Unavailable``.
        """
        path = f"{service_path(ref)}/builds/{number}/log"

        def open_after(after: int) -> Iterator[str]:
            return self._client.stream_lines(
                path, params={"follow": "true" if follow else "false", "after": str(after)},
                timeout=(self._client.timeout, timeout),
            )

        return _reconnecting(open_after, f"the build log of {ref} build {number}",
                             reconnect_within if follow else 0.0)

    def wait_until_serving(
        self, ref: str, tag: str, *, timeout: float = 600.0, poll: float = 0.05
    ) -> dict[str, Any]:
        """Wait until generation ``tag`` serves ``ref``, the gateway included; its status
        then. A failed build raises ``BuildFailed``, a generation that was given up
        ``RunnerError``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self._client.request("GET", service_path(ref))
            status = answer.json()
            if status.get("target_generation") != tag:
                # A failed build and the service's return to what served are stored
                # together: a status that no longer targets ``tag`` finds the failure.
                _raise_if_failed(ref, tag, self.build(ref, int(tag.removeprefix("v"))))
                reason = status["status_message"] or status["state"]
                raise RunnerError(f"{ref} {tag} did not start: {reason}")
            if (status.get("live_generation") == tag and status["state"] == "running"
                    and gateway_serves(answer, status)):
                return status
            time.sleep(poll)
        raise RunnerError(
            f"{ref} {tag} was not serving after {timeout:g}s: {self.waiting_for(ref, tag)}"
        )

    def waiting_for(self, ref: str, tag: str) -> str:
        """What generation ``tag`` of ``ref`` is still waiting for, in words."""
        build = self.build(ref, int(tag.removeprefix("v")))
        if build["build_state"] in ("pending", "building"):
            return f"its build is still {build['build_state']}"
        status = self.get(ref)
        if status.get("live_generation") == tag and status["state"] == "running":
            return "it runs, but the gateway does not send it calls yet"
        detail = f" ({status['status_message']})" if status.get("status_message") else ""
        return f"it is built, waiting for a healthy instance{detail}"

    def wait_until_built(
        self, ref: str, tag: str, *, timeout: float = 600.0, poll: float = 0.2
    ) -> dict[str, Any]:
        """Wait until generation ``tag``'s build ends; the generation then. A failed build
        raises ``BuildFailed`` with its error."""
        number = int(tag.removeprefix("v"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            build = self.build(ref, number)
            _raise_if_failed(ref, tag, build)
            if build["build_state"] == "succeeded":
                return build
            time.sleep(poll)
        raise RunnerError(f"{ref} {tag} was still building after {timeout:g}s")

    def openapi(self, ref: str, generation: str | None = None) -> dict[str, Any]:
        """The OpenAPI document of the live generation, or of ``generation`` (``v2``)."""
        params = {"generation": generation} if generation else None
        return self._client.json("GET", service_path(ref) + "/openapi.json", params=params)

    def runtime_logs(self, ref: str, tail: int = 200) -> str:
        path = service_path(ref) + "/logs"
        return self._client.request("GET", path, params={"tail": str(tail)}).text

    def queries(
        self, ref: str, since: str | None = None, until: str | None = None,
        format: str = "jsonl",  # noqa: A002 (the API's and the CLI's name for it)
    ) -> Iterator[str]:
        """The service's query log from ``since`` to ``until`` (ISO 8601, or back from now
        such as ``1h``), oldest call first, as lines without their ends: JSON objects for
        ``jsonl``, a header then rows for ``csv`` (a CSV record whose body holds a line
        break spans several lines). A bad request raises here, before the first line."""
        params = {"format": format}
        if since:
            params["since"] = since
        if until:
            params["until"] = until
        client = self._client
        response = client.request(
            "GET", service_path(ref) + "/queries", params=params, stream=True,
            timeout=(client.timeout, None),
        )
        return _lines(response)

    def stats(
        self, ref: str, start: str | None = None, end: str | None = None, *,
        generation: str | None = None, role: str | None = None,
    ) -> dict[str, Any]:
        """The service's stats over a window (ISO 8601 instants, or back from now such as
        ``24h``; by default the last 7 days up to the next whole hour): ``overall`` and
        one entry per generation and role in ``generations``."""
        params = _present(start=start, end=end, generation=generation, role=role)
        return self._client.json("GET", service_path(ref) + "/stats", params=params)

    def stats_over_time(
        self, ref: str, metrics: str | Sequence[str] | None = None, bucket_size: str = "PT1H",
        start: str | None = None, end: str | None = None, *,
        generation: str | None = None, role: str | None = None,
    ) -> list[dict[str, Any]]:
        """The service's figures bucket by bucket (``bucket_size`` an ISO 8601 duration
        such as ``PT1M``, ``PT1H`` or ``P1D``): a list of series, the service as a whole
        first (generation None), then each generation and role, each with its
        ``buckets``: dicts of ``start``, ``end`` and one value per metric (all metrics
        when ``metrics`` is None)."""
        named = metrics if metrics is None or isinstance(metrics, str) else ",".join(metrics)
        params = _present(metric=named, bucket_size=bucket_size, start=start, end=end,
                          generation=generation, role=role)
        answer = self._client.json("GET", service_path(ref) + "/stats/over-time",
                                   params=params)
        return list(answer["series"])

    def drift(
        self, ref: str, start: str | None = None, end: str | None = None, *,
        generation: str | None = None, role: str | None = None, metric: str | None = None,
    ) -> dict[str, Any]:
        """A model service's feature drift from its model's baseline over a window (as
        ``stats`` takes it; whole hours): the window, ``generations``, ``role``, the
        ``rows`` scored and ``data_errors``, ``baseline_rows``, the ``thresholds``,
        ``too_small`` (too few rows to judge), how many features ``drifted``, and
        ``features``: each with its ``psi``, ``js_distance``, ``hellinger``,
        ``wasserstein`` (numbers only, else None), ``test`` (``ks`` or ``chi2``),
        ``statistic``, ``p_value``, ``reference_rows``, ``current_rows``, ``importance``
        (None when unknown), ``too_small`` and ``drifted``, most drifted first by
        ``metric`` (``psi`` by default, ``js_distance``, ``hellinger``, ``wasserstein``
        or ``p_value``)."""
        params = _present(start=start, end=end, generation=generation, role=role,
                          metric=metric)
        return self._client.json("GET", service_path(ref) + "/drift/features", params=params)

    def target_drift(
        self, ref: str, start: str | None = None, end: str | None = None, *,
        generation: str | None = None, role: str | None = None,
    ) -> dict[str, Any]:
        """The prediction's drift from the model's predictions on its baseline, over a
        window: the same head as ``drift``'s, and ``target``, an entry like one of its
        ``features`` (named ``prediction``), or None until the supervisor has had the
        model's predictions on its baseline."""
        params = _present(start=start, end=end, generation=generation, role=role)
        return self._client.json("GET", service_path(ref) + "/drift/target", params=params)

    def drift_over_time(
        self, ref: str, feature: str, bucket_size: str = "P1D",
        start: str | None = None, end: str | None = None, *,
        generation: str | None = None, role: str | None = None,
    ) -> list[dict[str, Any]]:
        """One feature's (or ``"prediction"``'s) drift bucket by bucket (``bucket_size``
        whole hours: ``PT1H``, ``PT6H``, ``P1D``), each bucket compared with the baseline
        on its own: dicts of ``start``, ``end``, ``psi``, ``js_distance``,
        ``hellinger``, ``wasserstein``, ``p_value``, ``current_rows``, ``drifted`` and
        ``too_small``, oldest first."""
        params = _present(feature=feature, bucket_size=bucket_size, start=start, end=end,
                          generation=generation, role=role)
        answer = self._client.json("GET", service_path(ref) + "/drift/over-time",
                                   params=params)
        return list(answer["series"])

    def drift_distribution(
        self, ref: str, feature: str, start: str | None = None, end: str | None = None, *,
        generation: str | None = None, role: str | None = None,
    ) -> dict[str, Any]:
        """One feature's (or ``"prediction"``'s) histogram in the baseline and over the
        window, on the same bins: its ``type``, the ``bins``' labels, and ``reference``
        and ``current``, each with its ``rows`` and per bin ``counts`` and ``shares``."""
        params = _present(feature=feature, start=start, end=end, generation=generation,
                          role=role)
        return self._client.json("GET", service_path(ref) + "/drift/distribution",
                                 params=params)

    def submit_actuals(
        self, ref: str, actuals: str | os.PathLike[str] | Iterable[Mapping[str, Any]] | Any,
        *, chunk_size: int = 10_000, progress: Callable[[int, int], object] | None = None,
    ) -> dict[str, int]:
        """Send a model service's actuals, the true outcomes of its predictions, joined to
        them by association id. ``actuals`` is a list of dicts of ``association_id``,
        ``actual_value`` and optionally ``timestamp`` (ISO 8601, epoch seconds or a
        datetime) and ``was_acted_on``; or a pandas DataFrame of those columns; or the
        path of a CSV file with them in a header row. A missing optional value (None,
        NaN) is left out; numpy values are sent as the Python ones they hold.

        They go in uploads of at most ``chunk_size`` rows (100,000 at most), one after
        another; ``progress``, when given, is called after each upload with the rows sent
        so far and the total. Returns the answers summed: ``received``, ``matched`` (joined
        to a logged prediction), ``unmatched`` (kept until their prediction is logged),
        ``updated`` (replaced an actual sent before) and ``uploads``; no actuals, no
        upload.

        An upload the API refuses (a bad row, named within its upload) raises after the
        uploads before it were stored. A resend replaces an id's actual, counting nothing
        twice, so the whole lot can be sent again once it is fixed.
        """
        size = max(1, min(int(chunk_size), MAX_ACTUALS_PER_UPLOAD))
        uploads: Generator[tuple[int, dict[str, Any]], None, None]
        if isinstance(actuals, str | os.PathLike):
            total = _csv_rows(actuals)
            uploads = ((rows, {"data": text.encode("utf-8"),
                               "headers": {"Content-Type": _CSV}})
                       for rows, text in _csv_parts(actuals, size))
        else:
            records = _actual_records(actuals)
            total = len(records)
            uploads = ((len(part), {"json": [_cleaned(record) for record in part]})
                       for part in (records[at:at + size] for at in range(0, total, size)))
        summed = dict.fromkeys((*ACTUALS_COUNTS, "uploads"), 0)
        sent = 0
        with contextlib.closing(uploads):
            for rows, body in uploads:
                try:
                    answer = self._client.json("POST", service_path(ref) + "/actuals", **body)
                except ShipyardError as exc:
                    if rows == total:
                        raise
                    raise type(exc)(_upload_failed(summed["uploads"] + 1, sent, rows, exc)) \
                        from exc
                for key in ACTUALS_COUNTS:
                    summed[key] += int(answer.get(key, 0))
                summed["uploads"] += 1
                sent += rows
                if progress is not None:
                    progress(sent, total)
        return summed

    def accuracy(
        self, ref: str, start: str | None = None, end: str | None = None, *,
        generation: str | None = None, role: str | None = None,
    ) -> dict[str, Any]:
        """A model service's accuracy from its actuals over a window (as ``stats`` takes
        it; whole hours of the predictions' times): ``start``, ``end``, ``problem_type``
        (``classification``, ``regression``, or None before any actual was joined),
        ``overall`` (the main calls of every generation; None before any actual) and
        ``generations``: one entry per generation and role. Each holds ``rows`` and the
        metrics, None where they cannot be computed: for a classification
        ``scored_with_probabilities``, ``accuracy``, ``balanced_accuracy``,
        ``precision``, ``recall``, ``f1`` (averaged as ``average`` says: ``binary`` of
        ``positive_class``, or ``weighted``), ``auc``, ``log_loss`` and
        ``confusion_matrix`` (``labels``, and ``matrix``: a row per actual label, a column
        per predicted one); for a regression ``rmse``, ``mae``, ``mape``, ``r2`` and
        ``gamma_deviance``."""
        params = _present(start=start, end=end, generation=generation, role=role)
        return self._client.json("GET", service_path(ref) + "/accuracy", params=params)

    def accuracy_over_time(
        self, ref: str, metrics: str | Sequence[str] | None = None, bucket_size: str = "P1D",
        start: str | None = None, end: str | None = None, *,
        generation: str | None = None, role: str | None = None,
    ) -> dict[str, Any]:
        """A model service's accuracy bucket by bucket (``bucket_size`` whole hours:
        ``PT1H``, ``PT6H``, ``P1D``), the whole answer: ``start``, ``end``,
        ``problem_type``, ``bucket_size_seconds``, ``metrics`` (those asked, else all of
        the problem type's) and ``series``: per generation and role, its ``buckets``,
        oldest first, each with ``start``, ``end``, ``rows`` and one value per metric
        (None where a bucket has no actual or the metric cannot be computed)."""
        named = metrics if metrics is None or isinstance(metrics, str) else ",".join(metrics)
        params = _present(metric=named, bucket_size=bucket_size, start=start, end=end,
                          generation=generation, role=role)
        return self._client.json("GET", service_path(ref) + "/accuracy/over-time",
                                 params=params)


def _present(**params: str | None) -> dict[str, str]:
    return {name: value for name, value in params.items() if value is not None}


def service_path(ref: str) -> str:
    return "/api/v1/services/" + quote(ref, safe="")


def _parameter(value: str | bool | list[str] | tuple[str, ...]) -> str:
    """A listing filter's value in the query: booleans as true / false, several values
    separated by commas."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(value)
    return value


def _reconnecting(
    open_after: Callable[[int], Iterator[str]], what: str, within: float
) -> Iterator[str]:
    """The lines ``open_after(0)`` streams; a stream that breaks is opened again after
    the lines already read, until ``within`` seconds pass without a line. A stall, or a
    break past that, raises ``Unavailable``."""
    read = 0
    broken_since: float | None = None
    while True:
        try:
            for line in open_after(read):
                read += 1
                broken_since = None
                yield line
            return
        except (requests.RequestException, BadGateway, Unavailable) as exc:
            # A gateway answers 502 or 503 while the API behind it starts again.
            now = time.monotonic()
            broken_since = now if broken_since is None else broken_since
            stalled = isinstance(exc, requests.RequestException) and _stalled(exc)
            if stalled or now - broken_since >= within:
                raise Unavailable(f"{what} stopped coming: {exc}") from exc
            time.sleep(RECONNECT_PAUSE)


def _stalled(exc: requests.RequestException) -> bool:
    """Whether ``exc`` is a read that waited past its timeout (requests reports one that
    happens mid-stream as a ``ConnectionError`` around urllib3's ``ReadTimeoutError``)."""
    if isinstance(exc, requests.Timeout):
        return True
    return any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in exc.args)


def _raise_if_failed(ref: str, tag: str, build: Mapping[str, Any]) -> None:
    if build["build_state"] == "failed":
        raise BuildFailed(f"build of {ref} {tag} failed: {build['build_error']}")


def _lines(response: requests.Response) -> Iterator[str]:
    """The lines of a streamed UTF-8 answer, split at ``\\n`` only (a CSV cell may hold
    other line breaks)."""
    with response:
        pending = b""
        for chunk in response.iter_content(chunk_size=64 * 1024):
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                yield line.decode("utf-8", errors="replace")
        if pending:
            yield pending.decode("utf-8", errors="replace")


def _actual_records(actuals: Any) -> list[Any]:
    """A DataFrame's rows (anything with pandas' ``to_dict``) or the items given."""
    if callable(getattr(actuals, "to_dict", None)):
        return list(actuals.to_dict(orient="records"))
    return list(actuals)


def _cleaned(record: Any) -> Any:
    """An actual as JSON takes it: numpy values as Python ones, times in ISO 8601, missing
    optional values left out (a missing required one is sent as null, for the API to
    name its row)."""
    if not isinstance(record, Mapping):
        return record
    cleaned = {}
    for name, value in record.items():
        plain = _plain(value)
        if plain is not None or name in _REQUIRED_ACTUAL_FIELDS:
            cleaned[name] = plain
    return cleaned


def _plain(value: Any) -> Any:
    if _missing(value):
        return None
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str | bytes):
        value = item()  # a numpy scalar
    if isinstance(value, date):
        return value.isoformat()
    return value


def _missing(value: Any) -> bool:
    """None, NaN, pandas' NaT and NA."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pandas.NA has no truth value
        return True
    except ValueError:  # an array: not a missing value, and not an actual either
        return False


def _csv_rows(path: str | os.PathLike[str]) -> int:
    """The records of a CSV file, its header and blank lines aside."""
    with open(path, encoding="utf-8-sig", newline="") as file:
        return max(0, sum(1 for row in csv.reader(file) if row) - 1)


def _csv_parts(path: str | os.PathLike[str], size: int) -> Iterator[tuple[int, str]]:
    """A CSV file in parts of at most ``size`` records, each with the header line: the
    records and the text of each part."""
    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file)
        header = next((row for row in reader if row), None)
        part: list[list[str]] = []
        for row in reader:
            if row:
                part.append(row)
            if len(part) == size:
                yield len(part), _csv_text(header or [], part)
                part = []
        if part:
            yield len(part), _csv_text(header or [], part)


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def _upload_failed(number: int, sent: int, rows: int, exc: ShipyardError) -> str:
    stored = (f"; the {sent:,} actuals before it were stored, and sending them all again "
              "is safe" if sent else "")
    return (f"upload {number} (actuals {sent + 1:,} to {sent + rows:,}) was refused: "
            f"{exc.message}{stored}")

def _file_path(ref: str, path: str) -> str:
    return service_path(ref) + "/files/" + quote(path, safe="/")


def gateway_serves(answer: requests.Response, status: Mapping[str, Any]) -> bool:
    """Whether the gateway that carried ``answer`` (a service's status or mapping) has
    loaded the routing table that holds what ``status`` says is in force: the serial in
    its ``X-Shipyard-Routes`` header at ``routes_serial`` or past it. An answer without
    the header came from a control plane reached with no gateway in between."""
    told = answer.headers.get(ROUTES_HEADER)
    if told is None or not told.isdigit():
        return told is None
    return int(told) >= int(status.get("routes_serial", 0))
