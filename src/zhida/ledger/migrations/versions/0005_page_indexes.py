"""Indexes for the pages at 1M awards (bench/pages_bench.py, SQLite figures):
- awards (status, id): the public 公示 list (publicity and held awards), release_due and finance's
  failed awards read a few thousand rows instead of scanning every award (/publicity's query 3 s → 0.2 s);
- applications (department, status, id): a department's queue filtered by status (待审), and its
  count, read that status's rows only (count 735 ms → 13 ms).

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
    with op.batch_alter_table("applications") as batch_op:
        batch_op.create_index("ix_applications_department_status_id", ["department", "status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch_op:
        batch_op.drop_index("ix_applications_department_status_id")
    with op.batch_alter_table("awards") as batch_op:
        batch_op.drop_index("ix_awards_status_id")
