"""RP-initiated logout 1.0 and back-channel logout 1.0, with a real HTTP receiver."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from sqlalchemy import select

from identity.oidc.tokens import BACKCHANNEL_EVENT
from identity.outbox.models import OutboxMessage
from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD
from tests.support.forms import login, page_text, submit
from tests.support.rp import _field, query_of

EMAIL = "ana@example.com"


@pytest.fixture
def channels(make_rp, receiver):
    """The three channels, each with a back-channel logout endpoint (the same receiver)."""
    return [
        make_rp(
            name=name,
            client_id=cid,
            first_party=True,
            backchannel_logout_uri=receiver.url,
            redirect_uris=[f"https://{cid}.example/cb"],
            post_logout_redirect_uris=[f"https://{cid}.example/bye"],
        )
        for cid, name in (("store", "Store"), ("app2", "App"), ("market2", "Marketplace"))
    ]


def logout_tokens(receiver):
    return [parse_qs(call.body.decode())["logout_token"][0] for call in receiver.delivered]


def sign_in_everywhere(channels):
    tokens = [channels[0].tokens(EMAIL, PASSWORD)]
    for rp in channels[1:]:
        response = rp.authorize()
        tokens.append(rp.exchange(query_of(response.headers["location"])["code"]).json())
    return tokens


def verify_logout_token(rp, token):
    decoded = jwt.decode(token, rp.jwks(), algorithms=["RS256", "ES256"])
    assert decoded.header["typ"] == "logout+jwt"
    claims = decoded.claims
    assert claims["iss"] == "http://testserver"
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert "nonce" not in claims
    assert {"iat", "exp", "jti", "sid", "sub", "aud"} <= set(claims)
    return claims


def test_logging_out_at_one_channel_logs_out_all_three(channels, shopper, runtime, receiver):
    tokens = sign_in_everywhere(channels)
    sid = channels[0].verify_id_token(tokens[0]["id_token"])["sid"]
    store = channels[0]
    response = store.browser.get(
        "/logout",
        params={
            "id_token_hint": tokens[0]["id_token"],
            "post_logout_redirect_uri": "https://store.example/bye",
            "state": "s1",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "https://store.example/bye?state=s1"
    attempts = runtime.outbox.deliver_due()
    assert sorted(a.owner for a in attempts) == ["app2", "market2", "store"]
    assert all(a.ok for a in attempts)
    audiences = sorted(verify_logout_token(store, t)["aud"] for t in logout_tokens(receiver))
    assert audiences == ["app2", "market2", "store"]
    assert {verify_logout_token(store, t)["sid"] for t in logout_tokens(receiver)} == {sid}
    # The browser session is gone: prompt=none now says login_required everywhere.
    for rp in channels:
        assert (
            query_of(rp.authorize(prompt="none").headers["location"])["error"] == "login_required"
        )
    # Session-bound refresh tokens died with the session.
    assert store.refresh(tokens[0]["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_channel_that_is_down_gets_the_logout_on_retry(
    channels, shopper, runtime, receiver, clock, settings
):
    receiver.failures = 1
    sign_in_everywhere(channels[:1])
    submit(channels[0].browser, "/logout", {}, form_page="/account")
    first = runtime.outbox.deliver_due()
    assert [a.ok for a in first] == [False]
    assert runtime.outbox.deliver_due() == []  # not due yet: backoff
    clock.tick(settings.outbox_retry_base.total_seconds() + 1)
    second = runtime.outbox.deliver_due()
    assert [a.ok for a in second] == [True]
    assert receiver.statuses == [503, 200]
    claims = verify_logout_token(channels[0], logout_tokens(receiver)[0])
    assert claims["aud"] == "store"
    with runtime.db.read() as session:
        message = session.scalars(select(OutboxMessage)).one()
    assert (message.attempts, message.delivered_at is not None) == (2, True)


def test_delivery_gives_up_after_the_maximum_attempts(
    channels, shopper, runtime, receiver, clock, make_settings
):
    receiver.failures = 1000
    sign_in_everywhere(channels[:1])
    submit(channels[0].browser, "/logout", {}, form_page="/account")
    for _ in range(runtime.settings.outbox_max_attempts):
        runtime.outbox.deliver_due()
        clock.tick(runtime.settings.outbox_retry_max.total_seconds() + 1)
    assert runtime.outbox.deliver_due() == []
    with runtime.db.read() as session:
        message = session.scalars(select(OutboxMessage)).one()
    assert message.failed_at is not None
    assert message.last_error == "HTTP 503"


def test_offline_access_survives_logout(make_rp, shopper, runtime):
    rp = make_rp(name="Market", client_id="m", scope="openid offline_access")
    tokens = rp.tokens(EMAIL, PASSWORD, scope="openid offline_access")
    submit(rp.browser, "/logout", {}, form_page="/account")
    assert rp.refresh(tokens["refresh_token"]).status_code == 200


def test_logout_without_a_hint_asks_for_confirmation(channels, shopper):
    store = channels[0]
    sign_in_everywhere(channels[:1])
    page = store.browser.get(
        "/logout",
        params={
            "client_id": "store",
            "post_logout_redirect_uri": "https://store.example/bye",
            "state": "x",
        },
    )
    assert page.status_code == 200
    assert "¿Cerrar sesión?" in page_text(page.text)  # Ana chose Spanish
    assert store.browser.get("/account").status_code == 200  # nothing happened yet
    confirmed = store.browser.post(
        "/logout",
        data={
            "csrf_token": _field(page.text, "csrf_token"),
            "client_id": "store",
            "post_logout_redirect_uri": "https://store.example/bye",
            "state": "x",
        },
    )
    assert confirmed.headers["location"] == "https://store.example/bye?state=x"
    assert store.browser.get("/account").status_code == 303


def test_an_unregistered_post_logout_redirect_uri_is_not_followed(channels, shopper):
    store = channels[0]
    tokens = sign_in_everywhere(channels[:1])
    response = store.browser.get(
        "/logout",
        params={
            "id_token_hint": tokens[0]["id_token"],
            "post_logout_redirect_uri": "https://store.example/byex",
        },
    )
    assert response.headers["location"] == "/login?notice=signed_out"
    assert store.browser.get("/account").status_code == 303  # signed out all the same


def test_a_forged_id_token_hint_is_an_error_page(channels, shopper):
    store = channels[0]
    sign_in_everywhere(channels[:1])
    response = store.browser.get("/logout", params={"id_token_hint": "a.b.c"})
    assert response.status_code == 400
    assert store.browser.get("/account").status_code == 200


def test_logout_posted_by_a_relying_party_is_accepted(channels, shopper):
    store = channels[0]
    tokens = sign_in_everywhere(channels[:1])
    response = store.browser.post(
        "/logout",
        data={
            "id_token_hint": tokens[0]["id_token"],
            "post_logout_redirect_uri": "https://store.example/bye",
        },
    )
    assert response.headers["location"] == "https://store.example/bye"


def test_ending_other_sessions_from_the_account_notifies_their_channels(
    channels, shopper, runtime, app
):
    from starlette.testclient import TestClient

    sign_in_everywhere(channels[:1])
    laptop = TestClient(app, base_url="http://testserver", follow_redirects=False)
    login(laptop, EMAIL, PASSWORD)
    submit(laptop, "/account/sessions/end-others", {}, form_page="/account")
    attempts = runtime.outbox.deliver_due()
    assert [a.owner for a in attempts] == ["store"]


# -- which hints sign out without a question (RP-Initiated Logout 1.0 §2, §4) --------------


def asks_before_signing_out(rp, response):
    """The confirmation page, and nothing done yet: the browser is still signed in."""
    assert response.status_code == 200, response.text[:300]
    assert "¿Cerrar sesión?" in page_text(response.text)
    assert "location" not in response.headers
    assert rp.browser.get("/account").status_code == 200


def logout_with(rp, hint, **params):
    return rp.browser.get(
        "/logout",
        params={"id_token_hint": hint, "post_logout_redirect_uri": "https://store.example/bye"}
        | params,
    )


def test_an_id_token_of_another_user_does_not_sign_this_browser_out(
    channels, shopper, make_user, app
):
    from starlette.testclient import TestClient

    store = channels[0]
    sign_in_everywhere(channels[:1])
    make_user("ben@example.com")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as bens:
        ben = type(store)(bens, store.client_id, store.redirect_uri, store.client_secret)
        bens_id_token = ben.tokens("ben@example.com", PASSWORD)["id_token"]
    asks_before_signing_out(store, logout_with(store, bens_id_token, client_id="store"))
    asks_before_signing_out(store, logout_with(store, bens_id_token))


def test_an_access_token_as_hint_does_not_sign_out(channels, shopper):
    store = channels[0]
    [tokens] = sign_in_everywhere(channels[:1])
    asks_before_signing_out(store, logout_with(store, tokens["access_token"]))
    asks_before_signing_out(store, logout_with(store, tokens["access_token"], client_id="store"))


def test_a_logout_token_as_hint_does_not_sign_out(channels, shopper, runtime):
    store = channels[0]
    [tokens] = sign_in_everywhere(channels[:1])
    claims = store.verify_id_token(tokens["id_token"])
    logout_token = runtime.oidc.provider.tokens.logout_token(
        client=runtime.clients.get("store"), sub=claims["sub"], sid=claims["sid"]
    )
    asks_before_signing_out(store, logout_with(store, logout_token, client_id="store"))


def test_a_consent_receipt_as_hint_does_not_sign_out(channels, shopper, runtime):
    from identity.consent.models import ConsentRecord
    from tests.support.forms import submit as post_form

    store = channels[0]
    sign_in_everywhere(channels[:1])
    post_form(store.browser, "/account/privacy", {"purpose.personalization": "on"})
    with runtime.db.read() as session:
        record_id = session.scalars(select(ConsentRecord.id)).first()
    receipt = store.browser.get(f"/account/privacy/receipts/{record_id}.jwt")
    assert receipt.headers["content-type"] == "application/jwt"  # a signed receipt, not a page
    response = logout_with(store, receipt.text)
    assert not response.headers.get("location", "").startswith("https://store.example")
    assert store.browser.get("/account").status_code == 200


def test_an_id_token_of_an_earlier_session_does_not_sign_out_the_current_one(channels, shopper):
    store = channels[0]
    [earlier] = sign_in_everywhere(channels[:1])
    submit(store.browser, "/logout", {}, form_page="/account")
    store.tokens(EMAIL, PASSWORD)  # signed in again: a new session, a new sid
    asks_before_signing_out(store, logout_with(store, earlier["id_token"], client_id="store"))


def test_an_id_token_issued_to_another_client_than_client_id_asks_first(channels, shopper):
    store, app2 = channels[0], channels[1]
    tokens = sign_in_everywhere(channels[:2])
    page = logout_with(app2, tokens[0]["id_token"], client_id="app2")
    asks_before_signing_out(app2, page)
    assert "App" in page_text(page.text)  # the client named by client_id asks
    assert store.browser.get("/account").status_code == 200


def test_a_pairwise_clients_id_token_for_this_session_signs_out_at_once(make_rp, shopper):
    market = make_rp(
        name="Market",
        client_id="pairwise-market",
        subject_type="pairwise",
        redirect_uris=["https://market.example/cb"],
        post_logout_redirect_uris=["https://market.example/bye"],
    )
    tokens = market.tokens(EMAIL, PASSWORD)
    claims = market.verify_id_token(tokens["id_token"])
    response = market.browser.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://market.example/bye",
        },
    )
    assert claims["sub"] != str(shopper.id)  # the hint carries the pairwise values
    assert response.headers["location"] == "https://market.example/bye"
    assert market.browser.get("/account").status_code == 303


def test_a_genuine_id_token_returns_to_its_page_once_the_session_is_gone(channels, shopper):
    """Logout is idempotent: the RP is sent back to its registered page, nothing asked."""
    store = channels[0]
    [tokens] = sign_in_everywhere(channels[:1])
    submit(store.browser, "/logout", {}, form_page="/account")
    response = logout_with(store, tokens["id_token"], state="again")
    assert response.headers["location"] == "https://store.example/bye?state=again"


# -- after a key rotation; the wording of logout errors ---------------------------------------


def test_logout_with_an_id_token_whose_key_left_jwks_still_signs_out(
    channels, shopper, runtime, settings, clock
):
    """ID tokens come back as hints long after they expired; so does their key's kid."""
    store = channels[0]
    [tokens] = sign_in_everywhere(channels[:1])
    old_kid = jwt.decode(tokens["id_token"], store.jwks()).header["kid"]
    runtime.keys.rotate(settings.signing_alg.value)
    longest_ttl = max(settings.access_token_ttl, settings.id_token_ttl)
    clock.tick(settings.key_activation_delay + longest_ttl + timedelta(minutes=1))
    assert old_kid not in {k.kid for k in store.jwks().keys}
    response = logout_with(store, tokens["id_token"], state="later")
    assert response.headers["location"] == "https://store.example/bye?state=later"
    assert store.browser.get("/account").status_code == 303  # signed out


def test_a_logout_error_page_speaks_of_signing_out(channels, shopper):
    store = channels[0]
    sign_in_everywhere(channels[:1])
    page = store.browser.get("/logout", params={"id_token_hint": "a.b.c"})
    assert page.status_code == 400
    text = page_text(page.text)
    assert "No hemos podido cerrar tu sesión" in text
    assert "iniciar tu sesión" not in text
    assert "Sigues con la sesión iniciada" in text
    assert 'action="/logout"' in page.text  # signing out properly is one button away
    english = page_text(store.browser.get("/logout?id_token_hint=a.b.c&lang=en").text)
    assert "We could not sign you out" in english
    assert store.browser.get("/account").status_code == 200


def test_an_old_hint_still_needs_our_signature(channels, shopper, runtime, settings, clock):
    from identity.oidc.keys import generate_key

    store = channels[0]
    [tokens] = sign_in_everywhere(channels[:1])
    genuine = jwt.decode(tokens["id_token"], store.jwks())
    runtime.keys.rotate(settings.signing_alg.value)
    clock.tick(settings.key_activation_delay + timedelta(hours=1))
    impostor = generate_key(genuine.header["alg"])
    forged = jwt.encode({**genuine.header}, dict(genuine.claims), impostor)
    response = logout_with(store, forged)
    assert response.status_code == 400
    assert store.browser.get("/account").status_code == 200
