"""The serial of the first routing table that carried a service's route as it stands
(``services.routes_serial``), so that a client waits for the gateway to serve it.

Added in place (see 0014 for why).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("services", sa.Column("routes_serial", sa.BigInteger, nullable=False,
                                        server_default="0"))


def downgrade() -> None:
    op.drop_column("services", "routes_serial")
