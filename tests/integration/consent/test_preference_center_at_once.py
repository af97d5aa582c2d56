"""The preference center's answers for everything at once: allow all, refuse all, and the
confirmed "withdraw all"; and the history that folds instead of growing the page."""

from __future__ import annotations

import re

from tests.support.consent_fixtures import answers_of
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, login, page_text, submit

CONSENT = ["email_marketing", "sms_marketing", "personalization", "partner_sharing"]


def everything(client, answer):
    return submit(client, "/account/privacy/all", {"all": answer}, form_page="/account/privacy")


def test_allow_all_grants_every_consent_purpose_through_the_usual_rules(
    client, customer, runtime, mailbox
):
    login(client, customer.email, DEFAULT_PASSWORD)
    response = everything(client, "allow")
    # Email and SMS offers wait for their double opt-in link, as a single choice does.
    assert response.headers["location"] == "/account/privacy?notice=saved_pending"
    answers = answers_of(runtime, str(customer.id), CONSENT)
    assert {p: a.reason for p, a in answers.items()} == {
        "email_marketing": "pending",
        "sms_marketing": "pending",
        "personalization": "granted",
        "partner_sharing": "granted",
    }
    assert mailbox.last_link(customer.email, "/privacy/confirm")


def test_refuse_all_refuses_what_needs_consent_and_leaves_statistics_alone(
    client, customer, runtime
):
    login(client, customer.email, DEFAULT_PASSWORD)
    everything(client, "allow")
    assert everything(client, "refuse").headers["location"] == "/account/privacy?notice=saved"
    answers = answers_of(runtime, str(customer.id), [*CONSENT, "analytics", "order_emails"])
    assert [answers[p].allowed for p in CONSENT] == [False] * 4
    assert answers["analytics"].reason == "legitimate_interest"  # not an objection
    assert answers["order_emails"].allowed


def test_allow_all_without_a_phone_keeps_the_other_choices_and_says_what_is_missing(
    client, make_user, runtime
):
    user = make_user("nophone-all@example.com", locale="en")
    login(client, user.email, DEFAULT_PASSWORD)
    response = everything(client, "allow")
    assert response.status_code == 400
    assert "add your phone number" in page_text(response.text)
    assert answers_of(runtime, str(user.id), ["personalization"])["personalization"].allowed


def test_everything_at_once_needs_the_forms_csrf_token(client, customer, runtime, audit_actions):
    login(client, customer.email, DEFAULT_PASSWORD)
    for path, data in (
        ("/account/privacy/all", {"all": "allow"}),
        ("/account/privacy/withdraw-all", {}),
    ):
        response = client.post(path, data=data)  # a cross-site form has no token
        assert response.status_code == 403
    assert "consent.recorded" not in audit_actions()


def test_a_crafted_answer_for_everything_changes_nothing(client, customer, runtime, audit_actions):
    login(client, customer.email, DEFAULT_PASSWORD)
    response = everything(client, "grant-everything")
    assert response.headers["location"] == "/account/privacy?notice=nothing_changed"
    assert "consent.recorded" not in audit_actions()


def test_everything_at_once_is_for_the_signed_in_customer_only(client):
    token = csrf_token(client, "/login")
    response = client.post("/account/privacy/all", data={"csrf_token": token, "all": "allow"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert client.get("/account/privacy/withdraw-all").headers["location"].startswith("/login")


def test_withdraw_all_first_says_exactly_what_it_does_and_changes_nothing(
    client, customer, runtime, audit_actions
):
    login(client, customer.email, DEFAULT_PASSWORD)
    page = client.get("/account/privacy?lang=en")
    assert 'href="/account/privacy/withdraw-all"' in page.text  # a link, not an instant form
    confirm = client.get("/account/privacy/withdraw-all")
    text = page_text(confirm.text)
    assert confirm.status_code == 200
    assert "Withdraw all consent?" in text
    for title in (
        "Offers and news by email",
        "Flash sales by SMS",
        "Personalised recommendations",
        "Sharing with marketplace partners",
    ):
        assert title in text
    assert "You object to Statistics to improve the shop" in text
    assert "Stays on Order and delivery emails" in text
    assert "consent.recorded" not in audit_actions()
    response = submit(client, "/account/privacy/withdraw-all", {})
    assert response.headers["location"] == "/account/privacy?notice=withdrawn_all"
    answers = answers_of(runtime, str(customer.id), ["analytics"])
    assert answers["analytics"].reason == "objected"


def test_the_history_shows_the_latest_choices_and_folds_the_rest(client, customer):
    login(client, customer.email, DEFAULT_PASSWORD)
    for allow in (True, False, True, False):
        submit(
            client,
            "/account/privacy",
            {"purpose.personalization": "on" if allow else "off"},
            form_page="/account/privacy",
        )
    html = client.get("/account/privacy?lang=en").text
    shown, folded = html.split('<details class="older-history">')
    assert len(re.findall(r"/account/privacy/receipts/\d+\"", shown)) == 3
    assert len(re.findall(r"/account/privacy/receipts/\d+\"", folded)) == 1
    assert "Earlier choices (1)" in folded
    # Latest first: the newest record's receipt leads.
    ids = [int(i) for i in re.findall(r"/account/privacy/receipts/(\d+)\"", html)]
    assert ids == sorted(ids, reverse=True)
