"""Indexes for the finance page at 1M awards (bench/pages_bench.py, SQLite figures):
- awards (cash, status, department, amount): /finance counts and sums the cash awards at each stage
  (payable by department, in a batch, failed, paid) from this index alone, without reading the
  awards (stages 515 ms and payable departments 235 ms → ~40 and ~75 ms). Cash comes first so that
  the lists by status keep walking (status, id) in id order (the failures' first rows, /publicity).
- payments (award_id): an award's latest failed payment (finance's failures), one lookup per award
  shown instead of grouping every failed payment (the partial ux_payments_award_live holds only
  pending and paid ones).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("awards") as batch_op:
        batch_op.create_index("ix_awards_cash_status_department_amount", ["cash", "status", "department", "amount"],
                              unique=False)
    with op.batch_alter_table("payments") as batch_op:
        batch_op.create_index("ix_payments_award_id", ["award_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch_op:
        batch_op.drop_index("ix_payments_award_id")
    with op.batch_alter_table("awards") as batch_op:
        batch_op.drop_index("ix_awards_cash_status_department_amount")
