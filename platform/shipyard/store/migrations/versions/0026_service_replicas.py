"""The replicas each generation of a service runs: ``services.min_replicas`` and
``services.max_replicas`` (1 and 1 for the services that exist).

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("services", sa.Column("min_replicas", sa.Integer, nullable=False,
                                        server_default="1"))
    op.add_column("services", sa.Column("max_replicas", sa.Integer, nullable=False,
                                        server_default="1"))


def downgrade() -> None:
    op.drop_column("services", "max_replicas")
    op.drop_column("services", "min_replicas")
