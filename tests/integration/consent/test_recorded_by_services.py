"""What a service may claim when it records a decision it collected elsewhere, and the one
format every time in the API is written in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from identity.consent.models import ConsentRecord
from tests.support.consent_fixtures import answer_of

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


def put(browser: Any, writer: dict[str, str], customer: Any, **body: Any) -> Any:
    return browser.put(
        f"/v1/consents/{customer.id}/personalization",
        json={"decision": "granted", **body},
        headers={**writer, "user-agent": "pos-backend/2.1"},
    )


def stored(runtime: Any) -> list[ConsentRecord]:
    with runtime.db.read() as session:
        return list(session.scalars(select(ConsentRecord)))


@pytest.mark.parametrize(
    "collected_at",
    [
        "2040-01-01T00:00:00Z",  # would stretch a 730-day consent to 15 years
        "2001-01-01T00:00:00Z",
        timedelta(hours=1),
        -timedelta(days=91),
    ],
    ids=["2040", "2001", "in-an-hour", "91-days-ago"],
)
def test_a_decision_time_in_the_future_or_too_long_ago_is_refused_naming_the_field(
    browser, writer, customer, runtime, collected_at
):
    if isinstance(collected_at, timedelta):
        collected_at = (datetime.now(UTC) + collected_at).isoformat()
    response = put(browser, writer, customer, collected_at=collected_at)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["body", "collected_at"]
    assert stored(runtime) == []


def test_a_decision_time_without_a_time_zone_is_refused(browser, writer, customer, runtime):
    response = put(browser, writer, customer, collected_at="2026-11-30T10:00:00")
    assert response.status_code == 422
    assert stored(runtime) == []


def test_a_decision_time_within_the_clock_skew_and_the_limit_is_kept(
    browser, writer, customer, runtime
):
    recent = datetime.now(UTC) - timedelta(days=30)
    assert put(browser, writer, customer, collected_at=recent.isoformat()).status_code == 200
    [record] = stored(runtime)
    assert abs(record.collected_at - recent) < timedelta(seconds=1)
    soon = datetime.now(UTC) + timedelta(minutes=2)
    assert put(browser, writer, customer, collected_at=soon.isoformat()).status_code == 200


def test_a_services_own_address_and_user_agent_are_never_recorded_as_the_customers(
    browser, writer, customer, runtime
):
    assert put(browser, writer, customer).status_code == 200
    [record] = stored(runtime)
    assert (record.ip_hash, record.user_agent) == (None, None)
    assert record.source.startswith("api:")


def test_the_customers_origin_comes_only_from_the_evidence_and_says_who_reported_it(
    browser, writer, customer, runtime
):
    evidence = {"store": "madrid-01", "ip": "203.0.113.7", "user_agent": "Kiosk/1.0"}
    assert put(browser, writer, customer, evidence=evidence).status_code == 200
    [record] = stored(runtime)
    collector = record.source.removeprefix("api:")
    assert record.user_agent == "Kiosk/1.0"
    assert record.ip_hash is not None
    assert "203.0.113.7" not in str(record.evidence)
    assert record.evidence == {"store": "madrid-01", "origin_reported_by": collector}


def _times(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _times(v)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v)]
    return [value] if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT", value) else []


def test_every_time_in_the_api_is_rfc3339_with_z(browser, writer, reader, customer):
    recorded = put(browser, writer, customer).json()
    answers = [
        recorded,
        browser.get(f"/v1/consents/{customer.id}/personalization", headers=reader).json(),
        browser.post(
            "/v1/consents:decide",
            json={"subjects": [str(customer.id)], "purposes": ["personalization"]},
            headers=reader,
        ).json(),
        browser.get(f"/v1/consents/{customer.id}", headers=reader).json(),
        browser.get("/v1/consents/changes", headers=reader).json(),
    ]
    times = _times(answers)
    assert len(times) >= 8
    assert all(RFC3339_Z.match(t) for t in times), times


def test_first_decisions_for_one_customer_made_at_once_are_all_recorded(
    browser, writer, customer, runtime
):
    """Two channels recording the same customer's first decision at the same moment: neither
    fails, both records are kept, and the state follows the later record."""
    from concurrent.futures import ThreadPoolExecutor

    def record(decision: str) -> int:
        recorded = runtime.consent.record_for_client(
            client_id="pos",
            subject=str(customer.id),
            purpose_id="personalization",
            decision=decision,
            collected_at=None,
            locale="es",
            text_hash=None,
            evidence={},
        )
        return recorded.record.id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(record, ["granted", "denied"] * 8))
    assert len(stored(runtime)) == 16
    latest = max(ids)
    answer = answer_of(runtime, str(customer.id), "personalization")
    assert answer.record_id == latest
    assert answer.status == ("granted" if ids.index(latest) % 2 == 0 else "denied")
