"""Subjects: who a record is about, and how each client names them.

A stored subject is the account id (canonical UUID text) today; anonymous first-party ids will
be a second kind. A client names a subject by its public ``sub`` (the account id) or, for a
pairwise client, by the pairwise ``sub`` it was given at sign-in. Every path that turns a
client's name into a stored subject, or back, goes through :class:`SubjectResolver`.
"""
