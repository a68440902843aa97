"""A service's secrets, sealed with the server key (``service_secrets``), and each
generation's snapshot of them, still sealed (``generations.secrets``).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_secrets",
        sa.Column("service_id", sa.String(32),
                  sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("generations", sa.Column("secrets", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("generations", "secrets")
    op.drop_table("service_secrets")
