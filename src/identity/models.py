"""Every table, imported in one place so Alembic and the schema tests see the whole schema."""

from identity.accounts import models as accounts_models
from identity.audit import models as audit_models
from identity.consent import models as consent_models
from identity.db import Base
from identity.dsr import models as dsr_models
from identity.linking import models as linking_models
from identity.links import models as links_models
from identity.mfa import models as mfa_models
from identity.oidc import models as oidc_models
from identity.outbox import models as outbox_models
from identity.passkeys import models as passkeys_models
from identity.subjects import models as subjects_models
from identity.upstream import models as upstream_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "audit_models",
    "consent_models",
    "dsr_models",
    "linking_models",
    "links_models",
    "metadata",
    "mfa_models",
    "oidc_models",
    "outbox_models",
    "passkeys_models",
    "subjects_models",
    "upstream_models",
]
