"""The store: SQLAlchemy 2 tables, the engine set-up and migrations."""

from shipyard.store.database import Store
from shipyard.store.identity_tables import (
    AccessKeyRow,
    ApiKeyRow,
    ProjectMemberRow,
    ProjectRow,
    UserRow,
)
from shipyard.store.tables import (
    ArtifactRemovalRow,
    Base,
    BuildLogRow,
    GenerationRow,
    InstanceRow,
    ModelReplacementRow,
    ModelRow,
    ModelVersionRow,
    QueryLogRow,
    ServiceFileRow,
    ServiceRow,
)

__all__ = [
    "AccessKeyRow",
    "ApiKeyRow",
    "ArtifactRemovalRow",
    "Base",
    "BuildLogRow",
    "GenerationRow",
    "InstanceRow",
    "ModelReplacementRow",
    "ModelRow",
    "ModelVersionRow",
    "ProjectMemberRow",
    "ProjectRow",
    "QueryLogRow",
    "ServiceFileRow",
    "ServiceRow",
    "Store",
    "UserRow",
]
