"""Second-factor rules without a database: time steps, replay, code shapes, the officer gate.

Codes are computed by pyotp from a known secret (RFC 6238 Appendix B's, in base32), never by
hand."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from identity.accounts.rules import with_method
from identity.mfa.rules import (
    CodeKind,
    Gate,
    code_step,
    grouped,
    has_second_factor,
    is_fresh,
    kind_of,
    normalize_code,
    officer_gate,
    provisioning_uri,
    shown_recovery_code,
)

SECRET = base64.b32encode(b"12345678901234567890").decode()  # RFC 6238 Appendix B, SHA-1
NOW = datetime(2026, 12, 2, 10, 0, 15, tzinfo=UTC)
STEP = timedelta(seconds=30)
TOTP = pyotp.TOTP(SECRET)


def test_the_rfc_6238_test_vector_is_the_code_of_its_time_step():
    # Appendix B: T = 59 s gives 94287082 with 8 digits; apps use 6, its last six.
    at = datetime.fromtimestamp(59, UTC)
    assert code_step(SECRET, "287082", at) == 1


def test_a_code_belongs_to_its_step_or_a_neighbouring_one():
    current = TOTP.timecode(NOW)
    assert code_step(SECRET, TOTP.at(NOW), NOW) == current
    assert code_step(SECRET, TOTP.at(NOW - STEP), NOW) == current - 1
    assert code_step(SECRET, TOTP.at(NOW + STEP), NOW) == current + 1


def test_a_code_two_steps_away_or_made_up_is_no_step():
    assert code_step(SECRET, TOTP.at(NOW - 2 * STEP), NOW) is None
    assert code_step(SECRET, TOTP.at(NOW + 2 * STEP), NOW) is None
    assert code_step(SECRET, "000000" if TOTP.at(NOW) != "000000" else "111111", NOW) is None


def test_once_a_step_was_used_only_later_steps_are_fresh():
    assert is_fresh(100, None)
    assert is_fresh(101, 100)
    assert not is_fresh(100, 100)
    assert not is_fresh(99, 100)  # the previous step's code, still inside the drift window


@pytest.mark.parametrize(
    ("typed", "normalized", "kind"),
    [
        ("123456", "123456", CodeKind.totp),
        (" 123 456 ", "123456", CodeKind.totp),
        ("ABCD-EFGH-2345", "abcdefgh2345", CodeKind.recovery),
        ("abcd efgh 2345", "abcdefgh2345", CodeKind.recovery),
        ("12345", "12345", None),
        ("1234567", "1234567", None),
        ("abcd-efgh-2341", "abcdefgh2341", None),  # 1 is not base32
        ("", "", None),
        ("x" * 500, "x" * 64, None),
    ],
)
def test_codes_are_typed_with_or_without_spaces_and_dashes(typed, normalized, kind):
    assert normalize_code(typed) == normalized
    assert kind_of(normalize_code(typed)) is kind


def test_the_secret_and_recovery_codes_are_shown_in_groups():
    assert grouped("JBSWY3DPEHPK3PXP") == "JBSW Y3DP EHPK 3PXP"
    assert shown_recovery_code("abcdefgh2345") == "abcd-efgh-2345"


def test_the_provisioning_uri_names_the_brand_and_the_account():
    uri = provisioning_uri(SECRET, account="ana@example.com", issuer="Demo Shop")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    query = parse_qs(parts.query)
    assert query["secret"] == [SECRET]
    assert query["issuer"] == ["Demo Shop"]
    assert "ana%40example.com" in parts.path


def test_a_proven_code_joins_the_session_methods_once_and_in_order():
    assert with_method("pwd", "otp") == "pwd otp"
    assert with_method("pwd otp", "otp") == "pwd otp"
    assert has_second_factor("pwd otp")
    assert not has_second_factor("pwd")


def gate(**overrides: Any) -> Gate:
    values: dict[str, Any] = dict(
        enrolled=True,
        amr="pwd otp",
        proven_at=NOW - timedelta(minutes=1),
        now=NOW,
        recent_within=None,
    )
    values.update(overrides)
    return officer_gate(**values)


def test_the_officer_gate_asks_for_enrolment_first():
    assert gate(enrolled=False, amr="pwd") is Gate.enrol
    assert gate(enrolled=False, recent_within=timedelta(minutes=5)) is Gate.enrol


def test_the_officer_gate_asks_for_the_code_when_the_session_never_proved_it():
    assert gate(amr="pwd") is Gate.code
    assert gate() is Gate.allow


def test_exports_and_erasures_need_a_recent_proof():
    five = timedelta(minutes=5)
    assert gate(recent_within=five, proven_at=NOW - timedelta(minutes=4, seconds=59)) is Gate.allow
    assert gate(recent_within=five, proven_at=NOW - five) is Gate.allow
    assert gate(recent_within=five, proven_at=NOW - five - timedelta(seconds=1)) is Gate.code
    assert gate(proven_at=NOW - timedelta(hours=3)) is Gate.allow  # the console itself
