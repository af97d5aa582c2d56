"""The tamper-evident audit log: every security and consent event, in a Merkle tree whose
signed checkpoints outsiders can check.

``record()`` appends inside the caller's transaction (no shared lock), so an entry exists if
and only if the change it describes committed; the sequencer (:mod:`.sequencer`) gives it its
place in the tree after the commit. Formats and proofs: ``docs/audit.md``.
"""

from identity.audit.service import record

__all__ = ["record"]
