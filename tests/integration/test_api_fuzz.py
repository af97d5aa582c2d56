"""Fuzz the JSON API from its own OpenAPI description (schemathesis): whatever arrives, with a
valid token or none, the answer is never a 5xx and errors are problem documents."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from identity.app import create_app


@pytest.fixture
def api_app(make_settings):
    return create_app(make_settings())


@pytest.fixture
def api_schema(api_app):
    return schemathesis.openapi.from_asgi("/openapi.json", api_app)


@pytest.fixture
def fuzz_headers(api_app, make_client, customer):
    created = make_client(
        name="Fuzzer",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="consent:read consent:write",
    )
    with TestClient(api_app) as client:
        token = client.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=(created.client.client_id, created.client_secret),
        ).json()["access_token"]
    return {"authorization": f"Bearer {token}"}


def test_no_input_makes_the_api_fail(api_schema, fuzz_headers):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case: schemathesis.Case) -> None:
            for headers in (fuzz_headers, {}):
                response = case.call(headers=headers)
                assert response.status_code < 500, (
                    case.method,
                    case.formatted_path,
                    response.status_code,
                    response.text[:300],
                )
                if case.path.startswith("/v1") and response.status_code >= 400:
                    content_type = response.headers["content-type"]
                    if isinstance(content_type, list):
                        content_type = content_type[0]
                    assert content_type == "application/problem+json", case.formatted_path

        fuzz()
