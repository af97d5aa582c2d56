"""The console's keyset pages walk an index in log order: ``(subject, leaf_index)``,
``(actor, leaf_index)`` and ``(action, leaf_index)`` replace the single-column indexes on
``subject``, ``actor`` and ``action`` (whose lookups the composite ones serve as well), so an
entry still keeps as many indexes as before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("subject", "actor", "action")


def upgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.create_index(f"ix_audit_entry_{column}_place", [column, "leaf_index"])
            batch_op.drop_index(f"ix_audit_entry_{column}")


def downgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.create_index(f"ix_audit_entry_{column}", [column])
            batch_op.drop_index(f"ix_audit_entry_{column}_place")
