"""The audit log becomes a transparency log: entries appended without a lock and placed by a
sequencer in a Merkle tree (stored hashes), signed checkpoints and their key; the consent
feed's position is given after commit (``feed_seq`` nullable).

Existing entries keep their order (their old sequence number becomes their id) and are placed
in the tree by the sequencer at the first start; the hash chain and its head are dropped.
Existing consent records keep their feed positions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import identity.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EMPTY_TREE_HASH = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def _entries() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in ("ix_audit_entry_action", "ix_audit_entry_at", "ix_audit_entry_subject"):
        op.drop_index(name, table_name="audit_entry")
    op.rename_table("audit_entry", "audit_entry_chain")
    if postgresql:
        op.execute("ALTER INDEX pk_audit_entry RENAME TO pk_audit_entry_chain")
    op.create_table(
        "audit_entry",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("leaf_index", BigId, nullable=True),
        sa.Column("at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("sequenced_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
        sa.UniqueConstraint("leaf_index", name=op.f("uq_audit_entry_leaf_index")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_subject"), ["subject"], unique=False)
        batch_op.create_index(
            "ix_audit_entry_unsequenced",
            ["id"],
            unique=False,
            postgresql_where=sa.text("leaf_index IS NULL"),
            sqlite_where=sa.text("leaf_index IS NULL"),
        )
    op.execute(
        "INSERT INTO audit_entry (id, at, action, actor, subject, details)"
        " SELECT seq, at, action, actor, subject, details FROM audit_entry_chain"
    )
    if postgresql:
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_entry', 'id'),"
            " (SELECT COALESCE(MAX(id), 0) + 1 FROM audit_entry), false)"
        )
    op.drop_table("audit_entry_chain")
    op.drop_table("audit_head")


def _tree() -> None:
    op.create_table(
        "audit_hash",
        sa.Column("index", BigId, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("index", name=op.f("pk_audit_hash")),
    )
    op.create_table(
        "audit_tree",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", BigId, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("updated_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_tree_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_tree")),
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("size", BigId, autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_audit_checkpoint")),
    )
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_checkpoint_created_at"), ["created_at"], unique=False
        )
    op.create_table(
        "audit_key",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("private_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_key")),
    )
    # The empty tree (RFC 9162: its root is the hash of nothing).
    op.bulk_insert(
        sa.table(
            "audit_tree",
            sa.column("id", sa.Integer),
            sa.column("size", sa.Integer),
            sa.column("root_hash", sa.LargeBinary),
            sa.column("updated_at", identity.db.UTCDateTime(timezone=True)),
        ),
        [{"id": 1, "size": 0, "root_hash": EMPTY_TREE_HASH, "updated_at": datetime.now(UTC)}],
    )


def upgrade() -> None:
    _entries()
    _tree()
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.alter_column("feed_seq", existing_type=BigId, nullable=True)


def downgrade() -> None:
    raise NotImplementedError(
        "the hash chain cannot be rebuilt from the transparency log: restore a backup taken "
        "before revision 0006"
    )
