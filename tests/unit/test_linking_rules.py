"""The merge table (docs/linking.md), one case per row: a merge never makes an account less
private, except that an anonymous decision fills a purpose the account never decided."""

from __future__ import annotations

from datetime import timedelta

import pytest

from identity.linking.rules import merge_decision
from tests.support.rule_factories import NOW, purpose, state

EARLIER, LATER = NOW - timedelta(days=2), NOW - timedelta(hours=1)
CONSENT = purpose(id="personalization", channel=None)


def test_nothing_decided_anonymously_merges_nothing():
    assert merge_decision(CONSENT, None, None, NOW) is None
    assert merge_decision(CONSENT, state(), None, NOW) is None


def test_a_current_anonymous_grant_fills_a_purpose_the_account_never_decided():
    assert merge_decision(CONSENT, None, state("granted", decided=LATER), NOW) == "granted"


@pytest.mark.parametrize(
    "anonymous",
    [
        state("granted", version="1.0", decided=LATER),  # asked under an older text
        state("granted", decided=LATER, expires=NOW - timedelta(seconds=1)),  # expired
        state("pending", decided=LATER),  # a double opt-in never confirmed
    ],
    ids=["stale_version", "expired", "pending"],
)
def test_an_anonymous_grant_that_is_no_longer_consent_fills_nothing(anonymous):
    assert merge_decision(CONSENT, None, anonymous, NOW) is None


@pytest.mark.parametrize("refusal", ["denied", "withdrawn"])
def test_an_anonymous_refusal_fills_a_purpose_the_account_never_decided(refusal):
    assert merge_decision(CONSENT, None, state(refusal, decided=LATER), NOW) == refusal


@pytest.mark.parametrize("account", ["granted", "pending"])
@pytest.mark.parametrize("refusal", ["denied", "withdrawn"])
def test_a_later_anonymous_refusal_withdraws_the_accounts_consent(account, refusal):
    merged = merge_decision(
        CONSENT, state(account, decided=EARLIER), state(refusal, decided=LATER), NOW
    )
    assert merged == "withdrawn"


@pytest.mark.parametrize("refusal", ["denied", "withdrawn"])
def test_an_earlier_anonymous_refusal_leaves_the_accounts_newer_consent(refusal):
    merged = merge_decision(
        CONSENT, state("granted", decided=LATER), state(refusal, decided=EARLIER), NOW
    )
    assert merged is None


def test_an_anonymous_grant_never_changes_an_account_that_decided():
    assert merge_decision(CONSENT, state("granted"), state("granted", decided=LATER), NOW) is None


@pytest.mark.parametrize("account", ["denied", "withdrawn"])
@pytest.mark.parametrize("anonymous", ["granted", "pending", "denied", "withdrawn"])
def test_a_refusing_account_is_never_made_less_private(account, anonymous):
    merged = merge_decision(
        CONSENT, state(account, decided=EARLIER), state(anonymous, decided=LATER), NOW
    )
    assert merged is None


def test_an_objection_made_anonymously_reaches_a_legitimate_interest_purpose():
    interest = purpose(id="recommendations", legal_basis="legitimate_interest", default=True)
    later = state("denied", decided=LATER)
    assert merge_decision(interest, None, later, NOW) == "denied"
    assert merge_decision(interest, state("granted", decided=EARLIER), later, NOW) == "withdrawn"


def test_a_purpose_that_cannot_be_refused_is_never_merged():
    contract = purpose(id="order_updates", legal_basis="contract", default=True)
    assert merge_decision(contract, None, state("denied", decided=LATER), NOW) is None
