"""The store: SQLAlchemy 2 tables, the engine set-up and migrations."""

from shipyard.store.database import Store
from shipyard.store.tables import (
    Base,
    BuildLogRow,
    GenerationRow,
    InstanceRow,
    ModelRow,
    ModelVersionRow,
    ServiceFileRow,
    ServiceRow,
)

__all__ = [
    "Base",
    "BuildLogRow",
    "GenerationRow",
    "InstanceRow",
    "ModelRow",
    "ModelVersionRow",
    "ServiceFileRow",
    "ServiceRow",
    "Store",
]
