"""Audit references have one textual form, which parses back to the same reference."""

from __future__ import annotations

import uuid

import pytest

from identity.audit.refs import ANONYMOUS, CLI, SYSTEM, Actor, Ref, Subject


def test_every_reference_prints_in_the_documented_format_and_parses_back():
    user = uuid.uuid4()
    cases = {
        Actor.user(user): f"user:{user}",
        Actor.client("store"): "client:store",
        CLI: "operator:cli",
        SYSTEM: "system",
        ANONYMOUS: "anonymous",
        Subject.user(user): f"user:{user}",
        Subject.client("recommender"): "client:recommender",
    }
    for ref, text in cases.items():
        assert str(ref) == text
        assert Ref.parse(text) == Ref(ref.kind, ref.id)


@pytest.mark.parametrize("text", ["root", "user", "system:x", "email:ana@example.com"])
def test_a_reference_of_an_unknown_kind_or_shape_is_refused(text):
    with pytest.raises(ValueError, match="reference"):
        Ref.parse(text)
