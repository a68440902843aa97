"""Service stats: per-minute, hourly and daily rollups of calls and usage.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_rollups",
        sa.Column("service_id", sa.String(32), primary_key=True),
        sa.Column("span", sa.Integer, primary_key=True),
        sa.Column("start", sa.BigInteger, primary_key=True),
        sa.Column("generation", sa.String(16), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in (
            "calls", "predictions", "ok", "user_errors", "server_errors", "timeouts",
            "bytes_in", "bytes_out", "usage_samples", "peak_load", "memory_max",
            "gpu_memory_max")),
        *(sa.Column(name, sa.Float, nullable=False) for name in (
            "cpu_sum", "memory_sum", "gpu_memory_sum", "cpu_max")),
        *(sa.Column(name, sa.LargeBinary, nullable=False) for name in (
            "latency", "instance_time", "overhead", "load", "callers")),
    )


def downgrade() -> None:
    op.drop_table("stats_rollups")
