"""The store: SQLAlchemy 2 tables, the engine set-up and migrations.

Used by every process (the gateway only through iam). It imports nothing of Shipyard but
the errors and the query-record contract its ``query_log`` table is made from.
"""

from shipyard.store.accuracy_tables import (
    AccuracyRollupRow,
    ActualRow,
    BatchScoredRowRow,
    ScoredRowRow,
)
from shipyard.store.batch_tables import BatchJobRow, BatchScheduleRow
from shipyard.store.cluster_tables import LeaseRow, NodeRow, PublishedRoutesRow, ReplicaDemandRow
from shipyard.store.database import Store, is_writing, lock_services
from shipyard.store.drift_tables import DriftProfileRow, DriftRollupRow
from shipyard.store.identity_tables import (
    AccessKeyRow,
    ApiKeyRow,
    BrowserSessionRow,
    ProjectMemberRow,
    ProjectRow,
    SignInFailureRow,
    UserRow,
)
from shipyard.store.stats_tables import StatsRollupRow
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
    ServiceSecretRow,
)

__all__ = [
    "AccessKeyRow",
    "AccuracyRollupRow",
    "ActualRow",
    "ApiKeyRow",
    "ArtifactRemovalRow",
    "Base",
    "BatchJobRow",
    "BatchScheduleRow",
    "BatchScoredRowRow",
    "BrowserSessionRow",
    "BuildLogRow",
    "DriftProfileRow",
    "DriftRollupRow",
    "GenerationRow",
    "InstanceRow",
    "LeaseRow",
    "ModelReplacementRow",
    "ModelRow",
    "ModelVersionRow",
    "NodeRow",
    "ProjectMemberRow",
    "ProjectRow",
    "PublishedRoutesRow",
    "QueryLogRow",
    "ReplicaDemandRow",
    "ScoredRowRow",
    "ServiceFileRow",
    "ServiceRow",
    "ServiceSecretRow",
    "SignInFailureRow",
    "StatsRollupRow",
    "Store",
    "UserRow",
    "is_writing",
    "lock_services",
]
