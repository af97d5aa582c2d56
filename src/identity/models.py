"""Every table, imported in one place so Alembic and the schema tests see the whole schema."""

from identity.accounts import models as accounts_models
from identity.audit import models as audit_models
from identity.db import Base

metadata = Base.metadata

__all__ = ["accounts_models", "audit_models", "metadata"]
