"""The preference center as a customer uses it, with double opt-in and receipts."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from identity.consent.models import ConsentRecord
from tests.support.consent_fixtures import answer_of, answers_of
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit
from tests.support.rp import _field


def choose(client, **choices):
    return submit(
        client,
        "/account/privacy",
        {f"purpose.{p}": ("on" if v else "off") for p, v in choices.items()},
        form_page="/account/privacy",
    )


def test_the_page_shows_every_purpose_in_the_customers_language(client, customer):
    login(client, customer.email, DEFAULT_PASSWORD)
    page = client.get("/account/privacy")
    text = page_text(page.text)
    for title in (
        "Ofertas y novedades por correo electrónico",
        "Ofertas flash por SMS",
        "Recomendaciones personalizadas",
        "Estadísticas para mejorar la tienda",
        "Compartir con socios del marketplace",
        "Correos de pedidos y entregas",
    ):
        assert title in text
    assert "No se puede desactivar" in text  # order emails
    english = page_text(client.get("/account/privacy?lang=en").text)
    assert "Personalised recommendations" in english


def test_choices_are_recorded_and_change_the_answers(
    client, customer, runtime, reader, browser, audit_actions
):
    login(client, customer.email, DEFAULT_PASSWORD)
    response = choose(client, personalization=True, analytics=False)
    assert response.headers["location"] == "/account/privacy?notice=saved"
    answers = answers_of(runtime, str(customer.id), ["personalization", "analytics"])
    assert answers["personalization"].allowed
    assert answers["analytics"].reason == "objected"
    assert audit_actions().count("consent.recorded") == 2
    # Saving the same choices again records nothing.
    assert (
        choose(client, personalization=True, analytics=False)
        .headers["location"]
        .endswith("nothing_changed")
    )


def test_email_marketing_needs_the_confirmation_link(client, customer, runtime, mailbox):
    login(client, customer.email, DEFAULT_PASSWORD)
    response = choose(client, email_marketing=True)
    assert response.headers["location"] == "/account/privacy?notice=saved_pending"
    assert answer_of(runtime, str(customer.id), "email_marketing").reason == "pending"
    mail = mailbox.last(customer.email)
    assert mail["subject"] == "Confirma, por favor: Ofertas y novedades por correo electrónico"
    link = mailbox.last_link(customer.email, "/privacy/confirm")
    # Opening the link (a mail scanner would) changes nothing; pressing the button does.
    page = client.get(link)
    assert answer_of(runtime, str(customer.id), "email_marketing").reason == "pending"
    confirmed = client.post(
        "/privacy/confirm",
        data={"csrf_token": _field(page.text, "csrf_token"), "token": _field(page.text, "token")},
    )
    assert confirmed.status_code == 200
    answer = answer_of(runtime, str(customer.id), "email_marketing")
    assert (answer.allowed, answer.reason) == (True, "granted")
    again = client.post(
        "/privacy/confirm",
        data={"csrf_token": _field(page.text, "csrf_token"), "token": _field(page.text, "token")},
    )
    assert again.status_code == 400  # single use


def test_the_confirmation_link_expires_after_seven_days(
    client, customer, runtime, mailbox, clock, settings
):
    login(client, customer.email, DEFAULT_PASSWORD)
    choose(client, email_marketing=True)
    link = mailbox.last_link(customer.email, "/privacy/confirm")
    clock.tick(settings.consent_confirm_ttl.total_seconds() + 1)
    page = client.get(link)
    response = client.post(
        "/privacy/confirm",
        data={"csrf_token": _field(page.text, "csrf_token"), "token": _field(page.text, "token")},
    )
    assert response.status_code == 400
    assert "has expired" in page_text(response.text)  # signed out by now: the page is in English
    assert answer_of(runtime, str(customer.id), "email_marketing").reason == "pending"


def test_sms_marketing_sends_the_link_by_sms(client, customer, mailbox):
    login(client, customer.email, DEFAULT_PASSWORD)
    choose(client, sms_marketing=True)
    sms = mailbox.last("+34 600 111 222")
    assert sms["headers"] == {"kind": "sms"}
    assert "/privacy/confirm?token=" in sms["text"]


def test_sms_needs_a_phone_number(client, make_user):
    make_user("nophone@example.com", locale="en")
    login(client, "nophone@example.com", DEFAULT_PASSWORD)
    response = choose(client, sms_marketing=True)
    assert response.status_code == 400
    assert "add your phone number" in page_text(response.text)


def test_withdrawing_everything_is_one_button(client, customer, runtime):
    login(client, customer.email, DEFAULT_PASSWORD)
    choose(client, personalization=True, partner_sharing=True)
    response = submit(client, "/account/privacy/withdraw-all", {}, form_page="/account/privacy")
    assert response.headers["location"] == "/account/privacy?notice=withdrawn_all"
    answers = answers_of(
        runtime,
        str(customer.id),
        ["personalization", "partner_sharing", "analytics", "order_emails"],
    )
    assert [a.allowed for a in answers.values()] == [False, False, False, True]


def test_contract_purposes_cannot_be_switched_off_even_by_a_crafted_form(client, customer, runtime):
    login(client, customer.email, DEFAULT_PASSWORD)
    choose(client, order_emails=False)
    assert answer_of(runtime, str(customer.id), "order_emails").allowed
    with runtime.db.read() as session:
        assert session.scalars(select(ConsentRecord)).all() == []


def test_receipts_are_signed_and_verify_against_the_published_receipt_keys(
    client, customer, runtime
):
    login(client, customer.email, DEFAULT_PASSWORD)
    choose(client, personalization=True)
    with runtime.db.read() as session:
        record = session.scalars(select(ConsentRecord)).one()
    response = client.get(f"/account/privacy/receipts/{record.id}.jwt")
    assert response.headers["content-type"] == "application/jwt"
    assert "attachment" in response.headers["content-disposition"]
    keys = KeySet.import_key_set(client.get("/receipts/jwks").json())
    receipt = jwt.decode(response.text, keys, algorithms=["RS256", "ES256"])
    assert receipt.header["typ"] == "consent-receipt+jwt"
    claims = receipt.claims
    assert claims["piiPrincipalId"] == str(customer.id)
    assert claims["consentReceiptID"] == str(record.id)
    assert claims["collectionMethod"] == "preference_center"
    assert claims["jurisdiction"] == "EU"
    purpose = claims["services"][0]["purposes"][0]
    assert (purpose["purposeId"], purpose["purposeVersion"], purpose["decision"]) == (
        "personalization",
        "1.0",
        "granted",
    )
    assert purpose["textHash"] == runtime.consent.purpose("personalization").text_hash("es")


def test_nobody_else_can_download_a_receipt(client, customer, make_user, app, runtime):
    from starlette.testclient import TestClient

    login(client, customer.email, DEFAULT_PASSWORD)
    choose(client, personalization=True)
    with runtime.db.read() as session:
        record_id = session.scalars(select(ConsentRecord.id)).one()
    make_user("mallory@example.com")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as mallory:
        login(mallory, "mallory@example.com", DEFAULT_PASSWORD)
        assert mallory.get(f"/account/privacy/receipts/{record_id}").status_code == 404
        assert mallory.get(f"/account/privacy/receipts/{record_id}.jwt").status_code == 404


def test_the_history_lists_every_record(client, customer):
    login(client, customer.email, DEFAULT_PASSWORD)
    choose(client, personalization=True)
    choose(client, personalization=False)
    history = page_text(client.get("/account/privacy").text).replace(" :", ":")
    assert "Recomendaciones personalizadas: permitido" in history
    assert "Recomendaciones personalizadas: retirado" in history


@pytest.mark.parametrize("placed", [True, False], ids=["in_the_feed", "not_yet_placed"])
def test_the_history_is_newest_first_even_before_the_feed_places_records(
    client, customer, runtime, placed
):
    login(client, customer.email, DEFAULT_PASSWORD)
    choose(client, personalization=True)
    runtime.sequencer.drain()  # the first record has its feed position
    choose(client, personalization=False)
    if placed:
        runtime.sequencer.drain()
    history = page_text(client.get("/account/privacy").text).replace(" :", ":")
    newest = history.index("Recomendaciones personalizadas: retirado")
    assert newest < history.index("Recomendaciones personalizadas: permitido")


def test_undecided_purposes_are_not_preselected_so_saving_records_only_real_choices(
    client, customer, runtime
):
    login(client, customer.email, DEFAULT_PASSWORD)
    page = client.get("/account/privacy").text
    assert 'name="purpose.email_marketing" value="off" checked' not in page
    assert 'name="purpose.email_marketing" value="on" checked' not in page
    assert 'name="purpose.analytics" value="on" checked' in page  # allowed until objected
    choose(client, personalization=True)
    with runtime.db.read() as session:
        assert session.scalars(select(ConsentRecord.purpose)).all() == ["personalization"]


def test_sms_without_a_phone_keeps_the_other_choices(client, make_user, runtime):
    user = make_user("nophone2@example.com", locale="en")
    login(client, "nophone2@example.com", DEFAULT_PASSWORD)
    response = choose(client, sms_marketing=True, personalization=True)
    assert response.status_code == 400
    assert "Your other choices are saved" in page_text(response.text)
    assert answer_of(runtime, str(user.id), "personalization").allowed
    assert answer_of(runtime, str(user.id), "sms_marketing").reason == "not_asked"
