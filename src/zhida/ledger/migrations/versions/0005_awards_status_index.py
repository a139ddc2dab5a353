"""Awards indexed by status (then id): the public 公示 list (publicity and held awards), release_due
and finance's failed awards read a few thousand rows instead of scanning every award (3 s → 0.2 s
for /publicity at 1M awards on SQLite, bench/pages_bench.py).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("awards") as batch_op:
        batch_op.create_index("ix_awards_status_id", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("awards") as batch_op:
        batch_op.drop_index("ix_awards_status_id")
