"""What an officer's audit search asks, checked, and where a page of results starts (pure).

The search form's fields, all optional text (``identity.audit.refs`` is the reference format):

============  =================================================================================
``subject``   whom entries are about: an account id, an email address (the service resolves it
              to the account; the address itself is never stored or audited), an anonymous id
              as a channel holds it (``a_…``) or its stored key (``a:…``), or a reference
              (``user:…``, ``visitor:a:…``, ``client:…``)
``action``    an action (``login.failed``) or a family (``login``)
``actor``     who acted: a reference (``user:…``, ``client:…``, ``operator:…``, ``system``,
              ``anonymous``), an account id or an email address
``client``    a client id: entries it made, entries about it, entries naming it
``from/to``   days in the display time zone, both included: ``YYYY-MM-DD`` (what a date input
              sends) or ``d/m/yyyy`` as Spanish speakers write it
``size``      entries per page, one of :data:`SIZES`
============  =================================================================================

Results are pages of the log in leaf order, newest first, by **keyset**: a page starts just
past a leaf index (never an OFFSET), so entries that arrive while an officer pages on are
above the first page and never shift a page's content, and nothing is shown twice or skipped.
The position travels as an opaque cursor: its direction and leaf index, with an HMAC that
also covers the search it belongs to; any other text is refused as :class:`BadCursor`.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal, TypeVar

from identity.accounts.rules import normalize_email
from identity.audit.refs import Ref
from identity.subjects.anonymous import key_of

SIZES = (10, 25, 50, 100)
DEFAULT_SIZE = 25
FIELDS = ("subject", "action", "actor", "client", "from", "to", "size")
MAX_INDEX = 2**62  # beyond any log; keeps every number a database can compare
MAX_FIELD = 320  # the longest email address; every other value is shorter

_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,64}")  # what a client id can be: printable, no space
_OPERATOR = re.compile(r"[\x21-\x7e]{1,64}")
_ANONYMOUS_KEY = re.compile(r"a:[A-Za-z0-9_-]{22}")
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_WRITTEN_DAY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
FIRST_YEAR, LAST_YEAR = 1970, 2999  # "to" is extended by a day: never near date.max

SUBJECT_KINDS = ("user", "client", "visitor")
ACTOR_KINDS = ("user", "client", "operator", "system", "anonymous")
PERSON_KINDS = ("user", "visitor")  # subjects with consent of their own

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Email:
    """An email address typed into the form: the service turns it into an account reference.
    Never stored, never audited, never put in a link."""

    address: str

    def __repr__(self) -> str:
        return "Email(…)"  # not even in a traceback


Term = str | Email  # a reference text (``user:…``), or an address to resolve


@dataclass(frozen=True, slots=True)
class Problem:
    """A field the officer must correct, and why (a code the page words)."""

    field: str
    code: str


class InvalidSearch(ValueError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(", ".join(f"{p.field}: {p.code}" for p in problems))
        self.problems = list(problems)


class BadCursor(ValueError):
    """The page link was edited, is from another search, or is not ours."""


@dataclass(frozen=True, slots=True)
class Search:
    subject: Term | None = None
    action: str | None = None
    actor: Term | None = None
    client: str | None = None
    since: date | None = None  # the form's "from": that day's start
    until: date | None = None  # the form's "to": that whole day included
    size: int = DEFAULT_SIZE

    @property
    def resolved(self) -> bool:
        """No email address is left to turn into an account."""
        return not isinstance(self.subject, Email) and not isinstance(self.actor, Email)

    @property
    def subject_ref(self) -> str | None:
        return _ref(self.subject)

    @property
    def actor_ref(self) -> str | None:
        return _ref(self.actor)

    def with_refs(self, subject: str | None, actor: str | None) -> Search:
        return replace(self, subject=subject, actor=actor)

    def describe(self) -> dict[str, str]:
        """The criteria as references and days (what the officer's audit entry keeps, and what
        a cursor is bound to). Only for a resolved search: an address never gets here."""
        values = {
            "subject": self.subject_ref,
            "action": self.action,
            "actor": self.actor_ref,
            "client": self.client,
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
        }
        return {k: str(v) for k, v in values.items() if v}

    def query(self) -> dict[str, str]:
        """The search as a link's query (resolved: references, ISO days, the size)."""
        return {**self.describe(), "size": str(self.size)}


def _ref(term: Term | None) -> str | None:
    if isinstance(term, Email):
        raise ValueError("resolve the email addresses first")
    return term


def parse_search(fields: Mapping[str, str]) -> Search:
    """The search the form's fields ask for (raises :class:`InvalidSearch` naming each field).

    ``fields`` maps names to the text sent (missing ones are empty)."""
    problems: list[Problem] = []

    def read(name: str, parse: Callable[[str], T]) -> T | None:
        text = _clean(fields.get(name, ""))
        if not text:
            return None
        try:
            return parse(text)
        except _Refused as refused:
            problems.append(Problem(name, refused.code))
            return None

    search = Search(
        subject=read("subject", subject_term),
        action=read("action", _action),
        actor=read("actor", _actor_term),
        client=read("client", _client),
        since=read("from", parse_day),
        until=read("to", parse_day),
        size=read("size", _size) or DEFAULT_SIZE,
    )
    if search.since and search.until and search.since > search.until:
        problems.append(Problem("to", "range_reversed"))
    if problems:
        raise InvalidSearch(problems)
    return search


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _clean(value: object) -> str:
    text = value if isinstance(value, str) else ""
    return text.replace("\x00", "").strip()


def subject_term(text: str) -> Term:
    """Whom an officer means by ``text`` (raises :class:`_Refused`; see the module table)."""
    if len(text) > MAX_FIELD:
        raise _Refused("subject_invalid")
    if "@" in text:
        return _email(text)
    if _uuid(text):
        return f"user:{_uuid(text)}"
    if text.startswith("a_"):
        key = key_of(text)
        if key is None:
            raise _Refused("anonymous_invalid")
        return f"visitor:{key}"
    if _ANONYMOUS_KEY.fullmatch(text):
        return f"visitor:{text}"
    return _reference(text, SUBJECT_KINDS, "subject_invalid")


def person_term(text: str) -> Term:
    """A subject with consent of their own: an account or an anonymous visitor."""
    term = subject_term(text)
    if isinstance(term, str) and not term.startswith(tuple(k + ":" for k in PERSON_KINDS)):
        raise _Refused("subject_not_person")
    return term


def parse_person(text: str) -> Term:
    """:func:`person_term` for a single field (raises :class:`InvalidSearch`)."""
    try:
        return person_term(_clean(text))
    except _Refused as refused:
        raise InvalidSearch([Problem("subject", refused.code)]) from None


def _actor_term(text: str) -> Term:
    if len(text) > MAX_FIELD:
        raise _Refused("actor_invalid")
    if "@" in text:
        return _email(text)
    if _uuid(text):
        return f"user:{_uuid(text)}"
    return _reference(text, ACTOR_KINDS, "actor_invalid")


def _email(text: str) -> Email:
    address = normalize_email(text)
    if address is None:
        raise _Refused("email_invalid")
    return Email(address)


def _uuid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text)) if len(text) in (32, 36) else None
    except ValueError:
        return None


def _reference(text: str, kinds: tuple[str, ...], code: str) -> str:
    """A reference of one of ``kinds``, in its one spelling (account ids canonical)."""
    try:
        ref = Ref.parse(text)
    except ValueError:
        raise _Refused(code) from None
    if ref.kind not in kinds:
        raise _Refused(code)
    value = ref.id or ""
    if ref.kind == "user":
        value = _uuid(value) or ""
    ok = {
        "user": bool(value),
        "client": bool(_CLIENT_ID.fullmatch(value)),
        "operator": bool(_OPERATOR.fullmatch(value)),
        "visitor": bool(_ANONYMOUS_KEY.fullmatch(value)),
    }.get(ref.kind, True)
    if not ok:
        raise _Refused(code)
    return str(Ref(ref.kind, value or None))


def _action(text: str) -> str:
    family = text.lower().rstrip(".")
    if len(family) > 64 or not _ACTION.fullmatch(family):
        raise _Refused("action_invalid")
    return family


def _client(text: str) -> str:
    client_id = text.removeprefix("client:")
    if not _CLIENT_ID.fullmatch(client_id):
        raise _Refused("client_invalid")
    return client_id


def _size(text: str) -> int:
    if not text.isdigit() or int(text) not in SIZES:
        raise _Refused("size_invalid")
    return int(text)


def parse_day(text: str) -> date:
    """A day as a date input sends it (``2026-12-01``) or as written in Spanish (``1/12/2026``)."""
    iso, written = _ISO_DAY.fullmatch(text), _WRITTEN_DAY.fullmatch(text)
    if iso:
        year, month, day = (int(g) for g in iso.groups())
    elif written:
        day, month, year = (int(g) for g in written.groups())
    else:
        raise _Refused("day_invalid")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise _Refused("day_invalid")
    try:
        return date(year, month, day)
    except ValueError:
        raise _Refused("day_invalid") from None


def day_range(since: date | None, until: date | None, tz: tzinfo) -> tuple[datetime | None, ...]:
    """The UTC instants a search by days means: from the start of ``since`` to the end of
    ``until`` (the start of the next day, excluded), both days in the display time zone."""

    def start(day: date) -> datetime:
        return datetime.combine(day, time(0), tz).astimezone(UTC)

    return (
        start(since) if since else None,
        start(until + timedelta(days=1)) if until else None,
    )


# -- keyset pages ------------------------------------------------------------------------------

Direction = Literal["older", "newer"]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: the entries older (or newer) than leaf ``index``."""

    direction: Direction
    index: int


def _fingerprint(search: Search) -> bytes:
    return json.dumps(search.describe(), sort_keys=True, separators=(",", ":")).encode()


def _mac(key: bytes, direction: str, index: int, search: Search) -> bytes:
    message = f"{direction}:{index}:".encode() + _fingerprint(search)
    return hmac.digest(key, message, "sha256")[:12]


def encode_cursor(cursor: Cursor, search: Search, key: bytes) -> str:
    """The opaque text of ``cursor`` for this search (a link's ``cursor`` parameter)."""
    head = f"{cursor.direction[0]}{cursor.index}"
    mac = _mac(key, cursor.direction, cursor.index, search)
    return f"{head}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def decode_cursor(text: str, search: Search, key: bytes) -> Cursor:
    """The cursor ``text`` stands for, if this server made it for this very search."""
    head, _, mac = text.partition(".")
    if len(text) > 64 or len(head) < 2 or head[0] not in "on" or not head[1:].isdigit():
        raise BadCursor("not a cursor")
    direction: Direction = "older" if head[0] == "o" else "newer"
    index = int(head[1:])
    if index > MAX_INDEX or head[1:] != str(index):
        raise BadCursor("not a cursor")
    expected = base64.urlsafe_b64encode(_mac(key, direction, index, search)).rstrip(b"=")
    if not hmac.compare_digest(expected, mac.encode("ascii", "replace")):
        raise BadCursor("not made for this search")
    return Cursor(direction, index)


@dataclass(frozen=True, slots=True)
class Window:
    """One page: the leaf indexes to show (newest first) and where the neighbours start."""

    indexes: list[int] = field(default_factory=list)
    older: Cursor | None = None
    newer: Cursor | None = None


def window(fetched: Sequence[int], cursor: Cursor | None, size: int) -> Window:
    """The page from up to ``size + 1`` indexes read in the cursor's direction (descending
    from the top or when going older, ascending when going newer): one more than shown tells
    whether the log goes on that way. Coming from one side, that side goes on."""
    going_newer = cursor is not None and cursor.direction == "newer"
    more = len(fetched) > size
    shown = list(fetched[:size])
    if going_newer:
        shown.reverse()
    if not shown:
        return Window()
    older_exists = (not going_newer and more) or going_newer
    newer_exists = (going_newer and more) or (cursor is not None and not going_newer)
    return Window(
        shown,
        Cursor("older", shown[-1]) if older_exists else None,
        Cursor("newer", shown[0]) if newer_exists else None,
    )
