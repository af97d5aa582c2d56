"""What a record's text hash proves about the text a customer was shown (the receipt page
says it in these four ways)."""

from __future__ import annotations

from datetime import date

from identity.consent.receipts import Shown, policy_url, proven_text
from tests.support.rule_factories import purpose

OURS = purpose(version="2.1", effective=date(2026, 11, 23))


def test_our_text_in_the_language_shown_is_proven_by_its_hash():
    text, shown = proven_text(OURS, "2.1", "es", OURS.text_hash("es"))
    assert (shown, text) == (Shown.policy, OURS.text_of("2.1"))


def test_the_same_text_in_another_language_is_not_what_was_shown():
    assert proven_text(OURS, "2.1", "en", OURS.text_hash("es"))[1] is Shown.other


def test_a_channels_own_wording_is_known_only_by_its_hash():
    text, shown = proven_text(OURS, "2.1", "es", "a" * 64)
    assert shown is Shown.other
    assert text is not None  # ours is still there, for reference
    assert proven_text(OURS, "2.1", None, "a" * 64)[1] is Shown.other


def test_a_version_the_files_no_longer_have_cannot_be_shown():
    assert proven_text(OURS, "1.0", "es", "b" * 64) == (None, Shown.unknown)


def test_a_record_without_a_hash_had_no_text_shown():
    assert proven_text(OURS, "2.1", None, None)[1] is Shown.none


def test_the_policy_url_points_at_the_version_when_the_page_has_it():
    issuer = "https://id.example"
    assert policy_url(issuer, OURS, "2.1") == f"{issuer}/privacy/purposes#email_marketing-v2.1"
    assert policy_url(issuer, OURS, "1.0") == f"{issuer}/privacy/purposes#email_marketing"
