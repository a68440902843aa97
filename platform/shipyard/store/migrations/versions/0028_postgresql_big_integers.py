"""On PostgreSQL, 64-bit integers where 32 bits overflow: an instance's
``instances.memory_bytes`` (an instance of over 2 GiB), a batch job's ``input_bytes`` (up
to ``max_batch_bytes``, 4 GiB by default) and its row counts, the query log's byte counts
and its id (a busy query log passes 2**31 calls). SQLite's integers are 64-bit already:
nothing changes there. On PostgreSQL each table is rewritten once, under its lock.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

COLUMNS = {
    "instances": ("memory_bytes",),
    "batch_jobs": ("input_bytes", "rows_total", "rows_done", "rows_at_resume"),
    "query_log": ("id", "request_bytes", "response_bytes"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, names in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name in names:
                batch.alter_column(name, type_=sa.BigInteger(), existing_type=sa.Integer())
    op.execute("ALTER SEQUENCE query_log_id_seq AS bigint")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER SEQUENCE query_log_id_seq AS integer")
    for table, names in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name in names:
                batch.alter_column(name, type_=sa.Integer(), existing_type=sa.BigInteger())
