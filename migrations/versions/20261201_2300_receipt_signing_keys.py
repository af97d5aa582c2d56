"""Receipt keys: ``signing_key.purpose`` tells token keys (``/jwks``) from the long-lived
consent-receipt keys (``/receipts/jwks``). Existing keys are token keys.

Downgrading deletes the receipt keys: without the column they would be taken for token keys
(and, being the newest, sign tokens). Receipts they signed then no longer verify.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), server_default="tokens", nullable=False)
        )


def downgrade() -> None:
    op.execute("DELETE FROM signing_key WHERE purpose <> 'tokens'")
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.drop_column("purpose")
