"""The domain objects one control-plane process works with, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.deployments import Deployments
from shipyard.environments import EnvironmentCatalog
from shipyard.generation_packages import GenerationPackages
from shipyard.home import prepare_home
from shipyard.iam.access_control import AccessControl
from shipyard.model_replacements import ModelReplacements
from shipyard.models import ModelRegistry
from shipyard.query_log import QueryLog
from shipyard.resources import environments_file
from shipyard.services import ServiceRegistry
from shipyard.settings import Settings
from shipyard.store import Store
from shipyard.traffic import Traffic

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
    replacements: ModelReplacements
    generation_packages: GenerationPackages

    @classmethod
    def build(cls, settings: Settings, *, migrate: bool = True) -> ControlPlane:
        prepare_home(settings.home)
        store = Store(settings.effective_database_url)
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
            traffic=Traffic(store),
            queries=QueryLog(store),
            replacements=ModelReplacements(store, models),
            generation_packages=GenerationPackages(
                store, environments, max_bytes=settings.max_upload_bytes
            ),
        )

    def close(self) -> None:
        self.store.dispose()
