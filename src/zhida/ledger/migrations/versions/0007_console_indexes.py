"""An index for the console's queue filtered by rule (bench/pages_bench.py, SQLite figures):
applications (department, rule_id, id). A department's queue narrowed to one rule walked the
department's 770,000 applications at 1M awards to find the rule's ~27,000, newest first (its count up
to 1,001 with a county filter: 106 ms); with it, only the rule's own rows are read, in id order.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications") as batch_op:
        batch_op.create_index("ix_applications_department_rule_id", ["department", "rule_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch_op:
        batch_op.drop_index("ix_applications_department_rule_id")
