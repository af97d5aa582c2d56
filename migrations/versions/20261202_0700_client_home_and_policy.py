"""Clients' registered home page and privacy policy (RFC 7591 §2 ``client_uri``,
``policy_uri``): the sign-in page links back to the channel, the consent screen to the
partner's policy, and neither URL ever comes from a request.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns without defaults: no table rewrite on either database.
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_uri", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("policy_uri", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("policy_uri")
        batch_op.drop_column("client_uri")
