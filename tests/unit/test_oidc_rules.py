"""Provider rules without a server: redirect URIs, subjects, freshness, scopes, keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identity.oidc.rules import (
    Freshness,
    KeyTimes,
    allowed_scope,
    basic_credentials,
    claims_for_scopes,
    issues_refresh_token,
    must_sign_in,
    parse_max_age,
    published_kids,
    redirect_uri_matches,
    redirect_uri_problem,
    sector_identifier,
    signing_kid,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("requested", "native", "ok"),
    [
        ("https://shop.example/cb", False, True),
        ("https://shop.example/cb/", False, False),
        ("https://shop.example/CB", False, False),
        ("https://shop.example:443/cb", False, False),
        ("http://127.0.0.1:5000/cb", True, True),
        ("http://127.0.0.1:5000/cb", False, False),
        ("http://127.0.0.1:5000/other", True, False),
        ("http://127.0.0.1:5000/cb?x=1", True, False),
        ("http://localhost:5000/cb", True, False),
    ],
)
def test_redirect_uris_match_exactly_except_native_loopback_ports(requested, native, ok):
    registered = ["https://shop.example/cb", "http://127.0.0.1/cb"]
    assert redirect_uri_matches(registered, requested, native=native) is ok


@pytest.mark.parametrize(
    ("uri", "app_type", "refused"),
    [
        ("https://shop.example/cb", "web", False),
        ("http://shop.example/cb", "web", True),
        ("http://127.0.0.1:8001/cb", "web", False),
        ("http://localhost:8001/cb", "web", False),
        ("https://shop.example/cb#frag", "web", True),
        ("https://*.shop.example/cb", "web", True),
        ("com.shop.app:/callback", "native", False),
        ("com.shop.app:/callback", "web", True),
        ("javascript:alert(1)", "native", True),
        ("https://shop.example:99999/cb", "web", True),
    ],
)
def test_redirect_uri_registration_rules(uri, app_type, refused):
    assert (redirect_uri_problem(uri, application_type=app_type) is not None) is refused


def test_the_sector_is_the_shared_host():
    assert sector_identifier(["https://m.example/a", "https://m.example/b"]) == "m.example"
    with pytest.raises(ValueError, match="one host"):
        sector_identifier(["https://a.example/cb", "https://b.example/cb"])


def fresh(prompt=(), max_age=None, completed=None):
    return Freshness(frozenset(prompt), max_age, completed)


def test_sign_in_is_needed_without_a_session_or_when_asked():
    assert must_sign_in(None, NOW, fresh())
    assert not must_sign_in(NOW, NOW, fresh())
    assert must_sign_in(NOW, NOW, fresh(["login"]))
    # ... unless the sign-in happened for this very request.
    assert not must_sign_in(NOW, NOW, fresh(["login"], completed=NOW - timedelta(seconds=5)))
    assert must_sign_in(
        NOW - timedelta(seconds=10), NOW, fresh(["login"], completed=NOW - timedelta(seconds=5))
    )


def test_max_age_limits_how_old_the_sign_in_may_be():
    five_minutes_ago = NOW - timedelta(minutes=5)
    assert must_sign_in(five_minutes_ago, NOW, fresh(max_age=60))
    assert not must_sign_in(five_minutes_ago, NOW, fresh(max_age=600))
    assert must_sign_in(NOW - timedelta(seconds=1), NOW, fresh(max_age=0))


@pytest.mark.parametrize(("raw", "value"), [(None, None), ("", None), ("0", 0), ("3600", 3600)])
def test_max_age_parsing(raw, value):
    assert parse_max_age(raw) == value


@pytest.mark.parametrize("raw", ["-1", "soon", "1.5"])
def test_bad_max_age_is_refused(raw):
    with pytest.raises(ValueError, match=r"max_age|invalid literal"):
        parse_max_age(raw)


def test_scopes_are_limited_to_what_the_client_may_ask():
    assert allowed_scope("openid email phone", "openid email") == "openid email"
    assert allowed_scope(None, "openid profile") == "openid profile"
    assert allowed_scope("openid openid email", "openid email") == "openid email"


def test_claims_follow_scopes_and_skip_empty_values():
    profile = {
        "name": "Ana",
        "locale": "es",
        "updated_at": 1,
        "email": "a@x",
        "email_verified": True,
        "phone_number": None,
        "phone_number_verified": None,
        "address": None,
    }
    assert claims_for_scopes(profile, "openid email") == {"email": "a@x", "email_verified": True}
    assert claims_for_scopes(profile, "openid phone address") == {}
    assert set(claims_for_scopes(profile, "profile")) == {"name", "locale", "updated_at"}


def test_refresh_tokens_for_third_parties_need_offline_access():
    assert issues_refresh_token(first_party=True, client_may_refresh=True, scope="openid")
    assert not issues_refresh_token(first_party=False, client_may_refresh=True, scope="openid")
    assert issues_refresh_token(
        first_party=False, client_may_refresh=True, scope="openid offline_access"
    )
    assert not issues_refresh_token(
        first_party=True, client_may_refresh=False, scope="offline_access"
    )


def key(kid, activates, alg="RS256", *, created=None):
    """A key created at ``created`` (default: when it activates, as at start-up)."""
    return KeyTimes(kid, alg, created or activates, activates, None)


def test_the_newest_active_key_signs_and_the_next_is_published_early():
    ttl = timedelta(minutes=15)
    keys = [key("old", NOW - timedelta(days=30)), key("next", NOW + timedelta(hours=1))]
    assert signing_kid(keys, "RS256", NOW) == "old"
    assert published_kids(keys, NOW, ttl) == ["old", "next"]
    later = NOW + timedelta(hours=1, minutes=1)
    assert signing_kid(keys, "RS256", later) == "next"
    assert published_kids(keys, later, ttl) == ["old", "next"]  # old tokens still valid
    assert published_kids(keys, NOW + timedelta(hours=1, minutes=16), ttl) == ["next"]


def test_algorithms_rotate_independently():
    keys = [
        key("rsa", NOW - timedelta(days=1)),
        key("ec", NOW - timedelta(days=1), "ES256"),
        key("rsa2", NOW - timedelta(hours=2)),
    ]
    assert signing_kid(keys, "ES256", NOW) == "ec"
    assert signing_kid(keys, "RS256", NOW) == "rsa2"
    assert published_kids(keys, NOW, timedelta(minutes=15)) == ["ec", "rsa2"]


def test_a_later_rotation_with_a_shorter_delay_signs_first_and_keeps_signing():
    """Creation order decides: the earlier rotation, activating afterwards, never signs."""
    ttl = timedelta(minutes=15)
    keys = [
        key("start", NOW - timedelta(days=30)),
        key("slow", NOW + timedelta(hours=1), created=NOW),  # rotate, 1 h delay
        key("fast", NOW + timedelta(minutes=15), created=NOW + timedelta(minutes=5)),  # 10 min
    ]
    assert signing_kid(keys, "RS256", NOW + timedelta(minutes=10)) == "start"
    assert signing_kid(keys, "RS256", NOW + timedelta(minutes=15)) == "fast"
    assert signing_kid(keys, "RS256", NOW + timedelta(hours=1)) == "fast"  # "slow" does not
    assert signing_kid(keys, "RS256", NOW + timedelta(days=2)) == "fast"
    assert published_kids(keys, NOW + timedelta(minutes=20), ttl) == ["start", "slow", "fast"]
    # "start" and "slow" were superseded when "fast" took over; "fast" stays published.
    assert published_kids(keys, NOW + timedelta(minutes=30), ttl) == ["fast"]
    assert published_kids(keys, NOW + timedelta(hours=2), ttl) == ["fast"]


def test_a_retired_key_does_not_supersede_the_one_before_it():
    ttl = timedelta(minutes=15)
    retired = KeyTimes("retired", "RS256", NOW, NOW, NOW + timedelta(minutes=1))
    keys = [key("start", NOW - timedelta(days=1)), retired]
    assert signing_kid(keys, "RS256", NOW + timedelta(hours=1)) == "start"
    assert published_kids(keys, NOW + timedelta(hours=1), ttl) == ["start"]


@pytest.mark.parametrize(
    "delays",
    [
        [timedelta(hours=1), timedelta(minutes=10)],
        [timedelta(minutes=10), timedelta(hours=1)],
        [timedelta(hours=1), timedelta(0), timedelta(minutes=30)],
        [timedelta(0), timedelta(0)],
    ],
)
def test_every_signing_key_stays_published_for_as_long_as_its_tokens_live(delays):
    """The two rules agree: a token signed at t verifies until t + the longest lifetime."""
    ttl = timedelta(minutes=15)
    keys = [key("start", NOW - timedelta(days=1))]
    for i, delay in enumerate(delays):
        created = NOW + timedelta(minutes=5 * i)
        keys.append(key(f"k{i}", created + delay, created=created))
    step = timedelta(minutes=1)
    for minute in range(3 * 60):
        t = NOW + minute * step
        signer = signing_kid(keys, "RS256", t)
        assert signer is not None
        for later in range(16):
            assert signer in published_kids(keys, t + later * step, ttl), (t, signer, later)


def test_a_registration_names_every_problem_by_its_field():
    from identity.oidc.registration import ClientSpec, InvalidRegistration, register

    spec = ClientSpec(
        name=" ",
        auth_method="none",
        grant_types=["client_credentials", "password"],
        redirect_uris=["http://store.example/cb"],
        scope="openid preferences",
    )
    with pytest.raises(InvalidRegistration) as caught:
        register(spec)
    fields = [p.field for p in caught.value.problems]
    assert fields.count("grant_types") == 2
    assert {"name", "scope"} <= set(fields)
    assert not any("--" in p.message for p in caught.value.problems)  # no CLI words


def test_a_registration_derives_its_type_scope_and_sector():
    from identity.oidc.registration import ClientSpec, register

    service = register(ClientSpec(name="Svc", grant_types=["client_credentials"]))
    assert (service.application_type, service.scope) == ("service", "consent:read")
    app = register(
        ClientSpec(
            name="App",
            auth_method="none",
            first_party=True,
            redirect_uris=["http://127.0.0.1/cb"],
        )
    )
    assert app.application_type == "native"
    assert "preferences" in app.scope.split()
    market = register(
        ClientSpec(name="M", subject_type="pairwise", redirect_uris=["https://m.example/cb"])
    )
    assert market.sector == "m.example"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic c3RvcmU6czNjcjN0", ("store", "s3cr3t")),
        ("basic\tc3RvcmU6czNjcjN0", ("store", "s3cr3t")),
        ("Basic YSUzQWI6YyUyMGQ=", ("a:b", "c d")),  # RFC 6749 §2.3.1: form-urlencoded first
        ("Basic c3RvcmU=", None),  # no colon
        ("Basic ", None),
        ("Basic", None),
        (None, None),
        ("Bearer c3RvcmU6czNjcjN0", None),
        ("Basic c3Rv\u00e9", None),  # not ASCII
        ("Basic //46", None),  # b"\xff\xfe:" is not UTF-8
    ],
)
def test_basic_credentials_are_read_only_from_a_well_formed_header(header, expected):
    assert basic_credentials(header) == expected
