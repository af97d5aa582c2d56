"""Signing in with an external provider, against a real one (node-oidc-provider): the
linking table of docs/upstream.md, attacker cases first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from identity.accounts.models import BrowserSession, User
from identity.audit.models import AuditEntryRow
from identity.runtime import Runtime
from identity.upstream.models import UpstreamIdentity
from tests.integration.upstream.conftest import CALLBACK, local, start, through_upstream
from tests.support.fixtures import DEFAULT_PASSWORD, Mailbox
from tests.support.forms import csrf_token, login, page_text, submit
from tests.support.upstream_peer import VICTIM_EMAIL, sign_in_upstream

pytestmark = pytest.mark.usefixtures("upstream_peer")


def links(runtime: Runtime) -> list[tuple[str, str, str]]:
    with runtime.db.read() as session:
        rows = session.scalars(select(UpstreamIdentity).order_by(UpstreamIdentity.id))
        return [(r.provider, r.sub, str(r.user_id)) for r in rows]


def audited(runtime: Runtime, action: str) -> list[dict[str, Any]]:
    with runtime.db.read() as session:
        rows = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action == action).order_by(AuditEntryRow.id)
        )
        return [dict(r.details) for r in rows]


def session_methods(runtime: Runtime) -> list[str]:
    with runtime.db.read() as session:
        return [r.amr for r in session.scalars(select(BrowserSession))]


def user_by_email(runtime: Runtime, email: str) -> User | None:
    with runtime.db.read() as session:
        return session.scalar(select(User).where(User.email == email))


# -- the account-takeover case ------------------------------------------------------------


def test_an_upstream_account_with_a_victims_address_never_gets_into_the_victims_account(
    client: Any, runtime: Runtime, make_user: Callable[..., Any], mailbox: Mailbox, app: Any
) -> None:
    victim = make_user(VICTIM_EMAIL)
    answer = through_upstream(client, "mallory")
    # No session: the attacker is asked to prove the account, which they cannot.
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login/upstream/prove"
    assert client.get("/account").status_code == 303
    prove = client.get("/login/upstream/prove")
    assert "Sign in with your password" in page_text(prove.text)
    # The mailed link goes to the victim's address, and works only in the attacker's browser,
    # which never sees it; the victim opening it in their own browser links nothing.
    submit(client, "/login/upstream/mail/send", {}, form_page="/login/upstream/prove")
    link = mailbox.last_link(VICTIM_EMAIL, "/login/upstream/mail")
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://testserver", follow_redirects=False) as victims:
        token = parse_qs(urlsplit(link).query)["token"][0]
        confirm = submit(victims, "/login/upstream/mail", {"token": token}, form_page=link)
        assert confirm.status_code == 400
        assert "same browser" in page_text(confirm.text)
        assert victims.get("/account").status_code == 303
    assert links(runtime) == []
    assert session_methods(runtime) == []
    assert {d["reason"] for d in audited(runtime, "upstream.failed")} == {"other_browser"}
    assert user_by_email(runtime, VICTIM_EMAIL).password_hash == victim.password_hash


def test_an_upstream_sub_already_linked_to_another_account_is_refused(
    client: Any, runtime: Runtime, make_user: Callable[..., Any]
) -> None:
    through_upstream(client, "ana")  # ana's upstream identity now has its own account
    client.cookies.clear()
    other = make_user("someone@example.com")
    login(client, other.email, DEFAULT_PASSWORD)
    answer = through_upstream(client, "ana")
    assert answer.status_code == 409
    assert "already linked to a different account" in page_text(answer.text)
    assert [u for _, _, u in links(runtime)] != [str(other.id)]
    assert audited(runtime, "upstream.failed")[-1]["reason"] == "already_linked"


# -- the flow's own checks ----------------------------------------------------------------


def test_a_callback_from_another_browser_is_refused(
    client: Any, app: Any, runtime: Runtime
) -> None:
    from starlette.testclient import TestClient

    started = start(client)
    back = sign_in_upstream(started.headers["location"], "ana", stop_at=CALLBACK)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as attacker:
        answer = attacker.get(local(back))  # the victim's code, the attacker's browser
    assert answer.status_code == 400
    assert links(runtime) == []
    assert session_methods(runtime) == []
    assert audited(runtime, "upstream.failed")[-1]["reason"] == "no_flow"


def test_a_state_that_is_not_this_browsers_is_refused(client: Any, runtime: Runtime) -> None:
    started = start(client)
    back = sign_in_upstream(started.headers["location"], "ana", stop_at=CALLBACK)
    tampered = local(back).replace("state=", "state=x")
    assert client.get(tampered).status_code == 400
    assert audited(runtime, "upstream.failed")[-1]["reason"] == "state_mismatch"
    assert session_methods(runtime) == []


def test_a_replayed_callback_is_refused(client: Any, runtime: Runtime) -> None:
    started = start(client)
    flow = client.cookies.get("identity_upstream")
    back = sign_in_upstream(started.headers["location"], "ana", stop_at=CALLBACK)
    assert client.get(local(back)).status_code == 303
    client.cookies.set("identity_upstream", flow)  # the cookie, kept by the attacker
    assert client.get(local(back)).status_code == 400
    assert audited(runtime, "upstream.failed")[-1]["reason"] == "replayed"
    assert len(session_methods(runtime)) == 1


def test_an_upstream_error_response_is_a_friendly_page(client: Any, runtime: Runtime) -> None:
    started = start(client)
    state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
    answer = client.get(
        "/login/upstream/peer/callback",
        params={
            "error": "access_denied",
            "state": state,
            "iss": runtime.upstream.registry.get("peer").issuer,
        },
    )
    assert answer.status_code == 400
    assert "If you cancelled, that is fine" in page_text(answer.text)
    assert audited(runtime, "upstream.failed")[-1] == {
        "provider": "peer",
        "reason": "upstream_error",
    }


@pytest.mark.parametrize(
    "query",
    [
        "",
        "code=x",
        "code=x&state=y&iss=z",
        "error=%00&state=%ff",
        "code=" + "a" * 5000,
        "state[]=1&code[]=2",
        "iss=http://127.0.0.1:1&state=a&code=b",
    ],
)
def test_garbage_on_the_callback_is_a_page_never_a_500(
    client: Any, query: str, runtime: Runtime
) -> None:
    start(client)
    answer = client.get("/login/upstream/peer/callback?" + query)
    assert answer.status_code == 400
    assert client.get("/login/upstream/nope/callback?" + query).status_code == 400
    assert session_methods(runtime) == []


def test_an_unknown_provider_cannot_be_started(client: Any) -> None:
    token = csrf_token(client)
    answer = client.post("/login/upstream/nope/start", data={"csrf_token": token})
    assert answer.status_code == 400


def test_next_cannot_send_the_shopper_to_another_site(client: Any) -> None:
    answer = through_upstream(client, "ana", next_url="https://evil.example/phish")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account"
    answer = through_upstream(client, "ana", next_url="//evil.example/x")
    assert answer.headers["location"] == "/account"


def test_starting_needs_a_form_from_our_own_pages(client: Any) -> None:
    client.get("/login")
    answer = client.post("/login/upstream/peer/start", data={"next": "/account"})
    assert answer.status_code in (400, 403)
    assert "location" not in answer.headers
