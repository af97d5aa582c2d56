"""The passkey rules and the provider's acr rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identity.oidc.rules import (
    ACR_PASSWORD,
    ACR_PHISHING_RESISTANT,
    acr_floor,
    acr_of,
    amr_claim,
    unmet_acr,
)
from identity.passkeys.ceremony import Refused, RelyingParty, challenge_of, credential_id_of
from identity.passkeys.rules import (
    amr_for,
    clean_name,
    clean_transports,
    device_label,
    is_passkey_session,
    needs_password,
    sign_count_ok,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_a_device_bound_key_is_hwk_and_a_synced_one_swk_both_with_user_and_mfa():
    assert amr_for(multi_device=False, user_verified=True) == "hwk user mfa"
    assert amr_for(multi_device=True, user_verified=True) == "swk user mfa"
    assert amr_for(multi_device=False, user_verified=False) == "hwk"
    assert is_passkey_session("swk user mfa")
    assert not is_passkey_session("pwd otp")


def test_names_lose_invisible_characters_and_extra_spaces_and_are_cut():
    assert clean_name("  My\u202e  phone\x00 ") == "My phone"
    assert clean_name(" \t ") is None
    assert len(clean_name("x" * 500) or "") == 60


def test_the_default_label_names_browser_and_system():
    assert device_label("Chrome · Android") == "Chrome / Android"


def test_only_known_transports_are_kept_in_a_fixed_order():
    assert clean_transports(["usb", "bogus", "internal", "usb"]) == "internal usb"


def test_a_sign_in_older_than_five_minutes_needs_the_password():
    assert not needs_password(NOW - timedelta(minutes=5), NOW)
    assert needs_password(NOW - timedelta(minutes=5, seconds=1), NOW)


@pytest.mark.parametrize(
    ("stored", "presented", "ok"),
    [(0, 0, True), (0, 1, True), (5, 6, True), (5, 5, False), (5, 4, False), (5, 0, False)],
)
def test_a_sign_count_must_move_forward_unless_the_key_keeps_none(stored, presented, ok):
    assert sign_count_ok(stored, presented) is ok


def test_the_amr_claim_adds_mfa_for_a_password_and_a_code():
    assert amr_claim(["pwd"]) == ("pwd",)
    assert amr_claim(["pwd", "otp"]) == ("pwd", "otp", "mfa")
    assert amr_claim(["hwk", "user", "mfa"]) == ("hwk", "user", "mfa")


def test_the_acr_follows_the_methods():
    assert acr_of(["pwd"]) == ACR_PASSWORD
    assert acr_of(["pwd", "otp"]) == ACR_PASSWORD
    assert acr_of(["hwk", "user", "mfa"]) == ACR_PHISHING_RESISTANT
    assert acr_of(["swk"]) == ACR_PHISHING_RESISTANT
    assert acr_of([]) is None


def test_the_floor_is_the_least_demanding_known_value():
    assert acr_floor("phr") == ACR_PHISHING_RESISTANT
    assert acr_floor("x phr urn:identity:acr:password") == ACR_PASSWORD
    assert acr_floor("x y") is None
    assert acr_floor(None) is None


@pytest.mark.parametrize(
    ("acr_values", "amr", "unmet"),
    [
        (None, ["pwd"], None),
        ("phr", ["pwd"], "phr"),
        ("phr", ["pwd", "otp"], "phr"),
        ("phr", ["hwk", "user", "mfa"], None),
        ("urn:identity:acr:password", ["hwk", "user", "mfa"], None),  # stronger is enough
        ("phr urn:identity:acr:password", ["pwd"], None),  # the least demanding is the floor
        ("urn:example:unknown", ["pwd"], None),  # unknown values ask for nothing
        ("phr", [], "phr"),
    ],
)
def test_unmet_acr(acr_values, amr, unmet):
    assert unmet_acr(acr_values, amr) == unmet


def test_the_relying_party_is_the_issuers_host_and_origin():
    rp = RelyingParty.for_issuer("https://id.shop.example", "Shop")
    assert (rp.id, rp.origin) == ("id.shop.example", "https://id.shop.example")
    local = RelyingParty.for_issuer("http://localhost:8000", "Shop")
    assert (local.id, local.origin) == ("localhost", "http://localhost:8000")


@pytest.mark.parametrize(
    "garbage", ["", "{", "[1]", '{"response": 1}', '{"response": {"clientDataJSON": "%%"}}']
)
def test_malformed_responses_are_refused_as_malformed(garbage):
    with pytest.raises(Refused) as refused:
        challenge_of(garbage)
    assert refused.value.reason == "malformed"
    with pytest.raises(Refused):
        credential_id_of(garbage)
