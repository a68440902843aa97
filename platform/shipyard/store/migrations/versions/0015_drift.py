"""Drift: each service's monitoring settings, the drift profile of each model generation
(bins and reference counts from its model's baseline), and hourly drift rollups.

``services.monitoring`` is added in place, as 0014 adds its column (see there why).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("services", sa.Column("monitoring", sa.JSON, nullable=True))
    op.create_table(
        "drift_profiles",
        sa.Column("service_id", sa.String(32), primary_key=True),
        sa.Column("generation", sa.String(16), primary_key=True),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
    )
    op.create_table(
        "drift_rollups",
        sa.Column("service_id", sa.String(32), primary_key=True),
        sa.Column("start", sa.BigInteger, primary_key=True),
        sa.Column("generation", sa.String(16), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in (
            "rows", "predicted_rows", "data_errors")),
        *(sa.Column(name, sa.LargeBinary, nullable=False) for name in ("counts", "sums")),
    )


def downgrade() -> None:
    op.drop_table("drift_rollups")
    op.drop_table("drift_profiles")
    op.drop_column("services", "monitoring")
