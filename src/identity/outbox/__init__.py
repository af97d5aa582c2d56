"""Durable outbox: messages written in the same transaction as the event that causes them,
delivered later by a worker with retries and backoff (back-channel logout, webhooks)."""
