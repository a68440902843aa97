"""Batch jobs (``batch_jobs``): a file scored by a service's generations in the
background, and how far it got.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("service_id", sa.String(32),
                  sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("caller_kind", sa.String(16), nullable=False),
        sa.Column("caller_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("input_format", sa.String(16), nullable=False),
        sa.Column("input_bytes", sa.Integer, nullable=False),
        sa.Column("input_job_id", sa.String(32), nullable=True),
        sa.Column("output_format", sa.String(16), nullable=False),
        sa.Column("chunk_size", sa.Integer, nullable=False),
        sa.Column("passthrough", sa.JSON, nullable=False),
        sa.Column("association_column", sa.String(255), nullable=True),
        sa.Column("generations", sa.JSON, nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=True),
        sa.Column("rows_done", sa.Integer, nullable=False),
        sa.Column("chunks_done", sa.Integer, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resumed_at", sa.Float, nullable=True),
        sa.Column("rows_at_resume", sa.Integer, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("access_key_id", sa.String(32), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("batch_jobs")
