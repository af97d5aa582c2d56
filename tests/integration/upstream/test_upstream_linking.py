"""The linking table (docs/upstream.md), row by row, against the real upstream."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from identity.accounts.models import User
from identity.runtime import Runtime
from identity.upstream.linked import LinkedProviders
from identity.upstream.rules import has_password
from tests.integration.upstream.conftest import through_upstream
from tests.integration.upstream.test_upstream_sign_in import (
    audited,
    links,
    session_methods,
    user_by_email,
)
from tests.support.fixtures import DEFAULT_PASSWORD, Mailbox
from tests.support.forms import login, page_text, submit
from tests.support.rp import RelyingParty, query_of
from tests.support.second_factor import enrol, enter_code

pytestmark = pytest.mark.usefixtures("upstream_peer")


def test_a_new_shopper_gets_an_account_from_a_verified_upstream_address(
    client: Any, runtime: Runtime
) -> None:
    answer = through_upstream(client, "ana")
    assert (answer.status_code, answer.headers["location"]) == (303, "/account")
    user = user_by_email(runtime, "ana@upstream.example")
    assert user is not None
    assert user.email_verified
    assert user.name == "Ana Upstream"
    assert not has_password(user.password_hash)
    assert links(runtime) == [("peer", "ana", str(user.id))]
    assert session_methods(runtime) == ["fed"]
    assert audited(runtime, "upstream.linked") == [{"provider": "peer", "via": "signup"}]
    signed_in = audited(runtime, "login.succeeded")[-1]
    assert signed_in["amr"] == "fed"
    assert "ana@upstream.example" not in str(signed_in)
    page = client.get("/account")
    assert page.status_code == 200
    assert "Peer ID" in page_text(page.text)


def test_a_linked_identity_signs_in_to_the_same_account_again(
    client: Any, runtime: Runtime
) -> None:
    through_upstream(client, "ana")
    client.cookies.clear()
    answer = through_upstream(client, "ana", next_url="/account/privacy")
    assert answer.headers["location"] == "/account/privacy"
    assert len({u for _, _, u in links(runtime)}) == 1
    assert len(session_methods(runtime)) == 2


def test_the_store_s_sign_in_continues_after_the_upstream(
    client: Any, runtime: Runtime, store: RelyingParty
) -> None:
    """A shopper who starts in the store's OpenID flow ends back at the store."""
    store.browser = client
    asked = store.authorize()
    login_page = asked.headers["location"]
    assert login_page.startswith("/login?")
    next_url = query_of(login_page)["next"]
    answer = through_upstream(client, "ana", next_url=next_url)
    assert answer.headers["location"] == next_url
    result = store.follow_to_client(client.get(next_url))
    assert result["state"] == store.last.state
    assert "code" in result
    tokens = store.exchange(result["code"]).json()
    claims = store.verify_id_token(tokens["id_token"])
    assert claims["amr"] == ["fed"]


def test_the_owner_links_by_signing_in_with_the_password(
    client: Any, runtime: Runtime, make_user: Callable[..., Any]
) -> None:
    owner = make_user("bea@upstream.example")
    answer = through_upstream(client, "bea", next_url="/account/apps")
    assert answer.headers["location"] == "/login/upstream/prove"
    assert links(runtime) == []
    signed_in = login(client, owner.email, DEFAULT_PASSWORD, next_url="/login/upstream/link")
    assert signed_in.headers["location"] == "/login/upstream/link"
    confirm = client.get("/login/upstream/link")
    assert "Link accounts" in page_text(confirm.text)
    linked = submit(client, "/login/upstream/link", {})
    assert linked.headers["location"] == "/account/apps"
    assert links(runtime) == [("peer", "bea", str(owner.id))]
    assert audited(runtime, "upstream.linked") == [{"provider": "peer", "via": "session"}]
    client.cookies.clear()
    again = through_upstream(client, "bea")
    assert again.headers["location"] == "/account"  # signed in with the upstream alone


def test_the_owner_links_with_a_mailed_link_opened_in_the_same_browser(
    client: Any, runtime: Runtime, make_user: Callable[..., Any], mailbox: Mailbox
) -> None:
    owner = make_user("bea@upstream.example")
    through_upstream(client, "bea")
    submit(client, "/login/upstream/mail/send", {}, form_page="/login/upstream/prove")
    link = mailbox.last_link(owner.email, "/login/upstream/mail")
    assert client.get(link).status_code == 200  # a GET changes nothing (mail scanners)
    assert links(runtime) == []
    token = link.split("token=", 1)[1]
    answer = submit(client, "/login/upstream/mail", {"token": token}, form_page=link)
    assert answer.headers["location"] == "/account"
    assert links(runtime) == [("peer", "bea", str(owner.id))]
    assert user_by_email(runtime, owner.email).password_hash == owner.password_hash
    # Single use: the same link again is refused.
    assert (
        submit(client, "/login/upstream/mail", {"token": token}, form_page=link).status_code == 400
    )


def test_an_unconfirmed_account_proven_by_the_mailed_link_loses_its_password(
    client: Any, runtime: Runtime, make_user: Callable[..., Any], mailbox: Mailbox
) -> None:
    """Someone made an account with the shopper's address and a password of their own,
    never confirmed: once the real owner proves the address, that password goes."""
    squatter = make_user("bea@upstream.example", verified=False)
    through_upstream(client, "bea")
    submit(client, "/login/upstream/mail/send", {}, form_page="/login/upstream/prove")
    link = mailbox.last_link(squatter.email, "/login/upstream/mail")
    submit(client, "/login/upstream/mail", {"token": link.split("token=", 1)[1]}, form_page=link)
    user = user_by_email(runtime, squatter.email)
    assert user.email_verified
    assert not has_password(user.password_hash)
    client.cookies.clear()
    assert login(client, squatter.email, DEFAULT_PASSWORD).status_code == 401


def test_an_unverified_upstream_address_gets_an_account_only_through_the_mailed_link(
    client: Any, runtime: Runtime, mailbox: Mailbox
) -> None:
    answer = through_upstream(client, "unverified")
    assert answer.headers["location"] == "/login/upstream/prove"
    assert user_by_email(runtime, "uv@upstream.example") is None
    prove = client.get("/login/upstream/prove")
    assert "first show us that this address is yours" in page_text(prove.text)
    submit(client, "/login/upstream/mail/send", {}, form_page="/login/upstream/prove")
    link = mailbox.last_link("uv@upstream.example", "/login/upstream/mail")
    submit(client, "/login/upstream/mail", {"token": link.split("token=", 1)[1]}, form_page=link)
    user = user_by_email(runtime, "uv@upstream.example")
    assert user is not None
    assert user.email_verified
    assert links(runtime) == [("peer", "unverified", str(user.id))]


def test_a_signed_in_shopper_links_after_confirming(
    client: Any, runtime: Runtime, make_user: Callable[..., Any]
) -> None:
    shopper = make_user("carla@example.com")
    login(client, shopper.email, DEFAULT_PASSWORD)
    answer = through_upstream(client, "ana")
    assert answer.headers["location"] == "/login/upstream/link"
    assert links(runtime) == []  # nothing before the confirmation
    page = client.get("/login/upstream/link")
    assert "carla@example.com" in page_text(page.text)
    submit(client, "/login/upstream/link", {})
    assert links(runtime) == [("peer", "ana", str(shopper.id))]
    assert user_by_email(runtime, "ana@upstream.example") is None


def test_an_upstream_without_an_email_cannot_make_an_account(client: Any, runtime: Runtime) -> None:
    answer = through_upstream(client, "noemail")
    assert answer.status_code == 400
    assert "did not share your email" in page_text(answer.text)
    assert audited(runtime, "upstream.failed")[-1]["reason"] == "no_email"


def test_a_disabled_account_cannot_sign_in_through_its_upstream(
    client: Any, runtime: Runtime
) -> None:
    through_upstream(client, "ana")
    with runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email == "ana@upstream.example"))
        user.disabled_at = datetime.now(UTC)
    client.cookies.clear()
    answer = through_upstream(client, "ana")
    assert answer.status_code == 403
    assert audited(runtime, "upstream.failed")[-1]["reason"] == "account_disabled"


def test_the_only_way_in_cannot_be_unlinked_until_a_password_is_set(
    client: Any, runtime: Runtime
) -> None:
    through_upstream(client, "ana")
    page = client.get("/account")
    assert "only way into your account" in page_text(page.text)
    (link_id,) = [r.id for r in section(runtime, _user_id(runtime)).links]
    refused = submit(
        client, "/account/upstream/unlink", {"link": str(link_id)}, form_page="/account"
    )
    assert refused.status_code == 409
    assert len(links(runtime)) == 1


def test_a_shopper_with_a_password_unlinks_their_upstream(
    client: Any, runtime: Runtime, make_user: Callable[..., Any]
) -> None:
    shopper = make_user("carla@example.com")
    login(client, shopper.email, DEFAULT_PASSWORD)
    through_upstream(client, "ana")
    submit(client, "/login/upstream/link", {})
    (link_id,) = [r.id for r in section(runtime, shopper.id).links]
    answer = submit(
        client, "/account/upstream/unlink", {"link": str(link_id)}, form_page="/account"
    )
    assert answer.status_code == 303
    assert links(runtime) == []
    assert audited(runtime, "upstream.unlinked") == [{"provider": "peer"}]


def test_nobody_unlinks_another_accounts_upstream(
    client: Any, runtime: Runtime, make_user: Callable[..., Any], app: Any
) -> None:
    through_upstream(client, "ana")
    (link_id,) = [r.id for r in section(runtime, _user_id(runtime)).links]
    client.cookies.clear()
    other = make_user("dora@example.com")
    login(client, other.email, DEFAULT_PASSWORD)
    for value in (str(link_id), "999999999", "abc", ""):
        answer = submit(client, "/account/upstream/unlink", {"link": value}, form_page="/account")
        assert answer.status_code == 400
    assert len(links(runtime)) == 1


def section(runtime: Runtime, user_id: Any) -> Any:
    return LinkedProviders(runtime.db, runtime.upstream.registry).section(user_id)


def _user_id(runtime: Runtime) -> Any:
    return user_by_email(runtime, "ana@upstream.example").id


def test_an_account_with_a_second_factor_asks_for_its_code_after_the_upstream(
    client: Any, runtime: Runtime, make_user: Callable[..., Any]
) -> None:
    shopper = make_user("erin@example.com")
    login(client, shopper.email, DEFAULT_PASSWORD)
    app = enrol(client).app
    through_upstream(client, "ana")
    submit(client, "/login/upstream/link", {})
    client.cookies.clear()
    answer = through_upstream(client, "ana", next_url="/account/apps")
    assert answer.headers["location"] == "/login/code?next=%2Faccount%2Fapps"
    assert client.get("/account").status_code == 303  # no session before the code
    done = enter_code(client, app.next_code(), next_url="/account/apps")
    assert done.headers["location"] == "/account/apps"
    assert client.get("/account").status_code == 200
