"""``create_app(settings) -> FastAPI``: middleware, routers and error handlers in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.staticfiles import StaticFiles

from identity import health
from identity.accounts import pages as account_pages
from identity.consent import api as consent_api
from identity.consent import pages as consent_pages
from identity.fastlane import FastLane, is_fast
from identity.mail import pages as mail_pages
from identity.oidc import pages as oidc_pages
from identity.oidc import routes as oidc_routes
from identity.resources import static_dir
from identity.runtime import Runtime
from identity.settings import Settings
from identity.web.deps import close_parsed_form
from identity.web.errors import install_error_handlers
from identity.web.middleware import EdgeMiddleware

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


class IdentityApp(FastAPI):
    """FastAPI, with the fast lane in front of its own middleware stack."""

    fast_lane: Any = None

    async def framework(self, scope: Any, receive: Any, send: Any) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.fast_lane is not None and scope["type"] == "http" and is_fast(scope):
            await self.fast_lane(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            runtime.keys.ensure()
        except SQLAlchemyError:
            # Not migrated yet: /readyz says so; keys are made at the next start.
            log.warning("signing keys not ensured: is the database migrated?")
        if settings.outbox_worker:
            runtime.outbox.start()
        yield
        runtime.close()

    app = IdentityApp(
        title="identity",
        summary="Customer identity, single sign-on and consent decisions for retailers",
        version="0.1.0",
        docs_url="/docs" if settings.is_development else None,
        redoc_url=None,
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
        dependencies=[Depends(close_parsed_form)],
    )
    app.state.runtime = runtime
    app.state.settings = settings

    app.add_middleware(EdgeMiddleware, https=settings.https)
    # The hot machine paths skip the framework's layers altogether (see identity.fastlane),
    # but still get the edge headers.
    app.fast_lane = EdgeMiddleware(FastLane(app.framework, runtime=runtime), https=settings.https)
    install_error_handlers(app)

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    app.include_router(health.router)
    app.include_router(account_pages.router)
    app.include_router(oidc_routes.router)
    app.include_router(oidc_pages.router)
    app.include_router(consent_api.router)
    app.include_router(consent_pages.router)
    if settings.is_development:
        app.include_router(mail_pages.router)
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``identity serve`` and its workers).

    A bad purpose file stops the server here, naming the file and the field.
    """
    from identity.consent.policy import PolicyError

    try:
        return create_app(Settings.load())
    except PolicyError as exc:
        log.critical("invalid purpose file: %s", exc)
        raise SystemExit(f"invalid purpose file: {exc}") from exc
