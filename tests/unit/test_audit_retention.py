"""Retention families and purge records (pure rules): an action belongs to the most specific
family that covers it, and a purged entry is accepted only where a recorded purge reached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identity.audit.retention import (
    PurgedRange,
    PurgeRecords,
    families,
    family_of,
    purge_details,
)

DAY = timedelta(days=1)
POLICY = {"login": 395 * DAY, "login.failed": None, "consent": None, "*": None}


@pytest.mark.parametrize(
    ("action", "family"),
    [
        ("login.succeeded", "login"),
        ("login.failed", "login.failed"),
        ("login.failed.twice", "login.failed"),
        ("login", "login"),
        ("loginx.succeeded", "*"),  # a family ends at a dot
        ("consent.recorded", "consent"),
        ("audit.purged", "audit"),  # the log's own family, always there
        ("keys.created", "*"),
    ],
)
def test_an_action_belongs_to_the_most_specific_family_covering_it(action, family):
    assert family_of(action, POLICY) == family


def test_without_a_catch_all_some_actions_belong_to_no_family():
    assert family_of("keys.created", {"login": DAY}) is None


def test_a_family_leaves_the_narrower_families_inside_it_alone():
    found = {f.key: f for f in families(POLICY)}
    assert found["login"].narrower == ("login.failed",)
    assert found["*"].narrower == ("audit", "consent", "login", "login.failed")
    assert found["audit"].keep is None
    assert not found["login"].holds("login.failed")
    assert found["*"].holds("keys.created")
    assert not found["*"].holds("consent.recorded")


def recorded(*spans: tuple[str, int, int, tuple[str, ...]]) -> PurgeRecords:
    records = PurgeRecords()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    records.add(
        purge_details(
            [PurgedRange(f, at, last - first + 1, first, last, k) for f, first, last, k in spans]
        )
    )
    return records


def test_a_purge_record_covers_its_familys_entries_between_its_first_and_last_index():
    records = recorded(("login", 10, 20, ("login.failed",)))
    assert records.covers(10, "login.succeeded")
    assert records.covers(20, "login.throttled")
    assert not records.covers(9, "login.succeeded")
    assert not records.covers(21, "login.succeeded")
    assert not records.covers(15, "consent.recorded")  # another family in the span
    assert not records.covers(15, "login.failed")  # the narrower family it left alone


def test_purge_records_add_up_and_malformed_ones_are_ignored():
    records = recorded(("login", 0, 4, ()))
    records.add(purge_details([PurgedRange("login", datetime.now(UTC), 3, 5, 9)]))
    records.add({"families": {"login": {"first": "100", "last": 200}}})  # not a number
    records.add({"families": ["login"]})
    records.add("not a purge")
    assert all(records.covers(i, "login.succeeded") for i in range(10))
    assert not records.covers(150, "login.succeeded")


def test_the_purge_record_names_each_familys_cutoff_count_and_span():
    at = datetime(2025, 11, 2, 9, 30, tzinfo=UTC)
    details = purge_details(
        [PurgedRange("login", at, 6, 0, 9, ("login.failed",)), PurgedRange("session", at, 2, 3, 8)]
    )
    assert details == {
        "entries": 8,
        "families": {
            "login": {"before": "2025-11-02T09:30:00.000000Z", "count": 6, "first": 0,
                      "last": 9, "kept": ["login.failed"]},
            "session": {"before": "2025-11-02T09:30:00.000000Z", "count": 2, "first": 3,
                        "last": 8},
        },
    }  # fmt: skip
