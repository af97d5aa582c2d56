"""Spanish for the msgids branch ``auditperf`` adds: none (the audit log's purge and its
verification speak only on the command line and in the API, in English)."""

ES: dict[str, str] = {}
