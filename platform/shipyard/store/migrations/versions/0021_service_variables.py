"""A service's environment variables (``services.variables``) and each generation's
snapshot of them (``generations.variables``); null for none.

Added in place (see 0014 for why).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("services", sa.Column("variables", sa.JSON, nullable=True))
    op.add_column("generations", sa.Column("variables", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("generations", "variables")
    op.drop_column("services", "variables")
