"""The awards' sums per (area, department, county, rule), kept as running totals (tables.AwardSum).

The budget report grouped every award on each visit: 0.8 s on PostgreSQL and 3–13 s on SQLite at
1M awards, too slow for the leadership dashboard. The table is filled here by the same grouped
scan (a row for every group that has an award, as the report's groups were) (cash awards committed and paid, live tax savings), once; budgets.move keeps it from then on.
Money is integer 分 on SQLite and NUMERIC(18,2) on PostgreSQL on both sides, so the raw SUMs go
straight into the columns on either.

The awards are also indexed by amount: the dashboard's largest awards walk it backwards instead of
sorting every award.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from zhida.ledger.tables import Money

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# As tables.COMMITTED_STATUSES and PAID_STATUSES stood at this revision (a migration is frozen).
COMMITTED = ("publicity", "held", "payable", "in_batch", "paid", "failed")
PAID = ("paid",)
TAX = "tax"

awards = sa.table("awards", sa.column("area"), sa.column("department"), sa.column("county"),
                  sa.column("rule_id"), sa.column("cash", sa.Boolean()), sa.column("verdict"),
                  sa.column("status"), sa.column("amount"))


def upgrade() -> None:
    sums = op.create_table(
        "award_sums",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("area", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=50), nullable=False),
        sa.Column("county", sa.String(length=20), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("committed", Money(), server_default=sa.text("0"), nullable=False),
        sa.Column("paid", Money(), server_default=sa.text("0"), nullable=False),
        sa.Column("tax", Money(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("area", "department", "county", "rule_id"),
    )
    cash, live = awards.c.cash.is_(sa.true()), awards.c.status.in_(COMMITTED)
    county = sa.func.coalesce(awards.c.county, "")

    def total(*conditions) -> sa.ColumnElement:
        return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conditions), awards.c.amount), else_=0)), 0)

    grouped = (
        sa.select(
            awards.c.area, awards.c.department, county, awards.c.rule_id,
            total(cash, live), total(cash, awards.c.status.in_(PAID)),
            total(awards.c.cash.is_(sa.false()), awards.c.verdict == TAX, live),
        )
        .group_by(awards.c.area, awards.c.department, county, awards.c.rule_id)
    )
    op.execute(sums.insert().from_select(
        ["area", "department", "county", "rule_id", "committed", "paid", "tax"], grouped))
    with op.batch_alter_table("awards") as batch_op:
        batch_op.create_index("ix_awards_amount", ["amount"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("awards") as batch_op:
        batch_op.drop_index("ix_awards_amount")
    op.drop_table("award_sums")
