"""Who may open the console: privacy officers who proved their second factor in this session
(``identity.web.deps.officer_required``), and for exports an officer who proved it within
``IDENTITY_OFFICER_REAUTH_AFTER`` (``officer_recently_authenticated``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from identity.context import CurrentSession
from identity.web.deps import officer_arriving, officer_recently_authenticated, officer_required

Officer = Annotated[CurrentSession, officer_required()]
ArrivingOfficer = Annotated[CurrentSession, Depends(officer_arriving)]
RecentOfficer = Annotated[CurrentSession, officer_recently_authenticated()]
