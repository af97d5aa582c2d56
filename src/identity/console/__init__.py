"""The privacy officer console (``/admin``): the audit log searched, each entry with its
inclusion proof checked, a subject's consent history and receipts, verifiable exports; and
every one of those looks recorded in the log itself, with the officer as the actor."""
