"""``create_app(settings) -> FastAPI``: middleware, routers and error handlers in one place."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.staticfiles import StaticFiles

from identity import health
from identity.accounts import pages as account_pages
from identity.audit import api as audit_api
from identity.consent import api as consent_api
from identity.consent import pages as consent_pages
from identity.consent.decision_api import DecisionEndpoints
from identity.consent.record_api import RecordEndpoint
from identity.consent.schemas import BatchIn, BatchOut, DecisionOut, RecordedOut, RecordIn
from identity.console import pages as console_pages
from identity.dsr import pages as dsr_pages
from identity.linking import api as linking_api
from identity.mail import pages as mail_pages
from identity.mfa import pages as mfa_pages
from identity.oidc import pages as oidc_pages
from identity.oidc import routes as oidc_routes
from identity.oidc.token_endpoint import TokenEndpoint
from identity.passkeys import pages as passkey_pages
from identity.resources import static_dir
from identity.runtime import Runtime
from identity.settings import Settings
from identity.upstream import pages as upstream_pages
from identity.web import branding
from identity.web.deps import close_parsed_form
from identity.web.errors import install_error_handlers
from identity.web.lane import Endpoint, FrontDoor, openapi_paths
from identity.web.middleware import EdgeMiddleware

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


class IdentityApp(FastAPI):
    """FastAPI behind the front door (:mod:`identity.web.lane`): one dispatch per request,
    the machine endpoints answered there, everything else passed to the framework."""

    front_door: Any = None
    endpoints: tuple[Endpoint, ...] = ()

    async def framework(self, scope: Any, receive: Any, send: Any) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.front_door(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """The framework's operations and the front door's, in one document."""
        if self.openapi_schema is None:
            schema = super().openapi()
            paths = schema.setdefault("paths", {})
            for path, operations in openapi_paths(self.endpoints).items():
                paths.setdefault(path, {}).update(operations)
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(
                _schemas(DecisionOut, BatchIn, BatchOut, RecordIn, RecordedOut)
            )
            components.setdefault("securitySchemes", {})["bearer"] = {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
            }
            self.openapi_schema = schema
        return self.openapi_schema


def _schemas(*models: Any) -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    return dict(top.get("$defs", {}))


# Every capability's routes (the mail preview pages only in development).
ROUTERS = (
    health,
    account_pages,
    mfa_pages,
    passkey_pages,
    oidc_routes,
    oidc_pages,
    consent_api,
    audit_api,
    linking_api,
    consent_pages,
    console_pages,
    dsr_pages,
    upstream_pages,
    branding,
)


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or Runtime.build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            runtime.keys.ensure()
            runtime.receipt_keys.ensure()
            runtime.audit_keys.ensure()
        except SQLAlchemyError:
            # Not migrated yet: /readyz says so; keys are made at the next start.
            log.warning("signing keys not ensured: is the database migrated?")
        if settings.outbox_worker:
            runtime.outbox.start()
        if settings.audit_sequencer:
            runtime.sequencer.start()
        if settings.dsr_worker:
            runtime.dsr_worker.start()  # erasures whose grace period has passed
        if settings.housekeeping:
            runtime.operations.housekeeping.start()
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
    # The machine endpoints skip the framework's layers altogether, but get the edge headers.
    decisions = DecisionEndpoints(runtime.decisions, runtime.bearer)
    app.endpoints = (
        TokenEndpoint(runtime.oidc.provider).endpoint(),
        *decisions.endpoints(),
        RecordEndpoint(runtime.consent_access, runtime.bearer).endpoint(),
    )
    app.front_door = EdgeMiddleware(FrontDoor(app.endpoints, app.framework), https=settings.https)
    install_error_handlers(app)

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    for module in ROUTERS:
        app.include_router(module.router)
    if settings.is_development:
        app.include_router(mail_pages.router)
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``identity serve`` and its workers).

    A bad purpose file stops the server here, naming the file and the field.
    """
    from identity.consent.policy import PolicyError

    try:
        app = create_app(Settings.load())
    except PolicyError as exc:
        log.critical("invalid purpose file: %s", exc)
        raise SystemExit(f"invalid purpose file: {exc}") from exc
    # What start-up built (modules, compiled statements, templates, the catalogue) lives as
    # long as the process: out of the collector's generations, a full collection no longer
    # walks it, which would otherwise stall the requests in flight.
    gc.collect()
    gc.freeze()
    return app
