"""The domain objects one control-plane process works with, built once from settings.

``runners`` is the installation's runners, given by the process that builds the control
plane (the domain never picks a runner itself): the API reads instance logs through it,
the supervisor builds and runs with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shipyard.domain.batch_jobs import BatchJobs
from shipyard.domain.batch_schedules import BatchSchedules
from shipyard.domain.batch_sources import BatchSources
from shipyard.domain.deployments import Deployments
from shipyard.domain.environments import EnvironmentCatalog
from shipyard.domain.generation_packages import GenerationPackages
from shipyard.domain.model_replacements import ModelReplacements
from shipyard.domain.models import ModelRegistry
from shipyard.domain.service_secrets import ServiceSecrets
from shipyard.domain.services import ServiceRegistry
from shipyard.domain.traffic import Traffic
from shipyard.home import prepare_home
from shipyard.iam.access_control import AccessControl
from shipyard.iam.vault import Vault
from shipyard.query_log.export import QueryLog
from shipyard.resources import environments_file
from shipyard.settings import Settings
from shipyard.stats.accuracy_queries import ServiceAccuracy
from shipyard.stats.actuals import ServiceActuals
from shipyard.stats.drift_queries import ServiceDrift
from shipyard.stats.queries import ServiceStats
from shipyard.store import Store
from shipyard_runners import Runner

__all__ = ["ControlPlane"]


@dataclass(frozen=True)
class ControlPlane:
    settings: Settings
    store: Store
    environments: EnvironmentCatalog
    services: ServiceRegistry
    deployments: Deployments
    models: ModelRegistry
    access: AccessControl
    traffic: Traffic
    queries: QueryLog
    stats: ServiceStats
    drift: ServiceDrift
    actuals: ServiceActuals
    accuracy: ServiceAccuracy
    replacements: ModelReplacements
    generation_packages: GenerationPackages
    runners: Runner
    secrets: ServiceSecrets
    batch_jobs: BatchJobs
    batch_schedules: BatchSchedules

    @classmethod
    def build(
        cls, settings: Settings, runners: Callable[[Settings], Runner], *, migrate: bool = True,
        store: Store | None = None,
    ) -> ControlPlane:
        """``store``: the one to use instead of a new one on the settings' database (a
        leading supervisor's, which fences its writes)."""
        prepare_home(settings.home)
        store = store or Store(settings.effective_database_url)
        if migrate:
            store.migrate(lock_dir=settings.home)
        environments = EnvironmentCatalog.load(settings.environments_file or environments_file())
        services = ServiceRegistry(
            store,
            environments,
            extra_templates=settings.templates_dir,
            max_files_bytes=settings.max_upload_bytes,
        )
        deployments = Deployments(store)
        models = ModelRegistry(
            store, services, deployments, max_model_bytes=settings.max_upload_bytes
        )
        return cls(
            settings=settings, store=store, environments=environments, services=services,
            deployments=deployments, models=models, access=AccessControl.build(settings, store),
            traffic=Traffic(store, environments),
            queries=QueryLog(store),
            stats=ServiceStats(store),
            drift=ServiceDrift(store),
            actuals=ServiceActuals(store),
            accuracy=ServiceAccuracy(store),
            replacements=ModelReplacements(store, models),
            generation_packages=GenerationPackages(
                store, environments, max_bytes=settings.max_upload_bytes
            ),
            runners=runners(settings),
            secrets=ServiceSecrets(store, Vault.open(settings.secret_key_file)),
            batch_jobs=BatchJobs(store, settings.home, max_bytes=settings.max_batch_bytes,
                                 retention_days=settings.batch_retention_days),
            batch_schedules=BatchSchedules(store, BatchSources(settings.batch_sources)),
        )

    def close(self) -> None:
        self.store.dispose()
