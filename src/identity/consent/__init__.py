"""Preference and consent center: purposes from ``policies/``, an append-only ledger of
decisions with a current-state projection, the decision API every service asks, GPC,
double opt-in, one-click unsubscribe, signed receipts, change feed and webhooks."""
