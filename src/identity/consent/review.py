"""Re-consent at sign-in: grants given for an older major version of a purpose, or expired,
are reviewed before anything else (the accounts' sign-in asks each step it was given)."""

from __future__ import annotations

import uuid

from identity.consent.decisions import Decisions
from identity.consent.service import subject_key

REVIEW_PAGE = "/privacy/review"


class ReviewAtSignIn:
    def __init__(self, decisions: Decisions) -> None:
        self._decisions = decisions

    def __call__(self, user_id: uuid.UUID) -> str | None:
        return REVIEW_PAGE if self._decisions.to_reconfirm(subject_key(user_id)) else None
