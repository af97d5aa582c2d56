"""docs/linking.md's merge table, one test per row, end to end: the account's decision through
the API, the visitor's on the store's banner, a sign-in with ``anon_id``, and what the
account's state and ledger hold afterwards."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from identity.app import create_app
from identity.consent.models import ConsentRecord, ConsentState
from identity.resources import resource_dir
from tests.support.linking_fixtures import backend, banner, new_visitor, sign_in


@dataclasses.dataclass(frozen=True)
class Row:
    purpose: str
    account: str | None  # the account's decision, None: never decided
    anonymous: str | None  # the visitor's decision, None: nothing decided
    anonymous_first: bool = False  # the visitor decided before the account did
    days_until_sign_in: int = 0
    merged: str | None = None  # the account's status after the merge; None: left as it was


ROWS = {
    "a_current_grant_fills_a_purpose_never_decided": Row(
        "personalization", None, "granted", merged="granted"
    ),
    "an_expired_grant_fills_nothing": Row(
        "partner_sharing", None, "granted", days_until_sign_in=366
    ),
    "a_refused_double_opt_in_fills_a_mail_purpose_never_decided": Row(
        "email_marketing", None, "denied", merged="denied"
    ),
    "a_denial_fills_a_purpose_never_decided": Row(
        "personalization", None, "denied", merged="denied"
    ),
    "a_withdrawal_fills_a_purpose_never_decided": Row(
        "personalization", None, "withdrawn", merged="withdrawn"
    ),
    "a_later_denial_withdraws_the_accounts_grant": Row(
        "personalization", "granted", "denied", merged="withdrawn"
    ),
    "a_later_withdrawal_withdraws_the_accounts_pending_grant": Row(
        "email_marketing", "granted", "withdrawn", merged="withdrawn"
    ),
    "an_earlier_denial_leaves_the_accounts_newer_grant": Row(
        "personalization", "granted", "denied", anonymous_first=True
    ),
    "a_grant_leaves_the_accounts_grant": Row("personalization", "granted", "granted"),
    "a_grant_never_overrides_the_accounts_denial": Row("personalization", "denied", "granted"),
    "a_grant_never_overrides_the_accounts_withdrawal": Row(
        "personalization", "withdrawn", "granted"
    ),
    "a_denial_leaves_the_accounts_denial": Row("personalization", "denied", "denied"),
    "nothing_decided_anonymously_merges_nothing": Row("personalization", "granted", None),
    "an_objection_reaches_a_legitimate_interest_purpose": Row(
        "analytics", "granted", "denied", merged="withdrawn"
    ),
}


def _state(runtime: Any, subject: str, purpose: str) -> tuple[Any, ...] | None:
    with runtime.db.read() as session:
        row = session.get(ConsentState, (subject, purpose))
        return None if row is None else (row.status, row.decided_at, row.record_id)


def _records(runtime: Any, subject: str, source: str) -> list[ConsentRecord]:
    with runtime.db.read() as session:
        query = select(ConsentRecord).where(
            ConsentRecord.subject == subject, ConsentRecord.source == source
        )
        return list(session.scalars(query))


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_a_sign_in_merges_by_the_row_of_the_merge_table(
    row, channel, shopper, runtime, writer, clock
):
    account, visitor = str(shopper.id), new_visitor(channel)

    def account_decides() -> None:
        if row.account is not None:
            answer = channel.browser.put(
                f"/v1/consents/{account}/{row.purpose}",
                json={"decision": row.account},
                headers=writer,
            )
            assert answer.status_code == 200, answer.text

    def visitor_decides() -> None:
        if row.anonymous is not None:
            banner(channel, visitor, **{row.purpose: row.anonymous})

    for decides in (
        (visitor_decides, account_decides)
        if row.anonymous_first
        else (
            account_decides,
            visitor_decides,
        )
    ):
        decides()
        clock.tick(timedelta(minutes=5))
    clock.tick(timedelta(days=row.days_until_sign_in))
    before = _state(runtime, account, row.purpose)
    sign_in(channel, visitor)
    merges = _records(runtime, account, "link_merge")
    if row.merged is None:
        assert _state(runtime, account, row.purpose) == before
        assert merges == []
        return
    assert _state(runtime, account, row.purpose)[0] == row.merged
    (merge,) = merges
    (anonymous,) = _records(runtime, visitor["subject"], f"api:{channel.client_id}")
    assert (merge.purpose, merge.decision) == (row.purpose, row.merged)
    assert merge.evidence["from_records"] == [anonymous.id]


@pytest.fixture
def bumped_personalization(tmp_path, make_settings) -> TestClient:
    """The provider after personalization's text changed in a major version (2.0)."""
    directory = tmp_path / "policies"
    shutil.copytree(resource_dir("policies"), directory)
    path = directory / "personalization.toml"
    path.write_text(path.read_text().replace('version = "1.0"', 'version = "2.0"'))
    app = create_app(make_settings(policies_dir=directory))
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client


def test_a_grant_under_an_older_text_fills_nothing(
    channel, shopper, runtime, bumped_personalization
):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")  # under 1.0
    sign_in(dataclasses.replace(channel, browser=bumped_personalization), visitor)
    assert _state(runtime, str(shopper.id), "personalization") is None
    assert _records(runtime, str(shopper.id), "link_merge") == []


def test_a_visitor_cannot_grant_a_double_opt_in_purpose_so_nothing_pending_is_merged(
    channel, shopper, runtime
):
    """A double opt-in grant waits for a link mailed to the customer; a visitor has no
    address, so the grant is refused (the table's "pending" row never starts anonymously)."""
    visitor = new_visitor(channel)
    answer = channel.browser.put(
        f"/v1/consents/{visitor['anonymous_id']}/email_marketing",
        json={"decision": "granted"},
        headers=backend(channel),
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"] == ["body", "decision"]
    assert _records(runtime, visitor["subject"], f"api:{channel.client_id}") == []
    sign_in(channel, visitor)
    assert _state(runtime, str(shopper.id), "email_marketing") is None
