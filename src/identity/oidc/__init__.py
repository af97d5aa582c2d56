"""OpenID Connect provider: Authlib's protocol engine behind a thin FastAPI adapter.

Authlib's ``AuthorizationServer`` and grant classes implement OAuth 2.0 and OpenID Connect;
this package supplies what Authlib leaves to the application: storage hooks (clients, codes,
grants, refresh tokens, keys), the Starlette request adapter, the interaction pages (login,
consent, account selection) and the parts Authlib does not cover (back-channel logout).
"""
