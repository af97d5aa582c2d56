"""Operators' rules without a database: retiring keys, reasons for disabling an account, how
long housekeeping keeps each kind of row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identity.accounts.rules import (
    ThrottlePolicy,
    ThrottleState,
    after_failure,
    disable_reason_problem,
    retry_after,
)
from identity.housekeeping.rules import Lifetimes, cutoffs
from identity.oidc.rules import (
    KeyTimes,
    codes_forgotten_before,
    published_kids,
    retirement_problem,
    signing_kid,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)


def key(kid, activates, alg="RS256", *, created=None, retired=None):
    return KeyTimes(kid, alg, created or activates, activates, retired)


def published(keys):
    return published_kids(keys, NOW, TTL)


# -- retiring keys --------------------------------------------------------------------------


def test_a_retired_key_leaves_the_published_keys_at_once_and_never_signs():
    keys = [
        key("old", NOW - timedelta(days=2)),
        key("current", NOW - timedelta(days=1)),
        key("leaked", NOW - timedelta(hours=2), "ES256", retired=NOW - timedelta(seconds=1)),
        key("es", NOW - timedelta(days=3), "ES256"),
    ]
    assert "leaked" not in published(keys)
    assert signing_kid(keys, "ES256", NOW) == "es"


def test_the_only_key_signing_an_algorithm_cannot_be_retired():
    keys = [key("rsa", NOW - timedelta(days=1)), key("ec", NOW - timedelta(days=1), "ES256")]
    problem = retirement_problem(keys, "rsa", NOW, published(keys))
    assert problem is not None
    assert "only key signing RS256" in problem
    assert "identity keys rotate --alg RS256" in problem


def test_the_signing_key_can_go_once_its_replacement_is_published():
    """A superseded key still in /jwks takes over: relying parties have it already."""
    keys = [
        key("previous", NOW - timedelta(days=1)),
        key("current", NOW - timedelta(minutes=5), created=NOW - timedelta(hours=1)),
    ]
    assert "previous" in published(keys)
    assert retirement_problem(keys, "current", NOW, published(keys)) is None


def test_the_signing_key_cannot_go_if_that_revives_a_key_no_longer_published():
    keys = [
        key("ancient", NOW - timedelta(days=30)),
        key("current", NOW - timedelta(days=1)),
    ]
    assert published(keys) == ["current"]
    problem = retirement_problem(keys, "current", NOW, published(keys))
    assert problem is not None
    assert "ancient" in problem
    assert "no longer published" in problem


def test_pending_and_superseded_keys_may_always_go():
    keys = [
        key("superseded", NOW - timedelta(days=2)),
        key("current", NOW - timedelta(days=1)),
        key("pending", NOW + timedelta(hours=1), created=NOW),
    ]
    for kid in ("superseded", "pending"):
        assert retirement_problem(keys, kid, NOW, published(keys)) is None


def test_a_key_is_retired_once_and_an_unknown_one_not_at_all():
    keys = [
        key("current", NOW - timedelta(days=1)),
        key("gone", NOW - timedelta(days=2), retired=NOW - timedelta(days=1)),
    ]
    assert "retired already" in retirement_problem(keys, "gone", NOW, published(keys))
    assert retirement_problem(keys, "nope", NOW, published(keys)) == "no key nope"


def test_with_every_key_published_as_receipt_keys_are_the_signer_can_go_to_an_older_one():
    keys = [key("first", NOW - timedelta(days=400)), key("second", NOW - timedelta(days=30))]
    every = [k.kid for k in keys]
    assert retirement_problem(keys, "second", NOW, every) is None
    assert retirement_problem(keys, "first", NOW, every) is None  # not signing: may go


# -- disabling accounts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "refused"),
    [
        ("ticket 4711: chargeback fraud", False),
        ("  ", True),
        ("x" * 201, True),
        ("asked by ana@example.com on the phone", True),
        ("line\nbreak", True),
    ],
)
def test_a_reason_for_disabling_says_why_never_who(reason, refused):
    assert (disable_reason_problem(reason) is not None) is refused


# -- housekeeping ---------------------------------------------------------------------------

LIFETIMES = Lifetimes(
    code_ttl=timedelta(seconds=60),
    longest_token_ttl=timedelta(minutes=15),
    throttle_windows=(timedelta(minutes=15), timedelta(hours=1)),
    outbox_retention=timedelta(days=7),
)


def test_codes_are_remembered_ten_lifetimes_so_a_late_replay_still_revokes():
    assert codes_forgotten_before(NOW, timedelta(seconds=60)) == NOW - timedelta(minutes=10)
    assert cutoffs(NOW, LIFETIMES).codes == NOW - timedelta(minutes=10)


def test_ended_grants_are_kept_as_long_as_a_token_issued_under_them_can_live():
    assert cutoffs(NOW, LIFETIMES).grants == NOW - timedelta(minutes=15)


def test_a_throttle_row_goes_only_once_it_counts_as_no_row_at_all():
    """Past the longest window and unlocked, the next failure starts afresh either way."""
    cutoff = cutoffs(NOW, LIFETIMES).throttles
    assert cutoff == NOW - timedelta(hours=1)
    policy = ThrottlePolicy(3, timedelta(hours=1), timedelta(seconds=30), timedelta(minutes=15))
    stale = ThrottleState(7, cutoff, NOW - timedelta(seconds=1))
    assert retry_after(stale, NOW) == 0
    assert after_failure(stale, NOW, policy) == after_failure(None, NOW, policy)


def test_outbox_messages_are_kept_for_the_retention():
    assert cutoffs(NOW, LIFETIMES).outbox == NOW - timedelta(days=7)
