"""Data subject requests: a customer's copy of everything held about them (GDPR Art. 15/20)
and the erasure of their account (Art. 17), from their account page, the command line and
the officer console, with a tombstone of each request and every step audited."""
