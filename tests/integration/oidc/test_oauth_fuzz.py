"""Fuzz the provider's form and query endpoints (hypothesis): whatever arrives at /authorize
and its continuations, /token (every grant, every way of authenticating), /revoke,
/introspect, /userinfo and /logout, from an anonymous or a signed-in browser, the answer is
never a 5xx and nothing is logged as an unhandled error.

Requests start valid (registered clients, real codes and tokens, signed client assertions)
and are then mutated at random, or swept one parameter at a time; :mod:`tests.support.fuzz`
has the strategies and the harness.
"""

from __future__ import annotations

import base64
import time
from functools import cache, cached_property
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.fuzz import (
    FUZZ,
    Call,
    Form,
    forged_jwt,
    header_value,
    json_values,
    nasty,
    open_browsers,
    value,
    weighted,
)
from tests.support.oidc_fixtures import APP_REDIRECT, MARKET_REDIRECT, STORE_REDIRECT
from tests.support.rp import RelyingParty, _field, pkce_pair

EMAIL = "fuzz@example.com"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
POSTER_REDIRECT = "https://poster.example/cb"
RESOURCE = "https://api.store.example"
REDIRECTS = (
    STORE_REDIRECT,
    POSTER_REDIRECT,
    APP_REDIRECT,
    MARKET_REDIRECT,
    "http://127.0.0.1:8123/callback",
    "http://[::1]:8123/callback",
    "http://[::1/callback",
    "http://127.0.0.1:99999/callback",
    "https://store.example/callback#x",
)
SCOPES = ("openid", "openid profile email phone address", "openid offline_access", "consent:read")
CLIENT_IDS = ("store", "poster", "app", "marketplace", "crm", "service", "nobody")
REVOKE_INTROSPECT = ("/revoke", "/introspect")
NO_CR_LF_NUL = {0: None, 10: None, 13: None}


def basic(client_id: str, secret: str) -> tuple[str, bytes]:
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return ("authorization", b"Basic " + base64.b64encode(raw))


@cache
def crm_key() -> RSAKey:
    """The private_key_jwt client's key pair (made once: RSA key generation is slow)."""
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256"}, private=True)
    key.ensure_kid()
    return key


class World:
    """Registered clients, a signed-in customer, and real codes and tokens to replay."""

    def __init__(self, browsers: Any, make_client: Any) -> None:
        self.browsers = browsers
        self.jtis = 0
        self.key = crm_key()
        store = make_client(
            name="Store",
            client_id="store",
            redirect_uris=[STORE_REDIRECT],
            post_logout_redirect_uris=["https://store.example/bye"],
            first_party=True,
            resources=[RESOURCE],
        )
        poster = make_client(
            name="Poster",
            client_id="poster",
            auth_method="client_secret_post",
            redirect_uris=[POSTER_REDIRECT],
            first_party=True,
        )
        make_client(
            name="App",
            client_id="app",
            auth_method="none",
            redirect_uris=[APP_REDIRECT],
            first_party=True,
        )
        make_client(
            name="Marketplace",
            client_id="marketplace",
            redirect_uris=[MARKET_REDIRECT],
            subject_type="pairwise",
            scope="openid profile email offline_access",
        )
        make_client(
            name="CRM",
            client_id="crm",
            grant_types=["client_credentials"],
            redirect_uris=[],
            scope="consent:read",
            auth_method="private_key_jwt",
            jwks={"keys": [self.key.as_dict(private=False)]},
        )
        service = make_client(
            name="Service",
            client_id="service",
            grant_types=["client_credentials"],
            redirect_uris=[],
            scope="consent:read consent:write",
        )
        self.store_auth = basic("store", store.client_secret)
        self.service_auth = basic("service", service.client_secret)
        self.poster_secret = poster.client_secret
        self.secrets = (store.client_secret, poster.client_secret, service.client_secret)

        signed_in = browsers.signed_in
        browsers.restore(signed_in)
        rp = RelyingParty(signed_in.client, "store", STORE_REDIRECT, store.client_secret)
        tokens = rp.exchange(rp.code(EMAIL, "unused")).json()
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        self.id_token = tokens["id_token"]
        self.code = rp.code(EMAIL, "unused")  # left for the fuzz to redeem (once)
        self.verifier = rp.last.verifier
        self.service_token = signed_in.client.post(
            "/token", data={"grant_type": "client_credentials"}, headers=dict([self.service_auth])
        ).json()["access_token"]
        market = RelyingParty(signed_in.client, "marketplace", MARKET_REDIRECT)
        page = market.authorize()
        assert 'action="/authorize/consent"' in page.text, page.text[:300]
        self.interaction = _field(page.text, "interaction")
        self.challenge = pkce_pair()[1]

    # -- pieces of requests -----------------------------------------------------------------

    def tokens(self) -> st.SearchStrategy[str]:
        real = (self.access_token, self.refresh_token, self.id_token, self.service_token)
        return st.one_of(value(*real), forged_jwt)

    def assertion(self) -> st.SearchStrategy[str]:
        """A client assertion signed with the CRM's registered key: valid (a fresh ``jti``),
        or with claims a client could sign but should not, or a kid that is not its key."""
        now = int(time.time())

        def sign(jti: str, changes: dict[str, Any], kid: str | None) -> str:
            claims = {
                "iss": "crm",
                "sub": "crm",
                "aud": "http://testserver/token",
                "iat": now,
                "exp": now + 60,
                "jti": jti,
                **changes,
            }
            header = {"alg": "RS256", **({"kid": kid} if kid is not None else {})}
            return jwt.encode(header, claims, self.key)

        changes = weighted(
            (2, st.just({})),
            (1, st.sampled_from(CLIENT_IDS).map(lambda c: {"iss": c, "sub": c})),
            (
                2,
                st.dictionaries(
                    st.sampled_from(["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]),
                    st.one_of(st.sampled_from(CLIENT_IDS), json_values()),
                    min_size=1,
                    max_size=3,
                ),
            ),
        )
        kid = weighted((3, st.just(self.key.kid)), (1, st.none()), (2, nasty))
        return st.builds(sign, st.uuids().map(lambda u: u.hex), changes, kid)

    def odd_auth_headers(self) -> st.SearchStrategy[tuple[tuple[str, bytes], ...]]:
        ids, secrets = value(*CLIENT_IDS), value(*self.secrets)
        return st.one_of(
            st.just(()),
            st.builds(lambda i, s: (basic(i, s),), ids, secrets),
            st.binary(max_size=30).map(
                lambda b: (("authorization", b"Basic " + base64.b64encode(b)),)
            ),
            header_value().map(lambda v: (("authorization", b"Basic " + v),)),
            header_value().map(lambda v: (("authorization", v),)),
            st.just((self.store_auth, self.service_auth)),
        )

    def valid_assertion(self) -> str:
        now = int(time.time())
        self.jtis += 1
        claims = {
            "iss": "crm",
            "sub": "crm",
            "aud": "http://testserver/token",
            "iat": now,
            "exp": now + 60,
            "jti": f"fuzz-{self.jtis}",
        }
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)

    def machine(self, path: str, base: list[Any], headers: Any, alternatives: Any) -> Form:
        """A back-channel POST; its client authentication is now and then swapped for an
        odd one, and an assertion in it is a new one each time."""
        fresh = {"client_assertion": self.valid_assertion} if headers == () else {}
        return Form(
            "POST",
            path,
            tuple(base),
            {**alternatives, **self.client_alternatives()},
            headers=tuple(headers),
            odd_headers=self.odd_auth_headers(),
            fresh={k: v for k, v in fresh.items() if k in dict(base)},
        )

    def client_alternatives(self) -> dict[str, Any]:
        return {
            "client_id": value(*CLIENT_IDS),
            "client_secret": value(*self.secrets),
            "client_assertion_type": value(ASSERTION_TYPE),
            "client_assertion": st.one_of(self.assertion(), forged_jwt, nasty),
        }

    # -- the endpoints ----------------------------------------------------------------------

    @cached_property
    def forms(self) -> dict[str, list[Form]]:
        """Each endpoint's valid requests (one or more starting points)."""
        assertion = [
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", "fresh"),
        ]
        code = [("code", self.code), ("code_verifier", self.verifier)]
        token = {
            "grant_type": value(
                "authorization_code", "refresh_token", "client_credentials", "password", "implicit"
            ),
            "code": value(self.code),
            "redirect_uri": value(*REDIRECTS),
            "code_verifier": value(self.verifier),
            "refresh_token": value(self.refresh_token),
            "scope": value(*SCOPES),
            "resource": value(RESOURCE),
        }
        management = {
            "token": self.tokens(),
            "token_type_hint": value("access_token", "refresh_token", "id_token"),
        }
        return {
            **self.authorization_forms(),
            "POST /token": [
                self.machine("/token", [("grant_type", "client_credentials")],
                             [self.service_auth], token),
                self.machine("/token", [("grant_type", "client_credentials"), *assertion],
                             (), token),
                self.machine("/token", [("grant_type", "authorization_code"), *code,
                                        ("redirect_uri", STORE_REDIRECT)],
                             [self.store_auth], token),
                self.machine("/token", [("grant_type", "refresh_token"),
                                        ("refresh_token", self.refresh_token)],
                             [self.store_auth], token),
                self.machine("/token", [("grant_type", "authorization_code"), *code,
                                        ("redirect_uri", POSTER_REDIRECT), ("client_id", "poster"),
                                        ("client_secret", self.poster_secret)],
                             (), token),
                self.machine("/token", [("grant_type", "authorization_code"), *code,
                                        ("redirect_uri", APP_REDIRECT), ("client_id", "app")],
                             (), token),
            ],
            **{
                f"POST {path}": [
                    self.machine(path, [("token", self.access_token)], [self.store_auth],
                                 management),
                    self.machine(path, [("token", self.refresh_token)], [self.store_auth],
                                 management),
                    self.machine(path, [("token", self.access_token)], [self.service_auth],
                                 management),
                    self.machine(path, [("token", self.service_token), *assertion], (),
                                 management),
                ]
                for path in REVOKE_INTROSPECT
            },
            **self.logout_forms(),
        }  # fmt: skip

    def authorization_forms(self) -> dict[str, list[Form]]:
        def request(client_id: str, redirect_uri: str, scope: str) -> tuple[tuple[str, str], ...]:
            return (
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("scope", scope),
                ("state", "s"),
                ("nonce", "n"),
                ("code_challenge", self.challenge),
                ("code_challenge_method", "S256"),
            )

        alternatives = {
            "response_type": value("code", "token", "code id_token", "none"),
            "client_id": value(*CLIENT_IDS),
            "redirect_uri": value(*REDIRECTS),
            "scope": value(*SCOPES),
            "state": nasty,
            "nonce": nasty,
            "code_challenge": value(self.challenge),
            "code_challenge_method": value("S256", "plain"),
            "prompt": value("none", "login", "consent", "select_account", "login consent"),
            "max_age": value("0", "60", "-1", "99999999999999999999"),
            "login_hint": value(EMAIL),
            "ui_locales": value("es", "en", "es-ES en"),
            "id_token_hint": st.one_of(value(self.id_token), forged_jwt),
            "acr_values": value("urn:identity:acr:password"),
            "resource": value(RESOURCE),
            "response_mode": value("query", "fragment", "form_post"),
            "request": forged_jwt,
            "request_uri": value("https://store.example/r"),
            "display": value("page", "popup"),
            "claims": value('{"userinfo":{"email":null}}'),
        }
        requests = [
            request("store", STORE_REDIRECT, "openid profile email"),
            request("marketplace", MARKET_REDIRECT, "openid email offline_access"),
            request("app", "http://127.0.0.1:5000/callback", "openid"),
        ]
        continuation = {
            "interaction": value(self.interaction),
            "ui_locales": value("es"),
            "decision": value("allow", "deny"),
            "choice": value("continue", "other"),
        }
        resume = ("interaction", self.interaction)
        return {
            "GET /authorize": [Form("GET", "/authorize", r, alternatives) for r in requests],
            "POST /authorize": [Form("POST", "/authorize", r, alternatives) for r in requests],
            "GET /authorize/resume": [Form("GET", "/authorize/resume", (resume,), continuation)],
            "POST /authorize/consent": [
                Form("POST", "/authorize/consent", (resume, ("decision", "allow")), continuation,
                     csrf=True)
            ],
            "POST /authorize/select": [
                Form("POST", "/authorize/select", (resume, ("choice", "continue")), continuation,
                     csrf=True)
            ],
        }  # fmt: skip

    def logout_forms(self) -> dict[str, list[Form]]:
        bye = ("post_logout_redirect_uri", "https://store.example/bye")
        with_hint = (("id_token_hint", self.id_token), bye, ("state", "s"))
        without_hint = (("client_id", "store"), bye, ("state", "s"))
        alternatives = {
            "id_token_hint": st.one_of(value(self.id_token), forged_jwt),
            "client_id": value(*CLIENT_IDS),
            "post_logout_redirect_uri": value("https://store.example/bye", STORE_REDIRECT),
            "state": nasty,
            "ui_locales": value("es", "en"),
            "logout_hint": value(EMAIL),
        }
        bases = (with_hint, without_hint)
        return {
            "GET /logout": [Form("GET", "/logout", b, alternatives) for b in bases],
            # A relying party's logout request; the confirmation form; "sign out" on our page.
            "POST /logout": [Form("POST", "/logout", b, alternatives) for b in bases],
            "POST /logout confirmed": [
                Form("POST", "/logout", b, alternatives, csrf=True) for b in bases
            ],
            "POST /logout from our page": [Form("POST", "/logout", (), alternatives, csrf=True)],
        }

    def userinfo(self, method: str) -> st.SearchStrategy[Call]:
        token = self.tokens()
        real = b"Bearer " + self.access_token.encode()
        authorization = weighted(
            (3, st.just(real)),
            (1, token.map(lambda t: b"Bearer " + t.translate(NO_CR_LF_NUL).encode())),
            (1, header_value()),
            (1, header_value().map(lambda v: b"Bearer " + v)),
            (1, st.sampled_from([b"Bearer ", b"Bearer", b"bearer  x", b"Basic eDp4"])),
        )
        others = st.fixed_dictionaries(
            {}, optional={"sec-gpc": st.just(b"1"), "accept": header_value()}
        ).map(lambda d: tuple(d.items()))
        headers = weighted(
            (3, st.builds(lambda a, o: (("authorization", a), *o), authorization, others)),
            (1, others),
        )
        without_body = st.builds(
            lambda h, s: Call(method, "/userinfo", headers=h, signed_in=s), headers, st.booleans()
        )
        if method == "GET":
            return without_body
        in_body = Form("POST", "/userinfo", (("access_token", self.access_token),),
                       {"access_token": token}, odd_headers=headers)  # fmt: skip
        return weighted((1, without_body), (2, in_body.calls()))


@pytest.fixture
def world(app, runtime, make_client, make_user, caplog):
    make_user(EMAIL, name="Fuzz Shopper")
    for browsers in open_browsers(app, runtime, EMAIL, caplog):
        yield World(browsers, make_client)


# One test function (so one app) per endpoint: each gets the whole example budget.
ENDPOINTS = [
    "GET /authorize",
    "POST /authorize",
    "GET /authorize/resume",
    "POST /authorize/consent",
    "POST /authorize/select",
    "POST /token",
    "POST /revoke",
    "POST /introspect",
    "GET /logout",
    "POST /logout",
    "POST /logout confirmed",
    "POST /logout from our page",
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@given(data=st.data())
@FUZZ
def test_no_input_makes_an_oauth_endpoint_fail(world, endpoint, data):
    forms = world.forms[endpoint]
    world.browsers.check(data.draw(st.sampled_from(forms).flatmap(Form.calls)))


@pytest.mark.parametrize("method", ["GET", "POST"])
@given(data=st.data())
@FUZZ
def test_no_input_makes_userinfo_fail(world, method, data):
    world.browsers.check(data.draw(world.userinfo(method)))


def test_no_single_hostile_parameter_makes_an_oauth_endpoint_fail(world):
    """Each parameter of each valid request made hostile in turn (see ``SWEEP``)."""
    assert sorted(world.forms) == sorted(ENDPOINTS)
    for forms in world.forms.values():
        for form in forms:
            for call in form.sweep():
                world.browsers.check(call)
