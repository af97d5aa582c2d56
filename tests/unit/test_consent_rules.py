"""Decision semantics without a database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from identity.consent.rules import (
    anonymous_decision_problem,
    change_for,
    decide,
    gpc_decision,
    needs_reconfirmation,
    status_after,
)
from tests.support.rule_factories import NOW, purpose, state


def test_never_asked_consent_is_denied_with_the_default():
    answer = decide(purpose(), None, NOW)
    assert (answer.allowed, answer.reason, answer.record_id) == (False, "not_asked", None)


def test_granted_consent_is_allowed_with_its_proof():
    answer = decide(purpose(), state(expires=NOW + timedelta(days=1)), NOW)
    assert (answer.allowed, answer.reason, answer.record_id, answer.version) == (
        True,
        "granted",
        7,
        "2.1",
    )


def test_legitimate_interest_is_allowed_until_objected():
    li = purpose(
        id="analytics",
        legal_basis="legitimate_interest",
        default=True,
        channel=None,
        expires_after_days=None,
    )
    assert decide(li, None, NOW).reason == "legitimate_interest"
    assert decide(li, None, NOW).allowed
    objected = decide(li, state("denied"), NOW)
    assert (objected.allowed, objected.reason) == (False, "objected")


def test_contract_purposes_are_always_allowed():
    contract = purpose(
        id="order_emails", legal_basis="contract", default=True, expires_after_days=None
    )
    assert decide(contract, None, NOW).reason == "contract"
    assert decide(contract, state("withdrawn"), NOW).allowed


def test_expired_grants_are_denied():
    answer = decide(purpose(), state(expires=NOW), NOW)
    assert (answer.allowed, answer.reason) == (False, "expired")


def test_a_major_bump_makes_a_grant_stale_but_a_minor_bump_carries_over():
    assert decide(purpose(version="3.0"), state(version="2.1"), NOW).reason == "stale"
    carried = decide(purpose(version="2.5"), state(version="2.1"), NOW)
    assert (carried.allowed, carried.version, carried.current_version) == (True, "2.1", "2.5")


def test_pending_double_opt_in_is_denied():
    assert decide(purpose(double_opt_in=True), state("pending"), NOW).reason == "pending"


@pytest.mark.parametrize("status", ["denied", "withdrawn"])
def test_refusals_are_denied_with_their_status(status):
    assert decide(purpose(), state(status), NOW).reason == status


def test_grants_of_double_opt_in_purposes_wait_for_confirmation():
    doi = purpose(double_opt_in=True)
    assert status_after(doi, "granted", confirmed=False) == "pending"
    assert status_after(doi, "granted", confirmed=True) == "granted"
    assert status_after(doi, "withdrawn", confirmed=False) == "withdrawn"
    with pytest.raises(ValueError, match="decision"):
        status_after(doi, "maybe", confirmed=False)


def test_reconfirmation_is_asked_for_stale_and_expired_grants_only():
    assert needs_reconfirmation(purpose(version="3.0"), state(version="2.1"), NOW)
    assert needs_reconfirmation(purpose(), state(expires=NOW - timedelta(days=1)), NOW)
    assert not needs_reconfirmation(purpose(), state(), NOW)
    assert not needs_reconfirmation(purpose(version="3.0"), state("withdrawn", version="2.1"), NOW)
    assert not needs_reconfirmation(purpose(), None, NOW)


def test_choices_record_only_real_changes():
    p = purpose()
    assert change_for(p, None, True, NOW) == "granted"
    assert change_for(p, None, False, NOW) == "denied"
    assert change_for(p, state(), True, NOW) is None
    assert change_for(p, state(), False, NOW) == "withdrawn"
    assert change_for(p, state("withdrawn"), False, NOW) is None
    assert change_for(p, state("pending"), True, NOW) is None
    assert change_for(p, state("pending"), False, NOW) == "withdrawn"
    assert change_for(purpose(version="3.0"), state(version="2.1"), True, NOW) == "granted"


def test_gpc_opts_out_of_sale_or_share_only_once():
    share = purpose(id="partner_sharing", category="sale_or_share", channel=None)
    assert gpc_decision(share, None) == "denied"
    assert gpc_decision(share, state()) == "withdrawn"
    assert gpc_decision(share, state("withdrawn")) is None
    assert gpc_decision(purpose(), None) is None  # not a sale/share purpose


@pytest.mark.parametrize("decision", ["denied", "withdrawn"])
def test_a_visitor_may_refuse_a_double_opt_in_purpose(decision):
    assert anonymous_decision_problem(purpose(double_opt_in=True), decision) is None


def test_a_visitor_cannot_grant_a_double_opt_in_purpose_without_an_address_to_confirm():
    assert anonymous_decision_problem(purpose(double_opt_in=True), "granted")
    assert anonymous_decision_problem(purpose(double_opt_in=False), "granted") is None
