"""The OpenAPI document is complete and true: every operation the service answers is
described, with the front door's endpoints, and none that it does not answer."""

from __future__ import annotations

from fastapi.routing import APIRoute

from identity.app import ROUTERS


def operations_served(app) -> set[tuple[str, str]]:
    """The front door's endpoints and every route the framework publishes."""
    served = {(e.method.lower(), e.path) for e in app.endpoints}
    for module in ROUTERS:
        for route in module.router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                served |= {(m.lower(), route.path) for m in route.methods if m != "HEAD"}
    return served


def test_the_openapi_document_describes_exactly_the_operations_served(app, client):
    document = client.get("/openapi.json").json()
    described = {(method, path) for path, item in document["paths"].items() for method in item}
    assert described == operations_served(app)
    assert ("get", "/v1/consents/{subject}/{purpose}") in described
    assert ("put", "/v1/consents/{subject}/{purpose}") in described
    assert ("post", "/token") in described
    assert ("post", "/v1/anonymous") in described


def test_the_front_door_operations_refer_to_schemas_the_document_has(client):
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for name in ("DecisionOut", "BatchIn", "BatchOut"):
        assert name in schemas
