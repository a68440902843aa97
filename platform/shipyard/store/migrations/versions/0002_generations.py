"""Generations, their build logs, running instances, and each service's deploy state.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("target_generation_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("live_generation_id", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("state", sa.String(16), nullable=False, server_default="stopped")
        )
        batch.add_column(
            sa.Column("status_message", sa.Text, nullable=False, server_default="")
        )
    op.create_table(
        "generations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "service_id", sa.String(32), sa.ForeignKey("services.id", ondelete="CASCADE"),
            nullable=False, index=True,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("environment", sa.String(32), nullable=False),
        sa.Column("packages", sa.JSON, nullable=False),
        sa.Column("files", sa.LargeBinary, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("build_state", sa.String(16), nullable=False),
        sa.Column("build_error", sa.Text, nullable=False),
        sa.Column("artifact", sa.JSON, nullable=True),
        sa.Column("build_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("build_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("service_id", "number"),
    )
    op.create_table(
        "build_log_lines",
        sa.Column(
            "generation_id", sa.String(32),
            sa.ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True,
        ),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_table(
        "instances",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "service_id", sa.String(32), sa.ForeignKey("services.id", ondelete="CASCADE"),
            nullable=False, index=True,
        ),
        sa.Column(
            "generation_id", sa.String(32),
            sa.ForeignKey("generations.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("handle", sa.JSON, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("restarts", sa.Integer, nullable=False),
        sa.Column("next_start_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("healthy_since", sa.Float, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("cpu_percent", sa.Float, nullable=False),
        sa.Column("memory_bytes", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("instances")
    op.drop_table("build_log_lines")
    op.drop_table("generations")
    with op.batch_alter_table("services") as batch:
        for column in ("status_message", "state", "live_generation_id", "target_generation_id"):
            batch.drop_column(column)
