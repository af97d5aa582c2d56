"""Tamper-evident audit log: every security and consent event, hash-chained.

``record()`` appends inside the caller's transaction, so an entry exists if and only if the
change it describes committed. See :mod:`identity.audit.rules` for the chain format.
"""

from identity.audit.service import record, verify

__all__ = ["record", "verify"]
