"""A batch job's calls, told apart: the batch job an access key was made for
(``access_keys.batch_job_id``), and the role a call counts in (``query_log.role``:
``batch``, or null for a live call).

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("access_keys", sa.Column("batch_job_id", sa.String(32), nullable=True))
    op.add_column("query_log", sa.Column("role", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("query_log", "role")
    op.drop_column("access_keys", "batch_job_id")
