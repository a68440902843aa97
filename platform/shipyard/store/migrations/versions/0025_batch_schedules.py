"""Batch jobs on a schedule (``batch_schedules``), and the schedule each job ran for
(``batch_jobs.schedule_id``).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("service_id", sa.String(32),
                  sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("caller_kind", sa.String(16), nullable=False),
        sa.Column("caller_id", sa.String(32), nullable=False),
        sa.Column("cron", sa.String(255), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("input_format", sa.String(16), nullable=True),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
    )
    op.add_column("batch_jobs", sa.Column("schedule_id", sa.String(32), nullable=True))
    op.create_index("ix_batch_jobs_schedule_id", "batch_jobs", ["schedule_id"])


def downgrade() -> None:
    op.drop_index("ix_batch_jobs_schedule_id", "batch_jobs")
    op.drop_column("batch_jobs", "schedule_id")
    op.drop_table("batch_schedules")
