"""Batch jobs: ``/api/v1/services/<ref>/batch-jobs`` to start and list a service's jobs,
``/api/v1/batch-jobs/<job>`` to follow one, cancel it and download its results.

The upload is the request body itself (``text/csv``, ``application/x-ndjson`` or
``application/vnd.apache.parquet``), with the options in the query, and it is streamed to
disk (up to ``max_batch_bytes``, past the API's ``max_upload_bytes``):
``callers.STREAMED_ENDPOINTS`` tells authentication not to read it, and a signed upload is
checked against the SHA-256 its signature covers as it is written
(``g.signed_body_sha256``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request, send_file
from flask.typing import ResponseReturnValue

from shipyard.api.callers import current_caller
from shipyard.api.context import control_plane, json_body, json_fields
from shipyard.domain.batch_jobs import BatchOptions
from shipyard.errors import InvalidInput

__all__ = ["batch_jobs", "batch_schedules", "service_batch_jobs"]

service_batch_jobs = Blueprint("service_batch_jobs", __name__)
batch_jobs = Blueprint("batch_jobs", __name__)
batch_schedules = Blueprint("batch_schedules", __name__)

_QUERY_OPTIONS = frozenset({"format", *BatchOptions.FIELDS})


@service_batch_jobs.post("/<ref>/batch-jobs")
def create_job(ref: str) -> tuple[dict[str, Any], int]:
    """Score a file with the service's model, in the background.

    The body is the file: CSV with a header row (``text/csv``), JSON Lines
    (``application/x-ndjson``) or Parquet (``application/vnd.apache.parquet``), at most
    ``max_batch_bytes``, each row holding the model's features. Options in the query:
    ``format``, ``output_format``, ``chunk_size``, ``challenger=true`` (score with the
    challenger too), ``generations`` (tags, comma separated), ``passthrough`` (columns
    copied to the results), ``association_column``.
    A JSON body ``{"input_job": ..., options...}`` scores an earlier job's input again.
    A signed upload signs its SHA-256 in ``x-amz-content-sha256``.
    ---
    tags: [batch]
    parameters:
      - {name: format, in: query, schema: {type: string, enum: [csv, jsonl, parquet]}}
      - {name: output_format, in: query,
         schema: {type: string, enum: [csv, jsonl, parquet]}}
      - {name: chunk_size, in: query, schema: {type: integer, minimum: 1, maximum: 10000}}
      - {name: challenger, in: query, schema: {type: boolean}}
      - {name: generations, in: query, schema: {type: string}, example: "v2,v1"}
      - {name: passthrough, in: query, schema: {type: string}, example: id}
      - {name: association_column, in: query, schema: {type: string}}
    requestBody:
      required: true
      content:
        text/csv:
          schema: {type: string, format: binary}
        application/x-ndjson:
          schema: {type: string, format: binary}
        application/vnd.apache.parquet:
          schema: {type: string, format: binary}
        application/json:
          schema: {$ref: '#/components/schemas/BatchJobFromInput'}
    responses:
      "202":
        description: The job, queued.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/BatchJob'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      "413": {$ref: '#/components/responses/TooLarge'}
      default: {$ref: '#/components/responses/Error'}
    """
    plane = control_plane()
    caller = current_caller()
    if request.is_json:
        body = json_fields("input_job", *BatchOptions.FIELDS)
        input_job = body.pop("input_job", None)
        if not isinstance(input_job, str) or not input_job:
            raise InvalidInput("'input_job' must name the batch job whose input to score")
        job = plane.batch_jobs.create_from_job(ref, caller, input_job, BatchOptions.parse(body))
        return job.to_dict(), 202
    unknown = sorted(set(request.args) - _QUERY_OPTIONS)
    if unknown:
        raise InvalidInput(f"unknown options {unknown}; known: {sorted(_QUERY_OPTIONS)}")
    options = BatchOptions.from_query(request.args)
    request.max_content_length = plane.settings.max_batch_bytes
    job = plane.batch_jobs.create(
        ref, caller, request.stream, content_type=request.content_type,
        fmt=request.args.get("format") or None, options=options,
        signed_sha256=g.get("signed_body_sha256"),
    )
    return job.to_dict(), 202


@service_batch_jobs.get("/<ref>/batch-jobs")
def list_jobs(ref: str) -> dict[str, Any]:
    """The service's batch jobs you may see (yours, or all for its collaborators), newest
    first.
    ---
    tags: [batch]
    responses:
      "200":
        description: The jobs.
        content:
          application/json:
            schema:
              type: object
              required: [jobs]
              properties:
                jobs: {type: array, items: {$ref: '#/components/schemas/BatchJob'}}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    jobs = control_plane().batch_jobs.list(ref, current_caller())
    return {"jobs": [job.to_dict() for job in jobs]}


@batch_jobs.get("/<job_id>")
def get_job(job_id: str) -> dict[str, Any]:
    """A batch job: its state, rows done of the total, rate and time left.
    ---
    tags: [batch]
    responses:
      "200":
        description: The job.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/BatchJob'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    return control_plane().batch_jobs.get(job_id, current_caller()).to_dict()


@batch_jobs.post("/<job_id>/cancel")
def cancel_job(job_id: str) -> dict[str, Any]:
    """Cancel a batch job: a queued one at once, a running one after its chunks in flight.
    ---
    tags: [batch]
    responses:
      "200":
        description: The job.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/BatchJob'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    return control_plane().batch_jobs.cancel(job_id, current_caller()).to_dict()


@batch_jobs.get("/<job_id>/results/<generation>")
def download_results(job_id: str, generation: str) -> ResponseReturnValue:
    """A succeeded job's results from one generation, rows in input order.
    ---
    tags: [batch]
    responses:
      "200":
        description: The result file.
        content:
          text/csv:
            schema: {type: string, format: binary}
          application/x-ndjson:
            schema: {type: string, format: binary}
          application/vnd.apache.parquet:
            schema: {type: string, format: binary}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    return _download(job_id, generation, errors=False)


@batch_jobs.get("/<job_id>/errors/<generation>")
def download_errors(job_id: str, generation: str) -> ResponseReturnValue:
    """A succeeded job's rows that one generation could not score: one JSON line each,
    ``{"line": N, "message": ...}``.
    ---
    tags: [batch]
    responses:
      "200":
        description: The error file.
        content:
          application/x-ndjson:
            schema: {type: string, format: binary}
      "404": {$ref: '#/components/responses/NotFound'}
      "409": {$ref: '#/components/responses/Conflict'}
      default: {$ref: '#/components/responses/Error'}
    """
    return _download(job_id, generation, errors=True)


def _download(job_id: str, generation: str, *, errors: bool) -> ResponseReturnValue:
    path, media = control_plane().batch_jobs.output(job_id, current_caller(), generation,
                                                    errors=errors)
    return send_file(path, mimetype=media, as_attachment=True, download_name=path.name,
                     conditional=False, etag=False)


@service_batch_jobs.post("/<ref>/batch-schedules")
def create_schedule(ref: str) -> tuple[dict[str, Any], int]:
    """Score a file on a schedule: a cron expression (five fields in UTC, or a name such
    as ``@daily``), a source (an absolute path, or an http(s) URL) in a place the
    administrator allows (``batch_sources``), and the options of the jobs it starts. Each
    run is a job of its own, with the rights of who made the schedule. The service's
    collaborators only.
    ---
    tags: [batch]
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/BatchScheduleRequest'}
    responses:
      "201":
        description: The schedule.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/BatchSchedule'}
      "400": {$ref: '#/components/responses/BadRequest'}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    schedule = control_plane().batch_schedules.create(ref, current_caller(), json_body())
    return schedule.to_dict(), 201


@service_batch_jobs.get("/<ref>/batch-schedules")
def list_schedules(ref: str) -> dict[str, Any]:
    """The service's batch schedules.
    ---
    tags: [batch]
    responses:
      "200":
        description: The schedules.
        content:
          application/json:
            schema:
              type: object
              required: [schedules]
              properties:
                schedules: {type: array, items: {$ref: '#/components/schemas/BatchSchedule'}}
      "403": {$ref: '#/components/responses/Forbidden'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    schedules = control_plane().batch_schedules.list(ref, current_caller())
    return {"schedules": [schedule.to_dict() for schedule in schedules]}


@batch_schedules.get("/<schedule_id>")
def get_schedule(schedule_id: str) -> dict[str, Any]:
    """A batch schedule: when it runs next, and how its last run went.
    ---
    tags: [batch]
    responses:
      "200":
        description: The schedule.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/BatchSchedule'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    return control_plane().batch_schedules.get(schedule_id, current_caller()).to_dict()


@batch_schedules.post("/<schedule_id>/run")
def run_schedule(schedule_id: str) -> dict[str, Any]:
    """Run a batch schedule now (within the supervisor's next tick), besides its times.
    ---
    tags: [batch]
    responses:
      "200":
        description: The schedule, due now.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/BatchSchedule'}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    return control_plane().batch_schedules.run_now(schedule_id, current_caller()).to_dict()


@batch_schedules.delete("/<schedule_id>")
def delete_schedule(schedule_id: str) -> tuple[str, int]:
    """Stop a batch schedule; the jobs it started stay, with their results.
    ---
    tags: [batch]
    responses:
      "204": {description: Deleted.}
      "404": {$ref: '#/components/responses/NotFound'}
      default: {$ref: '#/components/responses/Error'}
    """
    control_plane().batch_schedules.delete(schedule_id, current_caller())
    return "", 204
