"""Operators disabling and enabling accounts (``identity users disable|enable|list``)."""

from __future__ import annotations

from sqlalchemy import select, update

from identity.accounts.models import User
from identity.audit.models import AuditEntryRow
from identity.oidc.models import Grant
from identity.outbox.models import OutboxMessage
from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD
from tests.support.forms import login, page_text

EMAIL = "ana@example.com"


def entries(runtime, action):
    with runtime.db.read() as session:
        rows = select(AuditEntryRow).where(AuditEntryRow.action == action)
        return session.scalars(rows.order_by(AuditEntryRow.id)).all()


def test_a_disabled_account_is_told_so_only_after_the_right_password(
    client, make_user, runtime, identity
):
    user = make_user(EMAIL)
    assert identity("users", "disable", "--email", EMAIL, "--reason", "ticket 12").code == 0
    wrong = login(client, EMAIL, "not the password at all")
    right = login(client, EMAIL, PASSWORD)
    # Whoever does not know the password learns nothing: the usual wrong-password answer.
    assert wrong.status_code == 401
    assert "email or password is not right" in page_text(wrong.text)
    assert right.status_code == 403
    assert "This account has been disabled" in page_text(right.text)
    assert not any("identity_session=" in h for h in right.headers.get_list("set-cookie"))
    [refused] = entries(runtime, "login.refused")
    assert (refused.subject, refused.details["reason"]) == (f"user:{user.id}", "disabled")


def test_the_disabled_message_is_in_the_customers_language(client, make_user, identity):
    make_user(EMAIL)
    identity("users", "disable", "--email", EMAIL, "--reason", "ticket 12")
    client.headers["accept-language"] = "es"
    page = login(client, EMAIL, PASSWORD)
    assert "Esta cuenta está desactivada" in page_text(page.text)


def test_disabling_ends_every_session_and_revokes_every_grant(
    store, shopper, runtime, identity, receiver, make_rp
):
    """Sessions end with the usual logout cascade; offline grants are revoked as well."""
    channel = make_rp(
        name="Kiosk",
        client_id="kiosk",
        first_party=True,
        backchannel_logout_uri=receiver.url,
        redirect_uris=["https://kiosk.example/cb"],
        scope="openid profile email offline_access",
    )
    online = store.tokens(EMAIL, PASSWORD)
    offline = channel.tokens(EMAIL, PASSWORD, scope="openid offline_access")
    done = identity("users", "disable", "--email", EMAIL, "--reason", "account takeover #88")
    assert done.code == 0, done.err
    assert done.json() == {
        "sub": str(shopper.id),
        "disabled": True,
        "sessions_ended": 1,
        "grants_revoked": 1,  # the offline one; the other ended with the session
    }
    for rp, tokens in ((store, online), (channel, offline)):
        assert rp.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
        auth = (rp.client_id, rp.client_secret)
        introspected = rp.browser.post(
            "/introspect", data={"token": tokens["access_token"]}, auth=auth
        )
        assert introspected.json() == {"active": False}
    assert store.browser.get("/account").status_code == 303  # signed out
    with runtime.db.read() as session:
        assert session.scalars(select(Grant.revoked_at)).all().count(None) == 0
        [message] = session.scalars(select(OutboxMessage)).all()
    assert message.owner == "kiosk"  # back-channel logout of the session it took part in


def test_a_session_or_grant_that_slipped_past_the_disabling_is_not_honoured(
    store, shopper, runtime
):
    """Set the flag behind the service's back: the session and the grant are still live rows,
    yet no page, userinfo, refresh or code redemption accepts them."""
    tokens = store.tokens(EMAIL, PASSWORD)
    code = store.code(EMAIL, PASSWORD)
    with runtime.db.transaction() as session:
        session.execute(update(User).values(disabled_at=User.created_at))
    assert store.browser.get("/account").status_code == 303
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    assert store.browser.get("/userinfo", headers=bearer).status_code == 401
    assert store.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert store.exchange(code).json()["error"] == "invalid_grant"


def test_enabling_lets_the_customer_sign_in_again_but_what_ended_stays_ended(
    store, shopper, identity
):
    tokens = store.tokens(EMAIL, PASSWORD)
    identity("users", "disable", "--email", EMAIL, "--reason", "ticket 12")
    enabled = identity("users", "enable", "--email", EMAIL)
    assert enabled.json() == {"sub": str(shopper.id), "disabled": False}
    assert store.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    store.tokens(EMAIL, PASSWORD)  # a new sign-in works


def test_disabling_twice_enabling_an_active_account_or_an_unknown_address_is_refused(
    make_user, identity
):
    make_user(EMAIL)
    assert identity("users", "enable", "--email", EMAIL).code == 1
    assert identity("users", "disable", "--email", EMAIL, "--reason", "ticket 12").code == 0
    again = identity("users", "disable", "--email", EMAIL, "--reason", "ticket 13")
    assert (again.code, "disabled already" in again.err) == (1, True)
    unknown = identity("users", "disable", "--email", "nobody@example.com", "--reason", "x")
    assert (unknown.code, "no account" in unknown.err) == (1, True)


def test_the_reason_must_not_name_anyone_it_stays_in_the_audit_log(make_user, identity, runtime):
    make_user(EMAIL)
    refused = identity("users", "disable", "--email", EMAIL, "--reason", f"asked by {EMAIL}")
    assert refused.code == 1
    assert "no email addresses" in refused.err
    with runtime.db.read() as session:
        assert session.scalars(select(User.disabled_at)).one() is None


def test_disable_and_enable_are_audited_with_the_operator(make_user, runtime, identity):
    user = make_user(EMAIL)
    identity("users", "disable", "--email", EMAIL, "--reason", "ticket 12", "--operator", "maria")
    identity("users", "enable", "--email", EMAIL, "--operator", "maria")
    [disabled] = entries(runtime, "account.disabled")
    [enabled] = entries(runtime, "account.enabled")
    assert (disabled.actor, disabled.subject) == ("operator:maria", f"user:{user.id}")
    assert disabled.details == {"reason": "ticket 12", "sessions_ended": 0, "grants_revoked": 0}
    assert enabled.actor == "operator:maria"
    assert EMAIL not in str(disabled.details)


def test_an_operator_name_is_a_login_name_not_an_email(make_user, identity):
    make_user(EMAIL)
    result = identity("users", "enable", "--email", EMAIL, "--operator", "maria@example.com")
    assert result.code == 2
    assert "--operator" in result.err


def test_the_list_shows_accounts_without_password_hashes_and_filters_the_disabled(
    make_user, runtime, identity
):
    for n in range(3):
        make_user(f"shopper{n}@example.com", verified=n != 2)
    identity("users", "disable", "--email", "shopper1@example.com", "--reason", "ticket 9")
    listed = identity("users", "list", "--json")
    assert [a["email"] for a in listed.lines()] == [f"shopper{n}@example.com" for n in range(3)]
    assert set(listed.lines()[0]) == {
        "sub", "email", "email_verified", "locale", "created_at", "disabled_at", "disabled_reason",
    }  # fmt: skip
    with runtime.db.read() as session:
        hashes = session.scalars(select(User.password_hash)).all()
    assert not any(h in listed.out for h in hashes)
    [disabled] = identity("users", "list", "--json", "--disabled").lines()
    assert (disabled["email"], disabled["disabled_reason"]) == ("shopper1@example.com", "ticket 9")
    table = identity("users", "list").out.splitlines()
    assert table[1].endswith("shopper1@example.com  verified  disabled")
    assert table[2].endswith("shopper2@example.com  unverified  active")
    assert [e.details for e in entries(runtime, "account.listed")] == [
        {"disabled_only": False},
        {"disabled_only": True},
        {"disabled_only": False},
    ]


def test_the_list_reads_in_pages_whatever_the_number_of_accounts(make_user, runtime, monkeypatch):
    from identity.accounts import standing
    from identity.audit.refs import Actor

    monkeypatch.setattr(standing, "PAGE", 2)
    made = sorted(make_user(f"s{n}@example.com").email for n in range(5))
    listing = runtime.operations.standing.listing(actor=Actor.operator("test"))
    assert [a.email for a in listing] == made
