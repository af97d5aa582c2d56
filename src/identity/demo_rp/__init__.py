"""A small relying party that shows the provider at work: the web store, the shop app and a
marketplace signing in, sharing one session, and signing out together.

``create_demo_rp(...)`` builds the ASGI app; ``serve(...)`` runs it with uvicorn (what
``identity demo rp`` calls). See :mod:`identity.demo_rp.app`.
"""

from identity.demo_rp.app import CredentialsMissing
from identity.demo_rp.server import create_demo_rp, serve

__all__ = ["CredentialsMissing", "create_demo_rp", "serve"]
