"""The control plane's HTTP API: blueprints that parse, call one domain method, serialize.

Run by the api process (``python -m shipyard.api.process``, gunicorn workers over
``app.create_app``). It may import the domain, iam, openapi, the query log's reader, the
store and the contracts; the runners only through their protocol (the control plane hands
it the installation's ``RunnerSet``, made by the app factory).
"""

from __future__ import annotations

from flask import Flask

from shipyard.api.actuals import actuals
from shipyard.api.api_keys import api_keys
from shipyard.api.batch_jobs import batch_jobs, batch_schedules, service_batch_jobs
from shipyard.api.browser_sessions import browser_sessions
from shipyard.api.callers import authenticate
from shipyard.api.catalog import catalog
from shipyard.api.console import console
from shipyard.api.deployments import deployments
from shipyard.api.docs import docs
from shipyard.api.drift import drift
from shipyard.api.errors import register_error_handlers
from shipyard.api.generation_packages import generation_packages
from shipyard.api.health import health
from shipyard.api.iam import iam
from shipyard.api.model_replacements import model_replacements
from shipyard.api.models import models
from shipyard.api.queries import queries
from shipyard.api.services import services
from shipyard.api.stats import stats
from shipyard.api.supervisor_wakeups import wake_after_change
from shipyard.api.traffic import traffic

__all__ = ["register_api"]


def register_api(app: Flask) -> None:
    register_error_handlers(app)
    app.before_request(authenticate)
    app.after_request(wake_after_change)
    app.register_blueprint(health)
    app.register_blueprint(catalog, url_prefix="/api/v1")
    app.register_blueprint(services, url_prefix="/api/v1/services")
    app.register_blueprint(deployments, url_prefix="/api/v1/services")
    app.register_blueprint(traffic, url_prefix="/api/v1/services")
    app.register_blueprint(queries, url_prefix="/api/v1/services")
    app.register_blueprint(stats, url_prefix="/api/v1/services")
    app.register_blueprint(drift, url_prefix="/api/v1/services")
    app.register_blueprint(actuals, url_prefix="/api/v1/services")
    app.register_blueprint(generation_packages, url_prefix="/api/v1/services")
    app.register_blueprint(model_replacements, url_prefix="/api/v1/services")
    app.register_blueprint(models, url_prefix="/api/v1/models")
    app.register_blueprint(api_keys, url_prefix="/api/v1/services")
    app.register_blueprint(service_batch_jobs, url_prefix="/api/v1/services")
    app.register_blueprint(batch_jobs, url_prefix="/api/v1/batch-jobs")
    app.register_blueprint(batch_schedules, url_prefix="/api/v1/batch-schedules")
    app.register_blueprint(iam, url_prefix="/iam")
    app.register_blueprint(browser_sessions, url_prefix="/iam")
    app.register_blueprint(docs)
    app.register_blueprint(console)
