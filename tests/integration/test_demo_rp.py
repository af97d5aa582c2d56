"""The demo relying party against a real provider: both run in real uvicorn servers (threads of
the test process, each on its own free port), and a cookie-keeping HTTP client plays the
browser, following every redirect between the two by hand.

The channels are registered from ``identity.demo.DEMO_CLIENTS`` with the demo's ports
rewritten to the test's, so the demo's client specifications are what is tested. The
provider's outbox worker is off: back-channel logouts go out when a test calls
``runtime.outbox.deliver_due()``, over real HTTP to the demo's receiver.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey

from identity.app import create_app
from identity.audit.refs import Actor
from identity.db import utcnow
from identity.demo import DEMO_CLIENTS, RP, RP_OTHER_SITE
from identity.demo_rp import CredentialsMissing, create_demo_rp
from identity.demo_rp.app import BACKCHANNEL_NOTE
from identity.oidc.tokens import BACKCHANNEL_EVENT
from identity.runtime import Runtime
from identity.settings import Settings
from tests.support.consent_fixtures import answer_of
from tests.support.forms import page_text

EMAIL = "ana@example.com"
PASSWORD = "correct horse battery"
CHANNELS = ("store", "app", "marketplace")
STARTUP_TIMEOUT = 15.0


# -- real servers in threads -----------------------------------------------------------------


class ThreadedServer(uvicorn.Server):
    """uvicorn serving an already-bound socket; ``ready`` is set once it listens (or failed)."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        super().__init__(uvicorn.Config(app, log_level="warning", ws="none", http="h11"))
        self.sock = sock
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="uvicorn-test", daemon=True)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    def _run(self) -> None:
        try:
            self.run(sockets=[self.sock])
        finally:
            self.ready.set()


def listening_socket() -> socket.socket:
    """Bound before the server starts, so the port is known (and ours) from the outset."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@contextmanager
def serving(app: Any, sock: socket.socket) -> Iterator[None]:
    server = ThreadedServer(app, sock)
    server.thread.start()
    try:
        assert server.ready.wait(STARTUP_TIMEOUT), "server did not start in time"
        assert server.started, "server failed to start"
        yield
    finally:
        server.should_exit = True
        server.thread.join(STARTUP_TIMEOUT)
        sock.close()


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


@dataclass
class Provider:
    issuer: str
    runtime: Runtime


@pytest.fixture
def provider(make_settings: Callable[..., Settings]) -> Iterator[Provider]:
    sock = listening_socket()
    settings = make_settings(issuer=f"http://127.0.0.1:{port_of(sock)}")
    runtime = Runtime.build(settings)
    runtime.accounts.create(
        email=EMAIL,
        password=PASSWORD,
        name="Ana García",
        locale="es",
        verified=True,
        actor=Actor.operator("test"),
    )
    with serving(create_app(settings, runtime=runtime), sock):  # its lifespan closes runtime
        yield Provider(settings.issuer, runtime)


def register_channels(runtime: Runtime, store_url: str, market_url: str, path: Path) -> Path:
    """What ``identity demo seed`` does for the three channels, on the test's ports."""
    saved = {}
    for spec in DEMO_CLIENTS:
        if spec["client_id"] not in CHANNELS:
            continue
        rewritten = json.loads(
            json.dumps(spec).replace(RP_OTHER_SITE, market_url).replace(RP, store_url)
        )
        created = runtime.clients.create(actor=Actor.operator("test"), **rewritten)
        saved[spec["client_id"]] = {
            "client_id": spec["client_id"],
            "client_secret": created.client_secret,
        }
    path.write_text(json.dumps(saved))
    return path


@dataclass
class Demo:
    provider: Provider
    store_url: str  # http://127.0.0.1:<port>
    market_url: str  # http://localhost:<port>, the other site

    def home(self, channel: str) -> str:
        base = self.market_url if channel == "marketplace" else self.store_url
        return f"{base}/{channel}/"


@pytest.fixture
def demo(provider: Provider, tmp_path: Path) -> Iterator[Demo]:
    sock = listening_socket()
    store_url, market_url = f"http://127.0.0.1:{port_of(sock)}", f"http://localhost:{port_of(sock)}"
    credentials = register_channels(
        provider.runtime, store_url, market_url, tmp_path / "demo-clients.json"
    )
    app = create_demo_rp(
        provider.issuer,
        credentials,
        public_url_store=store_url,
        public_url_marketplace=market_url,
        secret_key="demo-rp-test-secret",
    )
    with serving(app, sock):
        yield Demo(provider, store_url, market_url)


# -- the browser -----------------------------------------------------------------------------


def hidden_fields(html: str, action: str) -> dict[str, str]:
    """The hidden inputs of the POST form whose action is ``action``."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', html, re.S)
    assert form, f"no form posting to {action}"
    inputs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0))
    return {name: unescape(value) for name, value in inputs}


@dataclass
class Browser:
    """One person's browser: one cookie jar for every site, redirects followed by hand."""

    http: httpx.Client
    issuer: str
    seen: list[str] = field(default_factory=list)  # every URL on the way, for assertions

    def get(self, url: str, **answers: str) -> httpx.Response:
        return self.follow(self.http.get(url), **answers)

    def post(self, url: str, **answers: str) -> httpx.Response:
        return self.follow(self.http.post(url), **answers)

    def follow(
        self, response: httpx.Response, *, password: str | None = None, consent: str | None = None
    ) -> httpx.Response:
        """Follow redirects; fill in the provider's sign-in and consent forms only when the
        caller said what to answer (an unexpected question fails the test)."""
        for _ in range(20):
            self.seen.append(str(response.url))
            at_provider = str(response.url).startswith(self.issuer)
            if response.is_redirect:
                response = self.http.get(response.url.join(response.headers["location"]))
            elif at_provider and response.url.path == "/login" and response.status_code == 200:
                assert password, "the provider asked for a password"
                fields = hidden_fields(response.text, "/login")
                response = self.http.post(
                    f"{self.issuer}/login", data={**fields, "email": EMAIL, "password": password}
                )
            elif at_provider and 'action="/authorize/consent"' in response.text:
                assert consent, "the provider asked for consent"
                fields = hidden_fields(response.text, "/authorize/consent")
                response = self.http.post(
                    f"{self.issuer}/authorize/consent", data={**fields, "decision": consent}
                )
            else:
                return response
        raise AssertionError(f"too many redirects: {self.seen[-5:]}")


@pytest.fixture
def browser(demo: Demo) -> Iterator[Browser]:
    with httpx.Client(follow_redirects=False, timeout=STARTUP_TIMEOUT) as http:
        yield Browser(http, demo.provider.issuer)


def claim(html: str, name: str) -> str:
    match = re.search(rf'id="claim-{name}">([^<]*)<', html)
    assert match, f"no claim {name} on the page"
    return unescape(match.group(1))


def userinfo(html: str) -> dict[str, Any]:
    match = re.search(r'<pre id="userinfo">(.*?)</pre>', html, re.S)
    assert match, "no userinfo on the page"
    return dict(json.loads(unescape(match.group(1))))


def sign_in(browser: Browser, demo: Demo, channel: str, **answers: str) -> str:
    page = browser.get(f"{demo.home(channel)}login", **answers)
    assert page.status_code == 200, page.text
    assert str(page.url) == demo.home(channel)
    assert "Signed in as Ana García" in page_text(page.text), page_text(page.text)
    return page.text


# -- journeys --------------------------------------------------------------------------------


def test_sign_in_once_then_single_sign_on_at_the_app_and_consent_at_the_marketplace(
    demo: Demo, browser: Browser
) -> None:
    first = browser.get(demo.home("store"))
    assert "Not signed in" in page_text(first.text)

    start = browser.http.get(f"{demo.home('store')}login")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert start.headers["location"].startswith(f"{demo.provider.issuer}/authorize?")
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"]
    store = browser.follow(start, password=PASSWORD).text
    callback = next(u for u in browser.seen if "/store/callback?" in u)
    assert parse_qs(urlsplit(callback).query)["iss"] == [demo.provider.issuer]  # RFC 9207
    assert "Signed in as Ana García" in page_text(store)
    assert userinfo(store)["email"] == EMAIL
    assert claim(store, "amr") == "pwd"
    assert claim(store, "aud") == "store"

    # No password and no consent asked: Browser.follow would fail if either were.
    app = sign_in(browser, demo, "app")
    assert claim(app, "sub") == claim(store, "sub")
    assert claim(app, "sid") == claim(store, "sid")
    assert claim(app, "auth_time") == claim(store, "auth_time")  # the same sign-in

    market = sign_in(browser, demo, "marketplace", consent="allow")
    assert claim(market, "sub") != claim(store, "sub")  # pairwise
    assert userinfo(market)["sub"] == claim(market, "sub")
    assert "offline_access" in page_text(market)
    # The store's own cookie is untouched by the other channels.
    assert "Signed in as Ana García" in page_text(browser.get(demo.home("store")).text)


def test_refresh_tokens_shows_the_new_expiry(demo: Demo, browser: Browser) -> None:
    sign_in(browser, demo, "store", password=PASSWORD)
    page = browser.post(f"{demo.home('store')}refresh")
    text = page_text(page.text)
    note = re.search(r"New access token, expires at (\d\d:\d\d:\d\d UTC)\.", text)
    assert note, text
    assert f'id="expires-at">{note.group(1)}<' in page.text
    assert "Signed in as Ana García" in text
    # The refresh token was rotated and the new one stored: refreshing again works.
    again = page_text(browser.post(f"{demo.home('store')}refresh").text)
    assert "New access token" in again, again


def test_sign_out_everywhere_reaches_every_channel_over_the_back_channel(
    demo: Demo, browser: Browser
) -> None:
    sign_in(browser, demo, "store", password=PASSWORD)
    sign_in(browser, demo, "app")
    sign_in(browser, demo, "marketplace", consent="allow")

    leaving = browser.http.post(f"{demo.home('store')}logout")
    query = parse_qs(urlsplit(leaving.headers["location"]).query)
    assert leaving.headers["location"].startswith(f"{demo.provider.issuer}/logout?")
    assert query["post_logout_redirect_uri"] == [demo.home("store")]
    assert query["id_token_hint"]
    assert query["state"]
    page = browser.follow(leaving)
    assert str(page.url) == demo.home("store")
    assert "Signed out at the provider" in page_text(page.text)
    assert "Not signed in" in page_text(page.text)

    # Before the provider's message arrives, the app already learns it from its next call:
    # the provider refuses its access token (the grant died with the session).
    app = browser.get(demo.home("app")).text
    assert "The provider no longer accepts this sign-in" in page_text(app)
    assert "Not signed in" in page_text(app)

    attempts = demo.provider.runtime.outbox.deliver_due()
    assert sorted((a.owner, a.status) for a in attempts) == [
        ("app", 200),
        ("marketplace", 200),
        ("store", 200),
    ]
    # The marketplace had not called the provider since: the back channel told it.
    text = page_text(browser.get(demo.home("marketplace")).text)
    assert BACKCHANNEL_NOTE in text
    assert "Not signed in" in text
    assert "Not signed in" in page_text(browser.get(demo.home("app")).text)
    # Signing in again needs the password: the provider's session is gone too.
    sign_in(browser, demo, "app", password=PASSWORD)


def test_a_logout_response_with_a_state_the_channel_never_sent_is_ignored(
    demo: Demo, browser: Browser
) -> None:
    sign_in(browser, demo, "store", password=PASSWORD)
    text = page_text(browser.get(f"{demo.home('store')}?state=forged").text)
    assert "A logout response with a state we never sent: ignored." in text
    assert "Signed in as Ana García" in text


def test_the_marketplace_lives_on_its_own_host(demo: Demo, browser: Browser) -> None:
    wrong_host = browser.http.get(f"{demo.store_url}/marketplace/")
    assert wrong_host.status_code == 307
    assert wrong_host.headers["location"] == demo.home("marketplace")
    sign_in_there = browser.http.get(f"{demo.store_url}/marketplace/login")
    assert sign_in_there.headers["location"] == f"{demo.home('marketplace')}login"
    index = browser.get(f"{demo.store_url}/").text
    assert f'href="{demo.home("marketplace")}"' in index
    assert "content-security-policy" in wrong_host.headers


# -- the back-channel logout receiver ---------------------------------------------------------


def logout_claims(demo: Demo, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": demo.provider.issuer,
        "aud": "store",
        "iat": now,
        "exp": now + 120,
        "jti": f"jti-{now}-{time.perf_counter_ns()}",
        "sub": "some-subject",
        "sid": "some-session",
        "events": {BACKCHANNEL_EVENT: {}},
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def sign(
    demo: Demo,
    claims: dict[str, Any],
    *,
    typ: str = "logout+jwt",
    key: Any = None,
    kid: str | None = None,
) -> str:
    """A token signed with the provider's own current key (unless ``key`` says otherwise)."""
    real = demo.provider.runtime.keys.signing_key("RS256")
    header = {"alg": "RS256", "kid": kid or real.kid, "typ": typ}
    return jwt.encode(header, claims, key or real)


def deliver(demo: Demo, token: str | None, channel: str = "store") -> httpx.Response:
    data = {} if token is None else {"logout_token": token}
    return httpx.post(f"{demo.home(channel)}backchannel-logout", data=data)


def test_a_logout_token_from_the_provider_is_accepted_once(demo: Demo) -> None:
    runtime = demo.provider.runtime
    token = runtime.oidc.provider.tokens.logout_token(
        client=runtime.clients.get("store"), sub="some-subject", sid="some-session"
    )
    first = deliver(demo, token)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    replayed = deliver(demo, token)
    assert replayed.status_code == 400
    assert "replayed" in replayed.json()["error_description"]


@pytest.mark.parametrize(
    ("case", "make_token"),
    [
        ("no token", lambda demo: None),
        ("not a JWT", lambda demo: "not-a-jwt"),
        ("another key", lambda demo: sign(demo, logout_claims(demo), key=_foreign_key())),
        ("unknown kid", lambda demo: sign(demo, logout_claims(demo), key=_foreign_key(), kid="x")),
        ("ID token type", lambda demo: sign(demo, logout_claims(demo), typ="JWT")),
        ("other issuer", lambda demo: sign(demo, logout_claims(demo, iss="https://evil.example"))),
        ("other audience", lambda demo: sign(demo, logout_claims(demo, aud="app"))),
        ("expired", lambda demo: sign(demo, logout_claims(demo, iat=1, exp=2))),
        ("no iat", lambda demo: sign(demo, logout_claims(demo, iat=None))),
        ("no jti", lambda demo: sign(demo, logout_claims(demo, jti=None))),
        ("no event", lambda demo: sign(demo, logout_claims(demo, events={"other": {}}))),
        ("with nonce", lambda demo: sign(demo, logout_claims(demo, nonce="n-0S6_WzA2Mj"))),
        ("neither sid nor sub", lambda demo: sign(demo, logout_claims(demo, sid=None, sub=None))),
    ],
)
def test_a_bad_logout_token_is_refused(
    demo: Demo, case: str, make_token: Callable[[Demo], str | None]
) -> None:
    response = deliver(demo, make_token(demo))
    assert response.status_code == 400, case
    assert response.json()["error"] == "invalid_request"


def _foreign_key() -> RSAKey:
    return RSAKey.generate_key(2048)


def test_a_missing_credentials_file_says_to_seed_first(tmp_path: Path) -> None:
    with pytest.raises(CredentialsMissing, match="run `identity demo seed` first"):
        create_demo_rp("http://127.0.0.1:8000", tmp_path / "demo-clients.json")


def choose_in_banner(browser: Browser, demo: Demo, **form: str) -> str:
    chosen = browser.follow(browser.http.post(f"{demo.home('store')}privacy", data=form))
    assert chosen.status_code == 200, chosen.text
    return page_text(chosen.text)


def test_the_store_banner_is_kept_by_the_provider_and_follows_the_shopper_into_the_account(
    demo: Demo, browser: Browser
) -> None:
    runtime = demo.provider.runtime
    first = page_text(browser.get(f"{demo.home('store')}?lang=es").text)
    assert "Tus opciones de privacidad" in first
    text = choose_in_banner(browser, demo, choice="all")
    assert "Recomendado para ti" in text
    assert "Camisa de lino" in text  # the store asked the decision API and honours it
    visitor = browser.http.cookies["demo_store_visitor"]
    anonymous = runtime.anonymous_ids.verify(visitor, "store", utcnow())
    assert answer_of(runtime, anonymous.key, "personalization").allowed
    # First-party only: the store's own cookies, and nothing from the provider before sign-in.
    assert {c.name for c in browser.http.cookies.jar} <= {
        "demo_store_visitor", "demo_rp_lang", "demo_rp_store",
    }  # fmt: skip

    start = browser.http.get(f"{demo.home('store')}login")
    assert parse_qs(urlsplit(start.headers["location"]).query)["anon_id"] == [visitor]
    store = page_text(browser.follow(start, password=PASSWORD).text)
    account = runtime.accounts.find_by_email(EMAIL)
    assert account is not None
    assert answer_of(runtime, str(account.id), "personalization").allowed  # merged
    assert "Recomendado para ti" in store
    assert "Camisa de lino" in store  # now the account's answer


def test_rejecting_in_the_banner_turns_recommendations_and_statistics_off(
    demo: Demo, browser: Browser
) -> None:
    text = choose_in_banner(browser, demo, choice="none")
    assert "Recommendations are off, as you chose." in text
    assert "This visit is not counted in the statistics: you objected." in text
    again = page_text(browser.get(f"{demo.home('store')}?privacy=choices").text)
    assert "Your privacy choices" in again  # reopened to change
    text = choose_in_banner(browser, demo, choice="save", personalization="on")
    assert "Linen shirt, size M" in text
    assert "This visit is not counted" in text


def test_a_visitors_gpc_signal_is_relayed_by_the_store_and_honoured(
    demo: Demo, browser: Browser
) -> None:
    runtime = demo.provider.runtime
    browser.http.headers["Sec-GPC"] = "1"
    text = choose_in_banner(browser, demo, choice="all")
    assert "Global Privacy Control signal is honoured" in text
    visitor = browser.http.cookies["demo_store_visitor"]
    key = runtime.anonymous_ids.verify(visitor, "store", utcnow()).key
    assert answer_of(runtime, key, "partner_sharing").reason == "denied"
    assert answer_of(runtime, key, "personalization").allowed  # the banner's own answer
    spanish = page_text(browser.get(f"{demo.home('store')}?lang=es").text)
    assert "Se respeta la señal Global Privacy Control" in spanish
    del browser.http.headers["Sec-GPC"]
    assert "Global Privacy Control" not in page_text(browser.get(demo.home("store")).text)


# -- languages: the switch (?lang=), then its cookie, then Accept-Language, as the provider --


def test_a_spanish_browser_gets_the_channels_in_spanish(demo: Demo) -> None:
    with httpx.Client(headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}) as http:
        for channel, title in (("store", "Tienda web"), ("app", "App de la tienda")):
            page = http.get(demo.home(channel))
            assert '<html lang="es">' in page.text
            text = page_text(page.text)
            assert title in text
            assert "No has iniciado sesión." in text
            assert "Not signed in" not in text
        overview = page_text(http.get(f"{demo.store_url}/").text)
        assert "Una cuenta, tres canales" in overview


def test_the_switch_wins_and_is_remembered_across_channels(demo: Demo) -> None:
    with httpx.Client(headers={"Accept-Language": "es"}) as http:
        switched = http.get(f"{demo.home('store')}?lang=en")
        assert "Not signed in." in page_text(switched.text)
        assert switched.cookies.get("demo_rp_lang") == "en"
        # Another channel on the same site, no ?lang= this time: the cookie decides.
        assert '<html lang="en">' in http.get(demo.home("app")).text


def test_the_provider_is_asked_for_the_same_language(demo: Demo) -> None:
    with httpx.Client(headers={"Accept-Language": "es"}) as http:
        start = http.get(f"{demo.home('store')}login")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["ui_locales"] == ["es"]


def test_an_unknown_language_falls_back_to_english(demo: Demo) -> None:
    with httpx.Client(headers={"Accept-Language": "de"}) as http:
        page = http.get(f"{demo.home('store')}?lang=xx")
    assert '<html lang="en">' in page.text
    assert "demo_rp_lang" not in page.cookies
