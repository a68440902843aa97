"""Models belong to a project, as services do. A model uploaded before is given the
project of the first service that deployed it; one never deployed stays without a
project, which only administrators reach.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("project_id", sa.String(32), nullable=True))
        batch.create_index("ix_models_project_id", ["project_id"])
    op.execute(
        "UPDATE models SET project_id = (SELECT services.project_id FROM generations"
        " JOIN services ON services.id = generations.service_id"
        " WHERE generations.model_version LIKE models.name || ':%'"
        " AND services.project_id IS NOT NULL"
        " ORDER BY generations.created_at LIMIT 1)"
    )


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_index("ix_models_project_id")
        batch.drop_column("project_id")
