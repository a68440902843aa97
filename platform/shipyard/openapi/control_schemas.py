"""The schemas the control plane's API answers with, shared by its operations' YAML
(``$ref: '#/components/schemas/Service'``), and its tags.

Data, not code: apispec registers these (``assembly``) and has none of its own.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["COMPONENTS", "TAGS"]

_COMPONENTS_YAML = """
schemas:
  Error:
    type: object
    required: [error]
    properties:
      error:
        type: object
        required: [type, message]
        properties:
          type: {type: string, example: NotFound}
          message: {type: string, example: "no service 'add-numbers'"}
  Service:
    type: object
    required: [id, name, kind, template, environment, packages, description, access_level,
               enabled, deployed, state, status_message, created_at, updated_at,
               health_thresholds, monitoring]
    properties:
      id: {type: string, example: svc_0123456789abcdef}
      name: {type: string, example: add-numbers}
      kind: {type: string, enum: [custom, model]}
      template: {type: string, example: custom-service}
      environment: {type: string, example: small}
      packages: {type: array, items: {type: string}, example: ["flask>=3"]}
      description: {type: string}
      access_level: {type: string, enum: [public, instance, project]}
      project_id: {type: string, nullable: true, description: "the project it belongs to"}
      runner: {type: string, enum: ["", local, docker, swarm], example: docker}
      enabled: {type: boolean}
      deployed: {type: boolean}
      state: {type: string, example: running}
      status_message: {type: string}
      created_at: {type: string, format: date-time}
      updated_at: {type: string, format: date-time}
      collect_prediction_data:
        type: boolean
        description: "whether the query log keeps the bodies of its calls"
      association_id_field:
        type: string
        description: "the request body's JSON field naming a call's association id (empty for none)"
      health_thresholds: {$ref: '#/components/schemas/HealthThresholds'}
      monitoring: {$ref: '#/components/schemas/MonitoringSettings'}
      env:
        type: object
        description: "its environment variables, as its next generation will have them"
        additionalProperties: {type: string}
      min_replicas:
        type: integer
        minimum: 0
        description: "the fewest replicas a generation runs"
      max_replicas:
        type: integer
        minimum: 1
        description: "the most replicas a generation runs (within its profile's ceiling)"
      target_concurrency:
        type: number
        description: "the calls in flight per replica the autoscaler aims at"
      service_health:
        allOf: [{$ref: '#/components/schemas/ServiceHealth'}]
        description: "its health now (in a listing and a service's status)"
      drift_health:
        type: object
        description: "its drift health now, over the last window_hours (with service_health):
          unknown for a custom service, a model service without drift yet, or fewer than
          drift_thresholds.min_rows scored rows; failing when the prediction or an important
          feature drifted; warning when another feature did"
        required: [status, reasons, window_hours]
        properties:
          status: {type: string, enum: [passing, warning, failing, unknown]}
          reasons:
            type: array
            items: {type: string}
            example: ["petal_length drifted (PSI 1.83, importance 0.41)"]
          window_hours: {type: integer, example: 24}
      accuracy_health:
        type: object
        description: "its accuracy health now, over the last window_hours (with
          service_health): the watched metric on the actuals against the model's own on its
          baseline; unknown without enough actuals or without that reference"
        required: [status, reasons, window_hours]
        properties:
          status: {type: string, enum: [passing, warning, failing, unknown]}
          reasons:
            type: array
            items: {type: string}
            example: ["accuracy 0.71, 16.5% under 0.85 on the baseline"]
          window_hours: {type: integer, example: 24}
  ServiceHealth:
    type: object
    required: [status, reasons, window_minutes]
    properties:
      status:
        type: string
        enum: [passing, warning, failing, unknown]
        description: "unknown: not deployed, or fewer than min_requests calls in the window"
      reasons:
        type: array
        items: {type: string}
        example: ["server_error_rate 7.0% over the failing threshold 5%"]
      window_minutes: {type: integer, example: 60}
  HealthLevels:
    type: object
    required: [warning, failing]
    properties:
      warning: {type: number, description: "over this: warning"}
      failing: {type: number, description: "over this: failing"}
  HealthThresholds:
    type: object
    description: "The thresholds in force: the defaults, with the ones the service set."
    required: [window_minutes, min_requests, server_error_rate, user_error_rate,
               response_time_p90_ms, slow_request_ms]
    properties:
      window_minutes: {type: integer, minimum: 1, maximum: 10080, example: 60}
      min_requests: {type: integer, minimum: 1, example: 1}
      server_error_rate: {$ref: '#/components/schemas/HealthLevels'}
      user_error_rate: {$ref: '#/components/schemas/HealthLevels'}
      response_time_p90_ms: {$ref: '#/components/schemas/HealthLevels'}
      slow_request_ms: {type: number, example: 1000}
  DriftThresholds:
    type: object
    description: "Drift is flagged at PSI or Jensen-Shannon distance at or over these, or a
      test's p-value under p_value divided by the features tested (Bonferroni); a window
      with fewer than min_rows rows is too small to judge."
    required: [psi, js_distance, p_value, min_rows]
    properties:
      psi: {type: number, minimum: 0, maximum: 100, example: 0.2}
      js_distance: {type: number, minimum: 0, maximum: 1, example: 0.1}
      p_value: {type: number, minimum: 0, maximum: 1, example: 0.05}
      min_rows: {type: integer, minimum: 1, maximum: 1000000, example: 100}
  MonitoringSettings:
    type: object
    description: "The settings in force: the defaults, with the ones the service set."
    required: [feature_drift, target_drift, drift_thresholds, association_id_columns,
               required_in_prediction_requests, prediction_warnings, health]
    properties:
      feature_drift: {type: boolean, description: "count scored rows' features for drift"}
      target_drift: {type: boolean, description: "count scored rows' predictions for drift"}
      drift_thresholds: {$ref: '#/components/schemas/DriftThresholds'}
      association_id_columns:
        type: array
        items: {type: string}
        example: [customer_id]
        description: "the columns of each record that identify it for actuals; not
          features: the model never sees them"
      required_in_prediction_requests:
        type: boolean
        description: "refuse (400) a record without its association columns"
      prediction_warnings: {$ref: '#/components/schemas/PredictionWarnings'}
      health: {$ref: '#/components/schemas/MonitoringHealth'}
  PredictionWarnings:
    type: object
    description: "Flag predictions outside their boundaries, or made from inputs outside
      the baseline's, with an X-Shipyard-Prediction-Warning header; they still answer."
    required: [enabled, lower, upper, margin, min_confidence, flag_inputs]
    properties:
      enabled: {type: boolean}
      lower:
        type: number
        nullable: true
        description: "a regression's lowest expected prediction; null: the baseline
          target's lowest, widened by margin"
      upper: {type: number, nullable: true}
      margin: {type: number, minimum: 0, maximum: 10, example: 0.1}
      min_confidence:
        type: number
        minimum: 0
        maximum: 1
        description: "a classification whose top probability is under this is flagged"
      flag_inputs:
        type: boolean
        description: "flag numbers outside the baseline's range and unseen categories"
  MonitoringHealth:
    type: object
    required: [window_hours, important_feature, accuracy_metric, accuracy_warning,
               accuracy_failing]
    properties:
      window_hours: {type: integer, minimum: 1, example: 24}
      important_feature:
        type: number
        minimum: 0
        maximum: 1
        description: "a drifted feature this important (or the target) fails drift health"
      accuracy_metric:
        type: string
        nullable: true
        description: "null: accuracy for a classification, rmse for a regression"
      accuracy_warning:
        type: number
        description: "relative degradation from the baseline's that warns"
      accuracy_failing: {type: number}
  MonitoringChanges:
    type: object
    nullable: true
    additionalProperties: false
    description: "Merged over the stored settings; a null puts one (or, for the whole
      object, every one) back to its default."
    properties:
      feature_drift: {type: boolean, nullable: true}
      target_drift: {type: boolean, nullable: true}
      drift_thresholds:
        type: object
        nullable: true
        additionalProperties: false
        properties:
          psi: {type: number, minimum: 0, maximum: 100, nullable: true}
          js_distance: {type: number, minimum: 0, maximum: 1, nullable: true}
          p_value: {type: number, minimum: 0, maximum: 1, nullable: true}
          min_rows: {type: integer, minimum: 1, maximum: 1000000, nullable: true}
      association_id_columns:
        type: array
        nullable: true
        maxItems: 10
        items: {type: string, minLength: 1, maxLength: 128}
      required_in_prediction_requests: {type: boolean, nullable: true}
      prediction_warnings:
        type: object
        nullable: true
        additionalProperties: false
        properties:
          enabled: {type: boolean, nullable: true}
          lower: {type: number, nullable: true}
          upper: {type: number, nullable: true}
          margin: {type: number, minimum: 0, maximum: 10, nullable: true}
          min_confidence: {type: number, minimum: 0, maximum: 1, nullable: true}
          flag_inputs: {type: boolean, nullable: true}
      health:
        type: object
        nullable: true
        additionalProperties: false
        properties:
          window_hours: {type: integer, minimum: 1, maximum: 8784, nullable: true}
          important_feature: {type: number, minimum: 0, maximum: 1, nullable: true}
          accuracy_metric:
            type: string
            nullable: true
            enum: [accuracy, balanced_accuracy, precision, recall, f1, auc, log_loss, rmse,
                   mae, mape, r2, gamma_deviance, null]
          accuracy_warning: {type: number, minimum: 0, maximum: 10, nullable: true}
          accuracy_failing: {type: number, minimum: 0, maximum: 10, nullable: true}
  HealthLevelChanges:
    type: object
    nullable: true
    additionalProperties: false
    properties:
      warning: {type: number, minimum: 0, nullable: true}
      failing: {type: number, minimum: 0, nullable: true}
  HealthThresholdChanges:
    type: object
    nullable: true
    additionalProperties: false
    description: "Merged over the stored thresholds; a null puts one (or, for the whole
      object, every one) back to its default."
    properties:
      window_minutes: {type: integer, minimum: 1, maximum: 10080, nullable: true}
      min_requests: {type: integer, minimum: 1, nullable: true}
      server_error_rate: {$ref: '#/components/schemas/HealthLevelChanges'}
      user_error_rate: {$ref: '#/components/schemas/HealthLevelChanges'}
      response_time_p90_ms: {$ref: '#/components/schemas/HealthLevelChanges'}
      slow_request_ms: {type: number, minimum: 0, nullable: true}
  ServiceListItem:
    allOf:
      - $ref: '#/components/schemas/Service'
      - type: object
        required: [live_generation, mapping]
        properties:
          live_generation: {type: string, nullable: true, example: v2}
          mapping:
            type: array
            description: the mapping in force
            items: {$ref: '#/components/schemas/MappingEntry'}
  ServiceStatus:
    allOf:
      - $ref: '#/components/schemas/Service'
      - type: object
        required: [live_generation, target_generation, instances]
        properties:
          live_generation: {type: string, nullable: true, example: v2}
          target_generation: {type: string, nullable: true, example: v2}
          mapping:
            type: array
            description: the mapping in force
            items: {$ref: '#/components/schemas/MappingEntry'}
          challenger: {type: string, nullable: true, example: v3}
          secrets_waiting:
            type: array
            items: {type: string}
            description: >-
              the secrets set, changed or unset since the generation that serves was made:
              they take effect at the next deploy
          routes_serial:
            type: integer
            description: >-
              the serial of the first routing table that carried this service's route as
              it stands; the gateway serves it once the X-Shipyard-Routes header of its
              answers from the control plane is at this serial or past it
          instances:
            type: array
            items:
              type: object
              properties:
                id: {type: string}
                generation: {type: string, nullable: true}
                state: {type: string, example: healthy}
                address: {type: string, nullable: true, example: "127.0.0.1:41234"}
                restarts: {type: integer}
                last_error: {type: string}
                cpu_percent: {type: number}
                memory_bytes: {type: integer}
  ServiceSpec:
    type: object
    required: [name]
    additionalProperties: false
    properties:
      name: {type: string, description: "a lowercase DNS label", example: add-numbers}
      kind: {type: string, enum: [custom, model], default: custom}
      template: {type: string, description: "a template name (default: the kind's)"}
      environment: {type: string, description: "an environment profile", example: small}
      packages: {type: array, items: {type: string}, example: ["flask>=3"]}
      description: {type: string}
      access_level: {type: string, enum: [public, instance, project], default: project}
      project: {type: string, description: "the project's name or id (default: the caller's own)"}
      runner: {type: string, enum: ["", local, docker, swarm], default: ""}
      collect_prediction_data: {type: boolean, default: false}
      association_id_field: {type: string, maxLength: 255, default: ""}
      health_thresholds: {$ref: '#/components/schemas/HealthThresholdChanges'}
      monitoring: {$ref: '#/components/schemas/MonitoringChanges'}
      env:
        type: object
        description: its environment variables
        additionalProperties: {type: string, maxLength: 4096}
      min_replicas: {type: integer, minimum: 0, default: 1}
      max_replicas: {type: integer, minimum: 1, default: 1}
      target_concurrency: {type: number, minimum: 0, exclusiveMinimum: true, default: 2}
  ServiceChanges:
    type: object
    additionalProperties: false
    properties:
      name: {type: string}
      description: {type: string}
      environment: {type: string}
      packages: {type: array, items: {type: string}}
      access_level: {type: string, enum: [public, instance, project]}
      runner: {type: string, enum: ["", local, docker, swarm]}
      collect_prediction_data: {type: boolean}
      association_id_field: {type: string, maxLength: 255}
      health_thresholds: {$ref: '#/components/schemas/HealthThresholdChanges'}
      monitoring: {$ref: '#/components/schemas/MonitoringChanges'}
      env:
        type: object
        description: the environment variables, all of them (what it does not name is unset)
        additionalProperties: {type: string, maxLength: 4096}
      min_replicas: {type: integer, minimum: 0}
      max_replicas: {type: integer, minimum: 1}
      target_concurrency: {type: number, minimum: 0, exclusiveMinimum: true}
  SecretList:
    type: object
    required: [secrets, waiting]
    properties:
      secrets:
        type: array
        items:
          type: object
          required: [name, updated_at]
          properties:
            name: {type: string, example: API_TOKEN}
            updated_at: {type: string, format: date-time}
      waiting:
        type: array
        description: the secrets set, changed or unset since what serves was made
        items: {type: string}
  SecretSet:
    type: object
    required: [name]
    properties:
      name: {type: string}
      updated_at: {type: string, format: date-time}
      generation: {$ref: '#/components/schemas/Generation'}
  Variables:
    type: object
    required: [env]
    additionalProperties: false
    properties:
      env:
        type: object
        maxProperties: 100
        additionalProperties: {type: string, maxLength: 4096}
        example: {API_URL: "https://example.com/v2", RETRIES: "3"}
  ServiceFile:
    type: object
    required: [path, size, sha256]
    properties:
      path: {type: string, example: app.py}
      size: {type: integer}
      sha256: {type: string}
  FileList:
    type: object
    required: [files]
    properties:
      files: {type: array, items: {$ref: '#/components/schemas/ServiceFile'}}
  Generation:
    type: object
    required: [id, tag, build, created_at, environment, packages, build_state, build_error]
    properties:
      id: {type: string}
      tag: {type: string, example: v1}
      build: {type: integer, example: 1}
      created_at: {type: string, format: date-time}
      environment: {type: string}
      packages: {type: array, items: {type: string}}
      build_state: {type: string, enum: [pending, building, succeeded, failed]}
      build_error: {type: string}
      model_version: {type: string, nullable: true, example: "iris:1"}
      env:
        type: object
        description: "the environment variables it runs with (the service's when it was made)"
        additionalProperties: {type: string}
      min_replicas:
        type: integer
        nullable: true
        description: "its own bound; null: its service's"
      max_replicas:
        type: integer
        nullable: true
        description: "its own bound; null: its service's"
      replicas: {type: integer, nullable: true, description: "the replicas it runs now"}
  GenerationStanding:
    allOf:
      - $ref: '#/components/schemas/Generation'
      - type: object
        required: [mounted, mapped_percent, desired_percent, challenger]
        properties:
          mounted: {type: boolean, description: "it has a healthy instance"}
          mapped_percent: {type: number, description: "its share of live traffic now"}
          desired_percent:
            type: number
            description: "its share once the mapping asked for is in force"
          challenger: {type: boolean}
  MappingEntry:
    type: object
    required: [generation, proba]
    properties:
      generation: {type: string, example: v1}
      proba: {type: number, example: 0.5}
  Mapping:
    type: object
    required: [live, desired, challenger]
    properties:
      live: {type: array, items: {$ref: '#/components/schemas/MappingEntry'}}
      desired: {type: array, items: {$ref: '#/components/schemas/MappingEntry'}}
      challenger: {type: string, nullable: true, example: v3}
      routes_serial:
        type: integer
        description: >-
          the serial of the first routing table that carried the mapping in force; the
          gateway serves it once the X-Shipyard-Routes header of its answers from the
          control plane is at this serial or past it
  Environment:
    type: object
    required: [name, cpu, memory_bytes, gpu]
    properties:
      name: {type: string, example: small}
      cpu: {type: number}
      memory_bytes: {type: integer}
      gpu: {type: integer}
      gpu_memory_bytes: {type: integer}
      allow_cpu_fallback:
        type: boolean
        description: Whether an instance may run on CPU where no GPU is found.
      base_image: {type: string}
      description: {type: string}
  ModelVersion:
    type: object
    required: [name, version, created_at, sha256, size, features, target, problem_type,
               packages, description, baseline_rows]
    properties:
      name: {type: string, example: iris}
      version: {type: integer, example: 1}
      created_at: {type: string, format: date-time}
      sha256: {type: string}
      size: {type: integer}
      features:
        type: array
        items:
          type: object
          properties:
            name: {type: string}
            type: {type: string, enum: [number, integer, string, boolean]}
      target: {type: string}
      problem_type: {type: string, enum: [classification, regression]}
      packages: {type: array, items: {type: string}}
      description: {type: string}
      baseline_rows: {type: integer}
  ReplacementValidation:
    type: object
    required: [status, checks]
    properties:
      status: {type: string, enum: [passing, warning, failing], description: its worst check}
      checks:
        type: array
        items:
          type: object
          required: [name, status, message]
          properties:
            name: {type: string, example: same features}
            status: {type: string, enum: [passing, warning, failing]}
            message: {type: string}
  ModelReplacementRequest:
    type: object
    required: [model, reason]
    additionalProperties: false
    properties:
      model: {type: string, example: iris}
      version: {type: integer, description: "default: the newest"}
      reason:
        type: string
        enum: [accuracy, data_drift, errors, scheduled_refresh, scoring_speed, other]
      note: {type: string}
  ModelReplacement:
    type: object
    required: [id, service, created_at, created_by, reason, note, from_model_version,
               to_model_version, generation, validation, state, message, finished_at]
    properties:
      id: {type: string, example: rep_0123456789abcdef}
      service: {type: string, example: iris}
      created_at: {type: string, format: date-time}
      created_by: {type: string, example: "user:admin"}
      reason:
        type: string
        enum: [accuracy, data_drift, errors, scheduled_refresh, scoring_speed, other]
      note: {type: string}
      from_model_version: {type: string, nullable: true, example: "iris:1"}
      to_model_version: {type: string, example: "iris:2"}
      generation: {type: string, nullable: true, example: v2}
      validation: {$ref: '#/components/schemas/ReplacementValidation'}
      state: {type: string, enum: [blocked, validating, replaced, failed]}
      message: {type: string}
      finished_at: {type: string, format: date-time, nullable: true}
  BatchJobFromInput:
    type: object
    required: [input_job]
    additionalProperties: false
    properties:
      input_job: {type: string, description: the earlier job whose input to score again}
      output_format: {type: string, enum: [csv, jsonl, parquet]}
      chunk_size: {type: integer, minimum: 1, maximum: 10000}
      challenger: {type: boolean}
      generations: {type: array, items: {type: string}, example: [v2, v1]}
      passthrough: {type: array, items: {type: string}, example: [id]}
      association_column: {type: string}
  BatchJob:
    type: object
    required: [id, service_id, service, state, message, created_at, created_by, started_at,
               finished_at, expires_at, input, output_format, options, generations,
               rows_total, rows_done, rate, seconds_left]
    properties:
      id: {type: string}
      service_id: {type: string}
      service: {type: string, example: iris}
      state: {type: string, enum: [queued, running, succeeded, failed, cancelled]}
      message: {type: string, description: why it failed or was cancelled}
      created_at: {type: string, format: date-time}
      created_by: {type: string, example: "user:alice"}
      started_at: {type: string, format: date-time, nullable: true}
      finished_at: {type: string, format: date-time, nullable: true}
      expires_at: {type: string, format: date-time, description: when it and its files go}
      input:
        type: object
        properties:
          format: {type: string, enum: [csv, jsonl, parquet]}
          bytes: {type: integer}
          job: {type: string, nullable: true, description: the job whose input it reuses}
      output_format: {type: string, enum: [csv, jsonl, parquet]}
      options:
        type: object
        properties:
          chunk_size: {type: integer}
          passthrough: {type: array, items: {type: string}}
          association_column: {type: string, nullable: true}
      generations:
        type: array
        items:
          type: object
          properties:
            generation: {type: string, example: v2}
            role: {type: string, enum: [main, challenger, chosen]}
            rows_scored: {type: integer}
            rows_failed: {type: integer}
            result_url: {type: string, nullable: true}
            errors_url: {type: string, nullable: true}
      schedule_id: {type: string, nullable: true, description: the schedule that started it}
      rows_total: {type: integer, nullable: true, description: null until counted}
      rows_done: {type: integer}
      rate: {type: number, nullable: true, description: rows per second while it runs}
      seconds_left: {type: number, nullable: true}
  BatchScheduleRequest:
    type: object
    required: [cron, source]
    additionalProperties: false
    properties:
      cron: {type: string, example: "0 3 * * *", description: "five fields in UTC, or @daily"}
      source: {type: string, example: /data/exports/daily.csv, description: a path or URL}
      format: {type: string, enum: [csv, jsonl, parquet]}
      output_format: {type: string, enum: [csv, jsonl, parquet]}
      chunk_size: {type: integer, minimum: 1, maximum: 10000}
      challenger: {type: boolean}
      generations: {type: array, items: {type: string}}
      passthrough: {type: array, items: {type: string}}
      association_column: {type: string}
  BatchSchedule:
    type: object
    required: [id, service_id, service, created_at, created_by, cron, source, format,
               options, next_run_at, last_run_at, last_job_id, last_error]
    properties:
      id: {type: string}
      service_id: {type: string}
      service: {type: string}
      created_at: {type: string, format: date-time}
      created_by: {type: string}
      cron: {type: string}
      source: {type: string}
      format: {type: string, nullable: true}
      options: {type: object}
      next_run_at: {type: string, format: date-time}
      last_run_at: {type: string, format: date-time, nullable: true}
      last_job_id: {type: string, nullable: true}
      last_error: {type: string, description: why the last run made no job}
  BrowserSession:
    type: object
    required: [user, is_admin, expires_at]
    properties:
      user: {type: string, nullable: true, example: alice}
      is_admin: {type: boolean}
      expires_at: {type: string, format: date-time, nullable: true}
  OpenAPIDocument:
    type: object
    required: [openapi, info, paths]
    properties:
      openapi: {type: string, example: 3.0.3}
      info: {type: object}
      servers: {type: array, items: {type: object}}
      paths: {type: object}
      components: {type: object}
responses:
  BadRequest:
    description: The request is malformed; the message says how.
    content:
      application/json:
        schema: {$ref: '#/components/schemas/Error'}
  Unauthorized:
    description: The request carries no credentials (sign it with SigV4, or sign in from
      a browser), or its session has ended.
    content:
      application/json:
        schema: {$ref: '#/components/schemas/Error'}
  Forbidden:
    description: The credentials do not hold, or do not allow this.
    content:
      application/json:
        schema: {$ref: '#/components/schemas/Error'}
  NotFound:
    description: No such service, model, generation or file.
    content:
      application/json:
        schema: {$ref: '#/components/schemas/Error'}
  Conflict:
    description: The request conflicts with the current state (a name taken, a service
      disabled or still deployed).
    content:
      application/json:
        schema: {$ref: '#/components/schemas/Error'}
  TooManyRequests:
    description: Too many failed attempts in a short time; the message says when to retry.
    content:
      application/json:
        schema: {$ref: '#/components/schemas/Error'}
  TooLarge:
    description: The body is over the upload limit.
    content:
      application/json:
        schema: {$ref: '#/components/schemas/Error'}
  Error:
    description: Any other error, in Shipyard's error format.
    content:
      application/json:
        schema: {$ref: '#/components/schemas/Error'}
"""

COMPONENTS: dict[str, Any] = yaml.load(  # a safe loader: libyaml's when it is there
    _COMPONENTS_YAML, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
)

TAGS: list[dict[str, str]] = [
    {"name": "services", "description": "The service registry and each service's files."},
    {"name": "deployments", "description": "Generations, their builds and logs."},
    {"name": "traffic",
     "description": "Mappings between generations, switches, rollbacks, the challenger."},
    {"name": "queries", "description": "Every call through the gateway, for comparing "
     "generations offline."},
    {"name": "documentation", "description": "OpenAPI documents and Swagger pages."},
    {"name": "models", "description": "Trained models and the model services made of them."},
    {"name": "batch", "description": "Files scored in the background by a service's "
     "generations, with progress and downloadable results."},
    {"name": "iam", "description": "Users, projects, access keys and API keys."},
    {"name": "platform", "description": "Environment profiles and the control plane's health."},
    {"name": "console", "description": "The browser console's pages and files."},
]
