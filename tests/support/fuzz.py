"""Hypothesis strategies for hostile form and query input, and a harness that sends each
generated request from an anonymous browser or from a signed-in one holding a valid CSRF
token (so the input reaches the handlers, not only the first check).

Each endpoint is described by a :class:`Form`: a valid request (a registered client, a
real code, the browser's CSRF token) and what each parameter may be swapped for. Hypothesis
mutates it at random (a value swapped for a hostile one, a parameter dropped, repeated or
added, the body encoded wrongly, an odd header); hostile text has quotes, backslashes, NUL
and other control characters, non-ASCII, very long runs. A deterministic sweep also makes
each parameter in turn hostile in each of the ways that have broken something before.

The app is built once per test function and reused across examples (hence the suppressed
``function_scoped_fixture`` health check in :data:`FUZZ`): :meth:`Browsers.send` puts each
browser's cookies back, and signs the customer in again when the fuzz signed them out.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from identity.context import Origin
from identity.runtime import Runtime
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token

# Fixed example counts and no deadline keep the run's length predictable on a shared
# machine; derandomized, so what fails once fails on every run and every machine.
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

Pairs = list[tuple[str, str]]
Headers = tuple[tuple[str, bytes], ...]


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, picked in proportion to its weight (shrinking to the first)."""
    return st.sampled_from([s for w, s in choices for _ in range(w)]).flatmap(lambda s: s)


# -- values ---------------------------------------------------------------------------------

SPECIALS = [
    '"', "'", "\\", "\x00", "\x01", "\x08", "\x1b", "\x7f", "\r\n", "\n", "\t", " ",
    "é", "ß", "漢", "💥", "\u202e", "\ufeff", "\u2028", "\ufffd",
    "%", "%00", "%ZZ", "%FF", "&", "=", "+", "#", "?", "/", "..", ";", ",",
    "<script>", "{", "}", "[]", "${x}", "{{7*7}}", "null", "-1", "0", "1e999",
]  # fmt: skip

#: What broke something before: a quote or backslash or non-ASCII in an error text, a NUL
#: or more than 255 characters in a PostgreSQL column.
CULPRITS = ['"', "\\", "é", "\x00", "x" * 256]

#: Long runs, around the lengths the code cuts at (320, 2000, 8000) and rarely far beyond.
_long = st.tuples(
    st.sampled_from([321, 2001, 8001, 8001, 8001, 100_000]),
    st.sampled_from(["x", "é", '"', "%", "\x00"]),
).map(lambda nc: nc[1] * nc[0])

#: Text an attacker may send: any code point but surrogates, the usual suspects, long runs.
nasty = st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(SPECIALS), min_size=1, max_size=6).map("".join),
    st.tuples(st.text(max_size=12), st.sampled_from(SPECIALS)).map("".join),
    _long,
)


def value(*plausible: str) -> st.SearchStrategy[str]:
    """Another plausible value, one with a hostile tail or head, or hostile text."""
    if not plausible:
        return nasty
    good = st.sampled_from(plausible)
    specials = st.sampled_from(SPECIALS)
    return weighted(
        (2, good),
        (2, st.tuples(good, st.sampled_from(CULPRITS)).map("".join)),
        (2, st.tuples(good, specials).map("".join)),
        (1, st.tuples(specials, good).map("".join)),
        (3, nasty),
    )


@st.composite
def mutated(
    draw: Any,
    base: Sequence[tuple[str, str]],
    alternatives: Mapping[str, st.SearchStrategy[str]],
) -> Pairs:
    """``base`` with a few changes, mostly one: a value replaced (from ``alternatives``), a
    parameter dropped or repeated, an optional (``alternatives``) or unknown one added."""
    pairs = list(base)
    optional = sorted(alternatives)
    changes = draw(weighted((1, st.just(0)), (6, st.just(1)), (3, st.just(2)), (2, st.just(3))))
    for _ in range(changes):
        op = draw(st.sampled_from(["replace"] * 5 + ["drop", "repeat", "add", "add"]))
        if op == "add" or not pairs:
            key = draw(weighted((4, st.sampled_from(optional)), (1, nasty)) if optional else nasty)
            pairs.append((key, draw(alternatives.get(key, nasty))))
            continue
        i = draw(st.integers(0, len(pairs) - 1))
        key = pairs[i][0]
        if op == "drop":
            del pairs[i]
        elif op == "repeat":
            pairs.insert(i + 1, (key, draw(alternatives.get(key, nasty))))
        else:
            pairs[i] = (key, draw(alternatives.get(key, nasty)))
    return pairs


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def json_values() -> st.SearchStrategy[Any]:
    scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), nasty)
    return st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(nasty, inner, max_size=2)
        ),
        max_leaves=4,
    )


def _jwt_part() -> st.SearchStrategy[str]:
    """One base64url part: a JSON object with odd members, other JSON, or not JSON at all."""
    members = st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "iss", "sub", "aud", "exp", "jti", "crit", "x"]),
        json_values(),
        max_size=5,
    )
    return st.one_of(
        members.map(lambda d: b64url(json.dumps(d).encode())),
        json_values().map(lambda v: b64url(json.dumps(v).encode())),
        st.binary(max_size=40).map(b64url),
        nasty,
    )


def _jwt(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}.c2ln"


#: Something shaped like a compact JWT that no key of ours signed: mostly a JSON header
#: with an odd ``kid`` (the lookup that fails first, and names the kid) or odd claims.
forged_jwt = weighted(
    (1, st.tuples(_jwt_part(), _jwt_part(), _jwt_part()).map(".".join)),
    (
        3,
        st.builds(
            _jwt,
            st.fixed_dictionaries(
                {
                    "alg": st.sampled_from(["RS256", "ES256", "HS256", "none", "RS512"]),
                    "kid": weighted((3, nasty), (1, json_values())),
                },
                optional={"typ": st.sampled_from(["JWT", "at+jwt", "logout+jwt"])},
            ),
            st.fixed_dictionaries({}, optional={k: json_values() for k in ("iss", "sub", "aud")}),
        ),
    ),
)


# -- bodies, queries, headers -----------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MULTIPART = "multipart/form-data"
CONTENT_TYPES = [
    f"{FORM}; charset=latin-1",
    MULTIPART,
    f"{MULTIPART}; boundary=b",
    JSON,
    "text/plain",
    "application/octet-stream",
    "x/\x7f",
    "",
]


@dataclass(frozen=True)
class Body:
    """What goes on the wire: the pairs (and the CSRF field, if any) as a form, as
    multipart with a file part, as JSON, or raw bytes instead; and a content type."""

    pairs: tuple[tuple[str, str], ...] = ()
    encoding: str = "form"  # form | multipart | json | raw
    content_type: str | None = FORM
    raw: bytes = b""

    def encode(self, extra: Sequence[tuple[str, str]] = ()) -> bytes:
        pairs = [*extra, *self.pairs]
        if self.encoding == "multipart":
            parts = [
                f'--b\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                for k, v in pairs
            ]
            parts.append(
                '--b\r\nContent-Disposition: form-data; name="f"; filename="a\\"b"\r\n\r\nx\r\n'
            )
            return ("".join(parts) + "--b--\r\n").encode()
        if self.encoding == "json":
            return json.dumps(dict(pairs)).encode()
        if self.encoding == "raw":
            return self.raw
        return urlencode(pairs).encode()


def bodies(pairs: st.SearchStrategy[Pairs]) -> st.SearchStrategy[Body]:
    """Mostly a well-formed form; else a wrong content type, multipart, JSON or binary."""
    return weighted(
        (12, pairs.map(lambda p: Body(tuple(p)))),
        (2, pairs.map(lambda p: Body(tuple(p), "multipart", f"{MULTIPART}; boundary=b"))),
        (
            2,
            st.builds(
                lambda p, c: Body(tuple(p), content_type=c or None),
                pairs,
                st.sampled_from(CONTENT_TYPES),
            ),
        ),
        (1, pairs.map(lambda p: Body(tuple(p), "json", content_type=JSON))),
        (
            1,
            st.builds(
                lambda b, c: Body(encoding="raw", raw=b, content_type=c or None),
                st.binary(max_size=200),
                st.sampled_from([FORM, *CONTENT_TYPES]),
            ),
        ),
    )


def query_strings(pairs: st.SearchStrategy[Pairs]) -> st.SearchStrategy[str]:
    """An encoded query, or raw bytes of one (bad percent escapes, bare ``&`` and ``=``)."""
    raw = st.text(alphabet=st.sampled_from("ab=&%;+?#/.-_~0123456789ZF[]"), max_size=40).map(
        lambda s: quote(s, safe="=&%;+?/[]")
    )
    return weighted((6, pairs.map(urlencode)), (1, raw))


def header_value() -> st.SearchStrategy[bytes]:
    """Header bytes as a client can send them: UTF-8 or Latin-1, no CR, LF or NUL."""
    text = value().map(lambda s: s.translate({0: None, 10: None, 13: None})[:8000])
    return st.one_of(
        text.map(lambda s: s.encode()), text.map(lambda s: s.encode("latin-1", "replace"))
    )


def page_headers() -> st.SearchStrategy[Headers]:
    """Usually none; else odd values for the headers pages and sessions look at."""
    odd = st.fixed_dictionaries(
        {},
        optional={
            "accept-language": header_value(),
            "sec-gpc": st.sampled_from([b"1", b"0", b" 1 "]),
            "user-agent": header_value(),
            "origin": st.sampled_from([b"http://testserver", b"null", b"https://evil.example"]),
            "sec-fetch-site": st.sampled_from([b"same-origin", b"cross-site", b"none"]),
            "x-request-id": header_value(),
            "content-length": st.sampled_from([b"0", b"-1", b"99999999999", b"x"]),
        },
    ).map(lambda d: tuple(d.items()))
    return weighted((3, st.just(())), (1, odd))


# -- requests -------------------------------------------------------------------------------

#: RFC 9110 §5.5 field-value, as h11 (uvicorn) enforces it before sending a response.
FIELD_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?")
MAX_QUERY = 16_000  # servers refuse longer request lines before the app sees them (h11)
CSRF_VALID = "\x00valid"  # placeholder: replaced by the sending browser's own token


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str = ""
    body: Body | None = None
    headers: Headers = ()
    csrf: str | None = None  # CSRF_VALID, another value, or no field
    signed_in: bool = False  # sent by the signed-in browser, else by the anonymous one

    def describe(self) -> str:
        body = self.body.encode()[:300] if self.body else b""
        query = self.query[:300]
        who = "signed in" if self.signed_in else "anonymous"
        return f"{who}: {self.method} {self.path}?{query} headers={self.headers!r} body={body!r}"


def csrf_choice() -> st.SearchStrategy[str | None]:
    """Mostly the browser's valid token (to get past the check), else none or a wrong one."""
    return weighted((8, st.just(CSRF_VALID)), (1, st.none()), (1, nasty))


#: The sweep's changes to one parameter at a time (besides sending it twice).
SWEEP: Mapping[str, Callable[[str], str]] = {
    "quote, backslash, é": lambda v: v + '"\\é',  # Authlib refuses them in an error text
    "NUL": lambda v: v + "\x00",  # PostgreSQL text cannot hold one
    "256 characters": lambda v: "x" * 256,  # more than a String(255) column holds
    "empty": lambda v: "",
}


@dataclass(frozen=True)
class Form:
    """An endpoint's valid request, how it is sent, and what each parameter may be
    swapped for. :meth:`calls` mutates it at random; :meth:`sweep` changes each parameter
    in turn in each of the :data:`SWEEP` ways, and repeats it."""

    method: str
    path: str
    base: tuple[tuple[str, str], ...] = ()
    alternatives: Mapping[str, st.SearchStrategy[str]] = field(default_factory=dict)
    headers: Headers = ()
    #: Client authentication to swap in now and then (the back-channel endpoints); the
    #: browser endpoints get odd page headers instead.
    odd_headers: st.SearchStrategy[Headers] | None = None
    csrf: bool = False  # a page form: the browser's CSRF token goes with it (mostly)
    #: Parameters whose base value must be new for each request (a client assertion's jti).
    fresh: Mapping[str, Callable[[], str]] = field(default_factory=dict)
    paths: st.SearchStrategy[str] | None = None  # odd paths, for the path parameters

    def _base(self) -> Pairs:
        return [(k, self.fresh[k]() if k in self.fresh else v) for k, v in self.base]

    def calls(self) -> st.SearchStrategy[Call]:
        @st.composite
        def calls(draw: Any) -> Call:
            pairs = draw(mutated(self._base(), self.alternatives))
            path = draw(self.paths) if self.paths is not None else self.path
            if self.odd_headers is None:
                headers = (*self.headers, *draw(page_headers()))
            else:
                headers = draw(weighted((4, st.just(self.headers)), (1, self.odd_headers)))
            common = {"headers": tuple(headers), "signed_in": draw(st.booleans())}
            if self.method == "GET":
                return Call("GET", path, query=draw(query_strings(st.just(pairs))), **common)
            csrf = draw(csrf_choice()) if self.csrf else None
            return Call("POST", path, body=draw(bodies(st.just(pairs))), csrf=csrf, **common)

        return calls()

    def sweep(self) -> Iterator[Call]:
        for i, (key, original) in enumerate(self._base()):
            for change in SWEEP.values():
                pairs = self._base()
                pairs[i] = (key, change(original))
                yield self.call(pairs)
            pairs = self._base()
            pairs.insert(i, (key, original))
            yield self.call(pairs)

    def call(self, pairs: Pairs) -> Call:
        """A well-formed request with these pairs, from the signed-in browser."""
        if self.method == "GET":
            return Call("GET", self.path, query=urlencode(pairs), signed_in=True)
        csrf = CSRF_VALID if self.csrf else None
        return Call("POST", self.path, body=Body(tuple(pairs)), headers=self.headers,
                    csrf=csrf, signed_in=True)  # fmt: skip


# -- the browsers the requests come from ------------------------------------------------------


@dataclass
class Browser:
    client: TestClient
    cookies: dict[str, str] = field(default_factory=dict)
    token: str = ""


@dataclass
class Browsers:
    """An anonymous browser and a signed-in one, each with its CSRF cookie and token."""

    runtime: Runtime
    anonymous: Browser
    signed_in: Browser
    email: str
    logged_errors: Callable[[], list[logging.LogRecord]]
    sign_ins: int = 0

    @property
    def session_cookie(self) -> str:
        return self.runtime.session_cookie.name

    def sign_in(self) -> None:
        # Through the service, from an address of its own: the fuzzed /login posts may well
        # have the browsers' address throttled by now.
        self.sign_ins += 1
        logged_in = self.runtime.accounts.login(
            email=self.email,
            password=DEFAULT_PASSWORD,
            origin=Origin(ip=f"192.0.2.{self.sign_ins % 250}", user_agent="fuzz"),
            previous_cookie=None,
        )
        self.signed_in.cookies[self.session_cookie] = logged_in.cookie_value

    def restore(self, browser: Browser) -> None:
        if browser is self.signed_in:
            current = self.runtime.accounts.current(browser.cookies.get(self.session_cookie))
            if current is None:  # the fuzz signed it out (logout, "use another account", ...)
                self.sign_in()
        browser.client.cookies.clear()
        for name, cookie in browser.cookies.items():
            browser.client.cookies.set(name, cookie)

    def send(self, call: Call, browser: Browser) -> Any:
        self.restore(browser)
        extra: Pairs = []
        if call.csrf is not None:
            extra.append(("csrf_token", browser.token if call.csrf == CSRF_VALID else call.csrf))
        headers = dict(call.headers)
        content = None
        if call.body is not None:
            content = call.body.encode(extra)
            if call.body.content_type is not None:
                headers["content-type"] = call.body.content_type.encode()
        query = call.query[:MAX_QUERY]
        url = call.path + (f"?{query}" if query else "")
        return browser.client.request(call.method, url, content=content, headers=headers)

    def check(self, call: Call) -> None:
        """Never a 5xx, and nothing logged as an unhandled error."""
        before = len(self.logged_errors())
        response = self.send(call, self.signed_in if call.signed_in else self.anonymous)
        errors = self.logged_errors()[before:]
        report = (call.describe(), response.status_code, response.text[:300])
        assert response.status_code < 500, report
        # The test client passes on headers a server would refuse to send (and so fail).
        bad = [(k, v) for k, v in response.headers.raw if not FIELD_VALUE.fullmatch(v)]
        assert not bad, (*report, bad)
        assert not errors, (*report, [logging.Formatter().format(r)[-3000:] for r in errors])


def open_browsers(app: Any, runtime: Runtime, email: str, caplog: Any) -> Iterator[Browsers]:
    """For a fixture: both browsers, ``email`` signed in on one (its password is the
    default one of ``make_user``)."""
    caplog.set_level(logging.ERROR)
    with (
        TestClient(app, base_url="http://testserver", follow_redirects=False) as anonymous,
        TestClient(app, base_url="http://testserver", follow_redirects=False) as signed_in,
    ):
        browsers = Browsers(
            runtime,
            Browser(anonymous),
            Browser(signed_in),
            email,
            lambda: [r for r in caplog.records if r.levelno >= logging.ERROR],
        )
        for browser in (browsers.anonymous, browsers.signed_in):
            browser.token = csrf_token(browser.client)
            browser.cookies = dict(browser.client.cookies.items())
        browsers.sign_in()
        yield browsers
