"""Audit tables: the entries, the Merkle tree's stored hashes, its state, signed checkpoints and
the checkpoint signing key.

Writers only ever insert into ``audit_entry`` (no lock, no counter); everything else is
written by the sequencer alone (see :mod:`identity.audit.sequencer`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")
TREE_ID = 1


class AuditEntryRow(Base):
    """One event. ``leaf_index`` (0-based, contiguous) is given by the sequencer, after the
    transaction that wrote the entry has committed; until then it is NULL.

    Past its family's retention an entry is purged (:mod:`identity.audit.retention`):
    ``actor`` becomes ``""``, ``subject`` NULL, ``details`` ``{}`` and ``purged_at`` is set;
    its stored leaf hash proves it from then on."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        # The sequencer's queue: entries still waiting for their place in the tree.
        Index(
            "ix_audit_entry_unsequenced",
            "id",
            postgresql_where=text("leaf_index IS NULL"),
            sqlite_where=text("leaf_index IS NULL"),
        ),
        # The console's keyset pages: one subject's (or actor's, or action's) entries in log
        # order, walked from the index instead of all of them read and sorted per page.
        Index("ix_audit_entry_subject_place", "subject", "leaf_index"),
        Index("ix_audit_entry_actor_place", "actor", "leaf_index"),
        Index("ix_audit_entry_action_place", "action", "leaf_index"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    leaf_index: Mapped[int | None] = mapped_column(BigId, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    sequenced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditHashRow(Base):
    """A stored hash of the tree, in Go tlog's layout (``merkle.stored_hash_index``): every leaf
    hash and every complete subtree's hash, append-only."""

    __tablename__ = "audit_hash"

    index: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditTreeRow(Base):
    """The tree's size and root, as the sequencer last left them (one row, its lock)."""

    __tablename__ = "audit_tree"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigId)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditCheckpointRow(Base):
    """Every signed checkpoint ever published: a C2SP signed note over (origin, size, root)."""

    __tablename__ = "audit_checkpoint"

    size: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditKeyRow(Base):
    """The checkpoint signing key (Ed25519); the private half encrypted with a key derived from
    the secret key. The newest one signs; every one stays published."""

    __tablename__ = "audit_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    private_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
