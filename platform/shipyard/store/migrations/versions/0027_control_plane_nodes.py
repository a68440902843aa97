"""Several control-plane nodes on one store: the supervisor's lease
(``supervisor_lease``), the nodes (``control_plane_nodes``), the routing table the
leader publishes (``published_routes``) and the replicas asked for by a node's gateway
(``replica_demands``).

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervisor_lease",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "control_plane_nodes",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
    )
    op.create_table(
        "published_routes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("serial", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "replica_demands",
        sa.Column("service_id", sa.String(64), primary_key=True),
        sa.Column("asked_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for name in ("replica_demands", "published_routes", "control_plane_nodes",
                 "supervisor_lease"):
        op.drop_table(name)
