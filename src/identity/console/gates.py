"""Who may open the console: privacy officers (``identity.web.deps.officer_required``), and for
exports an officer who signed in recently.

PLACEHOLDER, swap at merge (issue 13): the second-factor branch adds the real
``officer_recently_authenticated()`` (and the second factor) to ``identity.web.deps``. Until
it lands, the alias below is the plain officer gate. At merge, delete the function here and
import theirs in its place: nothing else in the console changes.
"""

from __future__ import annotations

from typing import Annotated, Any

from identity.context import CurrentSession
from identity.web.deps import officer_required


def officer_recently_authenticated() -> Any:  # PLACEHOLDER: identity.web.deps has the real one
    return officer_required()


Officer = Annotated[CurrentSession, officer_required()]
RecentOfficer = Annotated[CurrentSession, officer_recently_authenticated()]
