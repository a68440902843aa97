"""Prediction warnings: the rows of a call its instance flagged (``query_log.warnings``,
as its ``X-Shipyard-Prediction-Warnings`` header said), counted in the stats' rollups.

Both columns are added in place (see 0014 for why).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("query_log", sa.Column("warnings", sa.Integer, nullable=True))
    op.add_column("stats_rollups", sa.Column("warnings", sa.BigInteger, nullable=False,
                                             server_default="0"))


def downgrade() -> None:
    op.drop_column("stats_rollups", "warnings")
    op.drop_column("query_log", "warnings")
