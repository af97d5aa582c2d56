"""Liveness and readiness for orchestrators and load balancers."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import JSONResponse

from identity.schema import current_revision, head_revision
from identity.web.deps import RuntimeDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    # async and database-free on purpose: it answers even when the thread pool is saturated.
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and the schema is at head")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    head = head_revision()
    try:
        with runtime.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(runtime.db.engine)
    except SQLAlchemyError as exc:
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "schema": current, "expected": head},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "schema": current})
