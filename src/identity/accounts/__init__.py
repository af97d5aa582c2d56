"""Accounts: users, passwords, email links, browser sessions and login throttling."""
