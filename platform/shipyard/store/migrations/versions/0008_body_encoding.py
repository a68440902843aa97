"""The query log says how a call's bodies are written: UTF-8 text, or base64 for bodies
that are not text, so that every body is kept byte for byte.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.add_column(sa.Column("body_encoding", sa.String(8), nullable=True))
    # Bodies recorded so far were decoded as UTF-8.
    op.execute(
        "UPDATE query_log SET body_encoding = 'utf-8' WHERE request_body IS NOT NULL"
        " OR response_body IS NOT NULL OR challenger_body IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.drop_column("body_encoding")
