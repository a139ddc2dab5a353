"""The audit log by entity: an application's history is read from its entries (review.application_changes),
since the application's row keeps only its last submission and decision (a return, then a resubmission,
left no trace on the row). One index lookup instead of a scan of the whole chain.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.create_index("ix_audit_log_entity", ["entity", "entity_id", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_index("ix_audit_log_entity")
