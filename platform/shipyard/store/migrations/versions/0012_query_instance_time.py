"""The query log keeps the time a call spent in its instance (the rest of its latency
is the gateway's overhead) and the rows the instance scored.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.add_column(sa.Column("instance_ms", sa.Float, nullable=True))
        batch.add_column(sa.Column("predictions", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.drop_column("predictions")
        batch.drop_column("instance_ms")
