"""A custom service's generation keeps the model interface its files declare (features,
target, problem type, predict path, baseline), so that it is monitored as a model.

Added in place (see 0014 for why).

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("generations", sa.Column("interface", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("generations", "interface")
