"""Each service may set the thresholds its health is told by (``service_health``): the
ones it sets, as JSON; null, as for every service until now, keeps the defaults.

Both steps alter ``services`` in place (SQLite 3.35 and later drop a column so): a batch
migration would copy it to a new table and drop the old one, and with foreign keys on,
that drop deletes every generation, file and instance of every service.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("services", sa.Column("health_thresholds", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("services", "health_thresholds")
