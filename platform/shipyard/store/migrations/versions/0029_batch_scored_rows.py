"""The rows batch jobs scored under an association id, by id and generation
(``batch_scored_rows``): actuals join them in the ``batch`` role, apart from live calls'
``scored_rows``.

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_scored_rows",
        sa.Column("service_id", sa.String(32), primary_key=True),
        sa.Column("association_id", sa.String(255), primary_key=True),
        sa.Column("generation", sa.String(16), primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("prediction", sa.Text, nullable=True),
        sa.Column("scores", sa.Text, nullable=True),
    )
    op.create_index("batch_scored_rows_by_time", "batch_scored_rows", ["service_id", "at"])


def downgrade() -> None:
    op.drop_index("batch_scored_rows_by_time", "batch_scored_rows")
    op.drop_table("batch_scored_rows")
