"""Generations side by side: desired and live mappings, a challenger, query logs and the
history of model replacements.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("mapping", sa.JSON, nullable=True))
        batch.add_column(sa.Column("live_mapping", sa.JSON, nullable=True))
        batch.add_column(sa.Column("challenger_generation_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column(
            "collect_prediction_data", sa.Boolean, nullable=False, server_default=sa.false()
        ))
        batch.add_column(sa.Column(
            "association_id_field", sa.String(255), nullable=False, server_default=""
        ))
    # A service that served one generation keeps serving it, now as a 100% mapping.
    services = sa.table(
        "services", sa.column("id", sa.String), sa.column("live_generation_id", sa.String),
        sa.column("target_generation_id", sa.String), sa.column("mapping", sa.JSON),
        sa.column("live_mapping", sa.JSON),
    )
    connection = op.get_bind()
    for row in connection.execute(
        sa.select(services.c.id, services.c.live_generation_id, services.c.target_generation_id)
    ).all():
        live = [{"generation_id": row.live_generation_id, "proba": 1.0}]
        desired = [{"generation_id": row.target_generation_id, "proba": 1.0}]
        connection.execute(
            services.update().where(services.c.id == row.id).values(
                live_mapping=live if row.live_generation_id else None,
                mapping=desired if row.target_generation_id else None,
            )
        )
    op.create_table(
        "query_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("generation", sa.String(16), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("request_bytes", sa.Integer, nullable=False),
        sa.Column("response_bytes", sa.Integer, nullable=False),
        sa.Column("caller", sa.String(255), nullable=False),
        sa.Column("association_id", sa.String(255), nullable=True),
        sa.Column("challenger_generation", sa.String(16), nullable=True),
        sa.Column("challenger_status", sa.Integer, nullable=True),
        sa.Column("challenger_latency_ms", sa.Float, nullable=True),
        sa.Column("request_body", sa.Text, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("challenger_body", sa.Text, nullable=True),
    )
    op.create_index("ix_query_log_service_at", "query_log", ["service_id", "at"])
    op.create_index("ix_query_log_request_id", "query_log", ["request_id"])
    op.create_table(
        "model_replacements",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "service_id", sa.String(32),
            sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("from_model_version", sa.String(64), nullable=True),
        sa.Column("to_model_version", sa.String(64), nullable=False),
        sa.Column("generation_id", sa.String(32), nullable=True),
        sa.Column("validation", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_model_replacements_service_id", "model_replacements", ["service_id"])


def downgrade() -> None:
    op.drop_table("model_replacements")
    op.drop_table("query_log")
    with op.batch_alter_table("services") as batch:
        for column in ("association_id_field", "collect_prediction_data",
                       "challenger_generation_id", "live_mapping", "mapping"):
            batch.drop_column(column)
