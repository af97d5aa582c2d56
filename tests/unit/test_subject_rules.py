"""Subject identifiers: canonical account ids and pairwise derivation (pure)."""

from __future__ import annotations

import uuid

from identity.subjects.rules import account_key, pairwise_subject


def test_pairwise_subjects_differ_per_sector_and_are_stable():
    salt = b"s" * 32
    a1 = pairwise_subject("market.example", "user-1", salt)
    assert a1 == pairwise_subject("market.example", "user-1", salt)
    assert a1 != pairwise_subject("other.example", "user-1", salt)
    assert a1 != pairwise_subject("market.example", "user-2", salt)
    assert a1 != pairwise_subject("market.example", "user-1", b"t" * 32)
    assert "user-1" not in a1


def test_any_spelling_of_an_account_id_names_the_canonical_one():
    canonical = str(uuid.uuid4())
    for spelling in (canonical, canonical.upper(), canonical.replace("-", ""), f"{{{canonical}}}"):
        assert account_key(spelling) == canonical
    assert account_key("not-an-id") is None
