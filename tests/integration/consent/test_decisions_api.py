"""The decision API as the email sender, the recommender and the store POS use it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest
from starlette.testclient import TestClient

from identity.app import create_app
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.loops import run

PROBLEM = "application/problem+json"


def url(subject, purpose=None):
    return f"/v1/consents/{subject}" + (f"/{purpose}" if purpose else "")


def test_purposes_are_listed_with_versions_bases_and_both_languages(browser):
    purposes = {p["id"]: p for p in browser.get("/v1/purposes").json()}
    assert purposes["email_marketing"]["version"] == "1.0"
    assert purposes["analytics"]["legal_basis"] == "legitimate_interest"
    assert purposes["order_emails"]["switchable"] is False
    assert purposes["personalization"]["title"]["es"] == "Recomendaciones personalizadas"


def test_answers_before_the_customer_decided(browser, reader, customer):
    def ask(purpose):
        response = browser.get(url(customer.id, purpose), headers=reader)
        assert response.status_code == 200, response.text
        return response.json()

    assert (ask("email_marketing")["allowed"], ask("email_marketing")["reason"]) == (
        False,
        "not_asked",
    )
    assert (ask("analytics")["allowed"], ask("analytics")["reason"]) == (
        True,
        "legitimate_interest",
    )
    assert (ask("order_emails")["allowed"], ask("order_emails")["reason"]) == (True, "contract")
    assert ask("email_marketing")["record_id"] is None


def test_a_service_records_consent_collected_in_store_with_its_evidence(browser, writer, customer):
    body = {
        "decision": "granted",
        "collected_at": "2026-11-20T10:15:00Z",
        "language": "es",
        "evidence": {"store": "Madrid-Gran Via", "form": "POS-2026-3"},
    }
    response = browser.put(url(customer.id, "personalization"), json=body, headers=writer)
    assert response.status_code == 200, response.text
    recorded = response.json()
    assert recorded["record"]["source"].startswith("api:")
    assert recorded["record"]["collected_at"].startswith("2026-11-20T10:15")
    assert recorded["decision"]["allowed"] is True
    assert recorded["decision"]["record_id"] == recorded["record"]["id"]
    history = browser.get(url(customer.id), headers=writer).json()["history"]
    assert [r["purpose"] for r in history] == ["personalization"]


@pytest.mark.parametrize(
    ("purpose", "body"),
    [
        ("personalization", {"decision": "granted", "collected_at": "2026-11-20T10:15:00.25Z"}),
        ("personalization", {"decision": "granted", "collected_at": "2026-11-20T10:15:00Z"}),
        ("email_marketing", {"decision": "granted"}),  # double opt-in: pending
        ("email_marketing", {"decision": "denied"}),  # with its unsubscribe link
        ("analytics", {"decision": "denied"}),
        ("partner_sharing", {"decision": "withdrawn"}),
    ],
)
def test_a_writes_answer_is_the_one_the_decision_api_gives_next(
    browser, writer, customer, clock, purpose, body
):
    """The answer a ``PUT`` returns is built from the state it wrote, not read again: it must
    be exactly what ``GET`` answers next (times, expiry, status, links)."""
    clock.tick(0.123456)  # a time with a fraction of a second
    written = browser.put(url(customer.id, purpose), json=body, headers=writer)
    assert written.status_code == 200, written.text
    read = browser.get(url(customer.id, purpose), headers=writer)
    assert written.json()["decision"] == read.json()


def test_reads_need_consent_read_and_writes_consent_write(
    browser, service_headers, reader, customer
):
    nothing = service_headers("consent:write", name="Write only")
    refused = browser.get(url(customer.id, "email_marketing"), headers=nothing)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"].endswith("/insufficient-scope")
    assert "insufficient_scope" in refused.headers["www-authenticate"]
    put = browser.put(
        url(customer.id, "email_marketing"), json={"decision": "granted"}, headers=reader
    )
    assert put.status_code == 403
    assert put.json()["required_scope"] == "consent:write"


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer nope"}, {"authorization": "Basic eDp5"}]
)
def test_calls_without_a_valid_token_get_401_problem(browser, customer, headers):
    response = browser.get(url(customer.id, "email_marketing"), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_unknown_purposes_subjects_and_bad_bodies_are_problems(browser, writer, customer):
    assert browser.get(url(customer.id, "telepathy"), headers=writer).json()["status"] == 404
    stranger = browser.get(
        url("00000000-0000-0000-0000-000000000000", "email_marketing"), headers=writer
    )
    assert (stranger.status_code, stranger.json()["type"].rsplit("/", 1)[1]) == (
        404,
        "unknown-subject",
    )
    assert browser.get(url("not-a-uuid", "email_marketing"), headers=writer).status_code == 404
    bad = browser.put(
        url(customer.id, "email_marketing"), json={"decision": "maybe"}, headers=writer
    )
    assert (bad.status_code, bad.headers["content-type"]) == (422, PROBLEM)
    junk = browser.put(
        url(customer.id, "email_marketing"),
        content=b"{",
        headers={**writer, "content-type": "application/json"},
    )
    assert junk.status_code == 422
    contract = browser.put(
        url(customer.id, "order_emails"), json={"decision": "withdrawn"}, headers=writer
    )
    assert (contract.status_code, contract.json()["type"].rsplit("/", 1)[1]) == (
        409,
        "purpose-not-switchable",
    )


def test_batch_decisions_for_many_subjects(browser, writer, make_user):
    users = [make_user(f"b{n}@example.com") for n in range(3)]
    browser.put(url(users[1].id, "personalization"), json={"decision": "granted"}, headers=writer)
    subjects = [str(u.id) for u in users] + ["00000000-0000-0000-0000-000000000000"]
    response = browser.post(
        "/v1/consents:decide",
        json={"subjects": subjects, "purposes": ["personalization", "order_emails"]},
        headers=writer,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unknown_subjects"] == ["00000000-0000-0000-0000-000000000000"]
    allowed = {(d["subject"], d["purpose"]): d["allowed"] for d in body["decisions"]}
    assert allowed == {
        (str(users[0].id), "personalization"): False,
        (str(users[1].id), "personalization"): True,
        (str(users[2].id), "personalization"): False,
        **{(str(u.id), "order_emails"): True for u in users},
    }


def test_batches_are_limited(browser, reader, make_settings):
    too_many = [f"00000000-0000-0000-0000-{n:012d}" for n in range(1001)]
    response = browser.post(
        "/v1/consents:decide",
        json={"subjects": too_many, "purposes": ["analytics"]},
        headers=reader,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


def test_a_withdrawal_is_visible_to_the_next_query_on_another_instance(
    settings, writer, customer, browser
):
    """No cache between the write and the decision: a second app (another worker) sees it."""
    browser.put(url(customer.id, "personalization"), json={"decision": "granted"}, headers=writer)
    with TestClient(create_app(settings), base_url="http://testserver") as other:
        assert (
            other.get(url(customer.id, "personalization"), headers=writer).json()["allowed"] is True
        )
        browser.put(
            url(customer.id, "personalization"), json={"decision": "withdrawn"}, headers=writer
        )
        answer = other.get(url(customer.id, "personalization"), headers=writer).json()
    assert (answer["allowed"], answer["reason"]) == (False, "withdrawn")


def test_the_app_channel_reads_and_changes_the_customers_own_choices(mobile_app, shopper):
    tokens = mobile_app.tokens("ana@example.com", DEFAULT_PASSWORD, scope="openid preferences")
    me = {"authorization": f"Bearer {tokens['access_token']}"}
    mine = mobile_app.browser.get("/v1/me/consents", headers=me).json()
    assert mine["subject"] == str(shopper.id)
    assert {d["purpose"] for d in mine["decisions"]} >= {"personalization", "order_emails"}
    changed = mobile_app.browser.put(
        "/v1/me/consents/personalization", json={"allowed": True}, headers=me
    )
    assert changed.json()["allowed"] is True
    history = mobile_app.browser.get("/v1/me/consents", headers=me).json()["history"]
    assert history[0]["source"] == "api:app"


def test_a_service_token_cannot_use_the_me_endpoints(browser, reader):
    response = browser.get("/v1/me/consents", headers=reader)
    assert response.status_code == 401


def test_a_pairwise_client_sees_only_its_own_pairwise_subjects(
    marketplace, shopper, make_user, service_headers, browser
):
    other = make_user("zoe@example.com")
    pairwise_sub = marketplace.verify_id_token(
        marketplace.tokens("ana@example.com", DEFAULT_PASSWORD)["id_token"]
    )["sub"]
    headers = service_headers(
        "consent:read",
        name="Marketplace API",
        subject_type="pairwise",
        redirect_uris=["https://marketplace.example/auth/callback"],
    )
    ok = browser.get(url(pairwise_sub, "partner_sharing"), headers=headers)
    assert (ok.status_code, ok.json()["subject"]) == (200, pairwise_sub)
    # The public id of a customer is meaningless to it, and so is a customer it never met.
    assert browser.get(url(shopper.id, "partner_sharing"), headers=headers).status_code == 404
    assert browser.get(url(other.id, "partner_sharing"), headers=headers).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"subjects": [], "purposes": ["analytics"]}',
        b'{"subjects": ["x"], "purposes": ["analytics"], "extra": 1}',
        b'{"subjects": [1]}',
    ],
)
def test_malformed_batches_are_422_problems(browser, reader, body):
    response = browser.post(
        "/v1/consents:decide", content=body, headers={**reader, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"]


def test_batches_need_a_token(browser, customer):
    response = browser.post(
        "/v1/consents:decide", json={"subjects": [str(customer.id)], "purposes": ["analytics"]}
    )
    assert (response.status_code, response.headers["content-type"]) == (401, PROBLEM)


def expected_answer(runtime, subject, purpose_id):
    """What the pure decision table says of the stored state row, read through the ORM."""
    from identity.consent.ledger import state_of
    from identity.consent.models import ConsentState
    from identity.consent.rules import decide
    from identity.db import utcnow

    with runtime.db.read() as session:
        row = session.get(ConsentState, (subject, purpose_id))
        state = state_of(row) if row else None
    return decide(runtime.decisions.purpose(purpose_id), state, utcnow())


def test_every_decision_endpoint_answers_exactly_as_the_consent_rules_do(
    browser, writer, service_headers, customer, make_user, runtime, clock
):
    """The read model reads rows in the driver's own forms; every reason it gives, with its
    evidence, through the single and the batch endpoint alike, must equal what
    ``rules.decide`` gives for the same row read through the ORM."""
    never_asked = make_user("nobody@example.com")
    put = {
        "personalization": "granted",
        "partner_sharing": "granted",  # expires after 365 days, below
        "email_marketing": "granted",  # double opt-in: pending
        "analytics": "denied",  # an objection to legitimate interest
    }
    for purpose, decision in put.items():
        response = browser.put(
            url(customer.id, purpose), json={"decision": decision}, headers=writer
        )
        assert response.status_code == 200, response.text
    for decision in ("granted", "withdrawn"):
        browser.put(url(customer.id, "sms_marketing"), json={"decision": decision}, headers=writer)
    clock.tick(timedelta(days=366))
    headers = service_headers("consent:read")  # the first token expired long ago
    purposes = list(runtime.consent.catalog.purposes)
    subjects = [str(customer.id), str(never_asked.id)]

    batch = browser.post(
        "/v1/consents:decide", json={"subjects": subjects, "purposes": purposes}, headers=headers
    ).json()["decisions"]
    by_pair = {(d["subject"], d["purpose"]): d for d in batch}
    reasons = set()
    for subject in subjects:
        for purpose in purposes:
            single = browser.get(url(subject, purpose), headers=headers).json()
            assert single == by_pair[(subject, purpose)]
            expected = expected_answer(runtime, subject, purpose)
            reasons.add(expected.reason)
            assert (
                single["allowed"],
                single["reason"],
                single["legal_basis"],
                single["version"],
                single["current_version"],
                single["status"],
                single["record_id"],
            ) == (
                expected.allowed,
                expected.reason,
                expected.legal_basis,
                expected.version,
                expected.current_version,
                expected.status,
                expected.record_id,
            )
            for field in ("decided_at", "expires_at"):
                value = single[field]
                assert (value and datetime.fromisoformat(value)) == getattr(expected, field)
    assert reasons >= {
        "granted",
        "expired",
        "pending",
        "withdrawn",
        "objected",
        "contract",
        "not_asked",
        "legitimate_interest",
    }


def test_subjects_may_be_spelled_as_any_uuid_form(browser, reader, customer):
    spelled = str(customer.id).upper().replace("-", "")
    single = browser.get(url(spelled, "order_emails"), headers=reader)
    assert (single.status_code, single.json()["subject"]) == (200, spelled)
    batch = browser.post(
        "/v1/consents:decide",
        json={"subjects": [spelled, "not-a-uuid"], "purposes": ["order_emails"]},
        headers=reader,
    ).json()
    assert [d["subject"] for d in batch["decisions"]] == [spelled]
    assert batch["unknown_subjects"] == ["not-a-uuid"]


def test_concurrent_single_decisions_each_get_their_own_answer(
    app, browser, writer, reader, make_user
):
    """On PostgreSQL simultaneous lookups share a round trip; every caller still gets the
    answer to its own question, and a write is seen by the queries sent after it."""
    users = [make_user(f"c{n}@example.com") for n in range(12)]
    for user in users[::2]:
        browser.put(url(user.id, "personalization"), json={"decision": "granted"}, headers=writer)
    questions = [(str(u.id), p) for u in users for p in ("personalization", "order_emails")]
    questions.append(("00000000-0000-0000-0000-000000000000", "analytics"))

    async def ask_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.gather(
                *(client.get(url(s, p), headers=reader) for s, p in questions)
            )

    responses = run(ask_all())
    granted = {str(u.id) for u in users[::2]}
    for (subject, purpose), response in zip(questions, responses, strict=True):
        if subject.startswith("00000000"):
            assert response.status_code == 404
            continue
        answer = response.json()
        assert (answer["subject"], answer["purpose"]) == (subject, purpose)
        assert answer["allowed"] is (purpose == "order_emails" or subject in granted)

    browser.put(url(users[0].id, "personalization"), json={"decision": "withdrawn"}, headers=writer)
    after = run(ask_all())
    assert after[0].json()["reason"] == "withdrawn"
