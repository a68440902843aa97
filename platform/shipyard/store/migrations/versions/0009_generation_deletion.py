"""Generations can be deleted: a service counts the generations it ever made, so a deleted
tag is never given again, and the artifacts of deleted generations wait in a queue until
the supervisor has removed them from their runner.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column(
            "last_generation_number", sa.Integer, nullable=False, server_default="0"
        ))
    op.execute(
        "UPDATE services SET last_generation_number = COALESCE((SELECT MAX(number) FROM"
        " generations WHERE generations.service_id = services.id), 0)"
    )
    op.create_table(
        "artifact_removals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("artifact", sa.JSON, nullable=False),
        sa.Column("generation", sa.Text, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("artifact_removals")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("last_generation_number")
