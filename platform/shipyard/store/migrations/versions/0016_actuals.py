"""Actuals and accuracy: each scored row's prediction kept by its association id, the
actuals sent for them, and hourly accuracy rollups of the joined pairs.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scored_rows",
        sa.Column("service_id", sa.String(32), primary_key=True),
        sa.Column("association_id", sa.String(255), primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("generation", sa.String(16), nullable=True),
        sa.Column("prediction", sa.Text, nullable=True),
        sa.Column("scores", sa.Text, nullable=True),
        sa.Column("challenger_generation", sa.String(16), nullable=True),
        sa.Column("challenger_prediction", sa.Text, nullable=True),
        sa.Column("challenger_scores", sa.Text, nullable=True),
    )
    op.create_index("scored_rows_by_time", "scored_rows", ["service_id", "at"])
    op.create_table(
        "actuals",
        sa.Column("service_id", sa.String(32), primary_key=True),
        sa.Column("association_id", sa.String(255), primary_key=True),
        sa.Column("actual_value", sa.Text, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=True),
        sa.Column("was_acted_on", sa.Boolean, nullable=True),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_index("actuals_by_upload", "actuals", ["service_id", "received_at"])
    op.create_table(
        "accuracy_rollups",
        sa.Column("service_id", sa.String(32), primary_key=True),
        sa.Column("start", sa.BigInteger, primary_key=True),
        sa.Column("generation", sa.String(16), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("problem_type", sa.String(16), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("rollup", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("accuracy_rollups")
    op.drop_index("actuals_by_upload", "actuals")
    op.drop_table("actuals")
    op.drop_index("scored_rows_by_time", "scored_rows")
    op.drop_table("scored_rows")
