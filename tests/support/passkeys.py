"""Passkeys as a browser uses them: the options request, the authenticator, the form post."""

from __future__ import annotations

from typing import Any

from tests.support.forms import csrf_token
from tests.support.webauthn import SoftwareAuthenticator


def registration_options(client: Any, password: str = "") -> Any:
    token = csrf_token(client, "/account/passkeys")
    return client.post(
        "/account/passkeys/options", data={"csrf_token": token, "password": password}
    )


def finish_registration(client: Any, credential: str, name: str = "") -> Any:
    token = csrf_token(client, "/account/passkeys")
    return client.post(
        "/account/passkeys", data={"csrf_token": token, "credential": credential, "name": name}
    )


def register(
    client: Any, authenticator: SoftwareAuthenticator, name: str = "", **create: Any
) -> Any:
    """Press "Add a passkey" on a signed-in browser and let the authenticator answer."""
    options = registration_options(client)
    assert options.status_code == 200, options.text
    return finish_registration(client, authenticator.create(options.text, **create), name)


def sign_in_options(client: Any) -> Any:
    token = csrf_token(client, "/login")
    return client.post("/login/passkey/options", data={"csrf_token": token})


def finish_sign_in(client: Any, credential: str, next_url: str = "/account") -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login/passkey", data={"csrf_token": token, "credential": credential, "next": next_url}
    )


def sign_in(
    client: Any, authenticator: SoftwareAuthenticator, next_url: str = "/account", **get: Any
) -> Any:
    """Press "Sign in with a passkey" and let the authenticator answer."""
    options = sign_in_options(client)
    assert options.status_code == 200, options.text
    return finish_sign_in(client, authenticator.get(options.text, **get), next_url)
