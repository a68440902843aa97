"""The replicas each generation of a service runs: ``services.min_replicas`` and
``services.max_replicas`` (1 and 1 for the services that exist) and the autoscaler's target
(``services.target_concurrency``); each generation's own bounds, its count now and the last
scaling decision (``generations.min_replicas``, ``max_replicas``, ``replicas``,
``scaled_at``, ``scaling_reason``); the replicas over
time in the stats (``stats_rollups.replica_samples``, ``replicas_sum``, ``replicas_max``).

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("services", sa.Column("min_replicas", sa.Integer, nullable=False,
                                        server_default="1"))
    op.add_column("services", sa.Column("max_replicas", sa.Integer, nullable=False,
                                        server_default="1"))
    op.add_column("services", sa.Column("target_concurrency", sa.Float, nullable=False,
                                        server_default="2.0"))
    for name in ("min_replicas", "max_replicas", "replicas"):
        op.add_column("generations", sa.Column(name, sa.Integer, nullable=True))
    op.add_column("generations", sa.Column("scaled_at", sa.DateTime(timezone=True),
                                           nullable=True))
    op.add_column("generations", sa.Column("scaling_reason", sa.Text, nullable=False,
                                           server_default=""))
    for name in ("replica_samples", "replicas_sum", "replicas_max"):
        op.add_column("stats_rollups", sa.Column(name, sa.BigInteger, nullable=False,
                                                 server_default="0"))


def downgrade() -> None:
    for name in ("replicas_max", "replicas_sum", "replica_samples"):
        op.drop_column("stats_rollups", name)
    op.drop_column("generations", "scaling_reason")
    op.drop_column("generations", "scaled_at")
    for name in ("replicas", "max_replicas", "min_replicas"):
        op.drop_column("generations", name)
    op.drop_column("services", "target_concurrency")
    op.drop_column("services", "max_replicas")
    op.drop_column("services", "min_replicas")
