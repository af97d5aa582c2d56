"""Service clients with tokens, and customers, for the consent tests."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from identity.runtime import Runtime


@pytest.fixture
def service_headers(browser: Any, make_client: Callable[..., Any]) -> Callable[..., dict[str, str]]:
    """Factory: Authorization headers of a service client holding ``scope``."""
    counter = iter(range(1, 1000))

    def make(scope: str = "consent:read", **options: Any) -> dict[str, str]:
        created = make_client(
            name=options.pop("name", f"Service {next(counter)}"),
            grant_types=["client_credentials"],
            redirect_uris=options.pop("redirect_uris", []),
            scope=scope,
            **options,
        )
        response = browser.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=(created.client.client_id, created.client_secret),
        )
        assert response.status_code == 200, response.text
        return {"authorization": f"Bearer {response.json()['access_token']}"}

    return make


@pytest.fixture
def reader(service_headers: Callable[..., dict[str, str]]) -> dict[str, str]:
    return service_headers("consent:read", name="Email sender")


@pytest.fixture
def writer(service_headers: Callable[..., dict[str, str]]) -> dict[str, str]:
    return service_headers("consent:read consent:write", name="Store POS")


@pytest.fixture
def customer(make_user: Callable[..., Any], runtime: Runtime) -> Any:
    from identity.accounts.models import User

    user = make_user("carla@example.com", name="Carla", locale="es")
    with runtime.db.transaction() as session:
        session.get(User, user.id).phone_number = "+34 600 111 222"
    return user


def answer_of(runtime: Runtime, subject: str, purpose_id: str) -> SimpleNamespace:
    """The read model's answer for one stored subject and purpose, with attribute access."""
    purpose = runtime.decisions.purpose(purpose_id)
    [(_, answer)] = runtime.decisions.answers_for(subject, purposes=[purpose])
    return SimpleNamespace(**answer)


def answers_of(
    runtime: Runtime, subject: str, purpose_ids: list[str]
) -> dict[str, SimpleNamespace]:
    return {p: answer_of(runtime, subject, p) for p in purpose_ids}
