"""The pure rules behind self-service: when a sign-in alerts, and what binds a change-of-address
link (so that it dies once used or after any other change)."""

from __future__ import annotations

import pytest

from identity.accounts.rules import (
    Problem,
    alerts_new_device,
    email_change_binding,
    email_change_problems,
    new_email_of,
)


def binding(**overrides: str) -> str:
    values = {
        "current_email": "ana@example.com",
        "password_hash": "$argon2id$one",
        "new_email": "new@example.com",
    }
    return email_change_binding(**{**values, **overrides})


def test_an_accounts_first_browser_is_learnt_without_an_alert():
    assert alerts_new_device(device_known=False, devices_known=0) is False


def test_a_browser_new_to_an_account_that_has_signed_in_before_alerts():
    assert alerts_new_device(device_known=False, devices_known=1) is True


def test_a_known_browser_never_alerts():
    assert alerts_new_device(device_known=True, devices_known=3) is False


def test_the_binding_carries_the_new_address():
    assert new_email_of(binding()) == "new@example.com"


@pytest.mark.parametrize(
    "change",
    [{"current_email": "other@example.com"}, {"password_hash": "$argon2id$two"}],
    ids=["address changed since", "password changed since"],
)
def test_any_change_of_address_or_password_gives_another_binding(change):
    assert binding(**change) != binding()


def test_a_binding_names_no_password_hash_nor_the_old_address():
    value = binding()
    assert "argon2" not in value
    assert "ana@example.com" not in value


@pytest.mark.parametrize(
    "value", ["", "new@example.com", "abc:new@example.com", "x" * 24 + ":not an address", "x" * 24]
)
def test_a_malformed_binding_carries_no_address(value):
    assert new_email_of(value) is None


def test_the_new_address_must_be_valid_and_different():
    assert email_change_problems(None, "ana@example.com") == [Problem.email_invalid]
    assert email_change_problems("ana@example.com", "ana@example.com") == [Problem.email_unchanged]
    assert email_change_problems("new@example.com", "ana@example.com") == []
