"""Purposes are files: one TOML file per purpose in ``policies/``, validated at start-up.

A purpose file::

    id = "email_marketing"          # lower_snake_case, unique, equals the file name
    version = "1.0"                 # major.minor; a major bump makes earlier grants stale
    legal_basis = "consent"         # consent | legitimate_interest | contract
    category = "marketing"          # sale_or_share is what Global Privacy Control opts out of
    channel = "email"               # optional: email | sms (double opt-in and unsubscribe)
    default = false                 # the answer before the customer decided
    double_opt_in = true            # optional: a grant counts only once confirmed by link
    expires_after_days = 730        # optional: a grant lapses after this long
    changelog = ["1.1: ...", "1.0: ..."]  # newest first
    effective = 2026-11-23          # optional: the day this version took effect

    [title]
    en = "..."
    es = "..."
    [description]
    en = "..."
    es = "..."

    [[earlier]]                     # optional: each earlier version's text, newest first
    version = "1.0"
    effective = 2026-01-15
    title = { en = "...", es = "..." }
    description = { en = "...", es = "..." }

When a text changes, move the old one to ``[[earlier]]`` word for word: consent covers only
the text the customer saw, and receipts and the public policy page (``/privacy/purposes``)
show it from there. Its hash is the one computed while it was current (:class:`PolicyText`).
The legal basis belongs to the purpose, not to a version: a new basis is a new purpose.

A bad file stops the server with a message naming the file and the field;
``identity policies check`` runs the same validation without starting anything.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from identity.errors import NotFound

LOCALES = ("en", "es")
VERSION = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


class LegalBasis(StrEnum):
    consent = "consent"
    legitimate_interest = "legitimate_interest"
    contract = "contract"


class Localized(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    en: Annotated[str, Field(min_length=1, max_length=2000)]
    es: Annotated[str, Field(min_length=1, max_length=2000)]

    def get(self, locale: str) -> str:
        return self.es if locale == "es" else self.en


def version_key(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def version_anchor(purpose_id: str, version: str) -> str:
    """The fragment of one version on the policy page, e.g. ``personalization-v1.0``
    (purpose ids have no hyphen, so it cannot be mistaken for another purpose's)."""
    return f"{purpose_id}-v{version}"


class EarlierVersion(BaseModel):
    """A version that is no longer current, kept word for word (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, Field(pattern=VERSION.pattern)]
    effective: date
    title: Localized
    description: Localized


@dataclass(frozen=True)
class PolicyText:
    """One version of a purpose's text, and the days it was in force (``until``: the day the
    next version took effect; None while current)."""

    purpose_id: str
    version: str
    title: Localized
    description: Localized
    effective: date | None
    until: date | None
    current: bool
    change: str | None  # its changelog line, without the "1.1: " prefix

    @property
    def anchor(self) -> str:
        return version_anchor(self.purpose_id, self.version)

    def text(self, locale: str) -> str:
        return shown_text(self.title, self.description, locale)

    def text_hash(self, locale: str) -> str:
        return shown_hash(self.purpose_id, self.version, locale, self.text(locale))


def shown_text(title: Localized, description: Localized, locale: str) -> str:
    return f"{title.get(locale)}\n\n{description.get(locale)}"


def shown_hash(purpose_id: str, version: str, locale: str, text: str) -> str:
    """SHA-256 of exactly what the customer was shown (GDPR Art. 7(1): demonstrate it).
    Purpose, version and language are hashed with the text, so the hash names all four, and
    a version keeps its hash when it moves to ``[[earlier]]``."""
    shown = f"{purpose_id}@{version}\n{locale}\n{text}"
    return hashlib.sha256(shown.encode()).hexdigest()


class Purpose(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")]
    version: Annotated[str, Field(pattern=VERSION.pattern)]
    legal_basis: LegalBasis
    category: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")]
    channel: Literal["email", "sms"] | None = None
    default: bool
    double_opt_in: bool = False
    expires_after_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    changelog: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    title: Localized
    description: Localized
    effective: date | None = None
    earlier: list[EarlierVersion] = []

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.legal_basis is LegalBasis.contract and not self.default:
            raise ValueError(
                "a contract purpose is necessary for the contract: default must be true"
            )
        if self.legal_basis is LegalBasis.consent and self.default:
            raise ValueError("consent cannot be presumed: default must be false (GDPR Art. 4(11))")
        if self.double_opt_in and self.legal_basis is not LegalBasis.consent:
            raise ValueError("double_opt_in applies only to consent purposes")
        if self.double_opt_in and self.channel is None:
            raise ValueError("double_opt_in needs a channel (email or sms) to confirm through")
        return self._history_in_order()

    def _history_in_order(self) -> Self:
        if self.earlier and self.effective is None:
            raise ValueError("effective is needed when earlier versions are listed")
        newer_version, newer_day = self.version, self.effective
        for earlier in self.earlier:
            if version_key(earlier.version) >= version_key(newer_version):
                raise ValueError(
                    f"earlier version {earlier.version} must be older than {newer_version}"
                    " (earlier versions are listed newest first)"
                )
            if newer_day is not None and earlier.effective > newer_day:
                raise ValueError(
                    f"earlier version {earlier.version} takes effect after {newer_version}"
                )
            newer_version, newer_day = earlier.version, earlier.effective
        return self

    @cached_property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def switchable(self) -> bool:
        """Contract purposes are part of the purchase; everything else can be refused."""
        return self.legal_basis is not LegalBasis.contract

    @property
    def texts(self) -> list[PolicyText]:
        """Every version's text, the current one first. Not cached: ``model_copy`` would
        carry a cached list over to a copy with another version."""
        changes = {line.partition(":")[0].strip(): line for line in self.changelog}
        versions = [(self.version, self.effective, self.title, self.description)] + [
            (e.version, e.effective, e.title, e.description) for e in self.earlier
        ]
        texts, until = [], None
        for version, effective, title, description in versions:
            line = changes.get(version)
            texts.append(
                PolicyText(
                    purpose_id=self.id,
                    version=version,
                    title=title,
                    description=description,
                    effective=effective,
                    until=until,
                    current=version == self.version,
                    change=line.partition(":")[2].strip() if line else None,
                )
            )
            until = effective
        return texts

    def text_of(self, version: str) -> PolicyText | None:
        """The text of ``version``, if the purpose file still has it."""
        return next((t for t in self.texts if t.version == version), None)

    def text(self, locale: str) -> str:
        return shown_text(self.title, self.description, locale)

    def text_hash(self, locale: str) -> str:
        """SHA-256 of the current text as shown in ``locale`` (:func:`shown_hash`)."""
        return shown_hash(self.id, self.version, locale, self.text(locale))


def major_of(version: str) -> int:
    return int(version.split(".")[0])


class PolicyError(Exception):
    """A purpose file is missing, unreadable or invalid; the message names file and field."""


class UnknownPurpose(NotFound):
    slug = "unknown-purpose"
    title = "Unknown purpose"


@dataclass(frozen=True)
class Catalog:
    """Every purpose, by id, in a stable display order."""

    purposes: Mapping[str, Purpose]

    def get(self, purpose_id: str) -> Purpose | None:
        return self.purposes.get(purpose_id)

    def require(self, purpose_id: str) -> Purpose:
        purpose = self.purposes.get(purpose_id)
        if purpose is None:
            raise UnknownPurpose(f"no purpose {purpose_id!r}")
        return purpose

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.purposes.values())

    def __len__(self) -> int:
        return len(self.purposes)

    def in_category(self, category: str) -> list[Purpose]:
        return [p for p in self.purposes.values() if p.category == category]


ORDER = {LegalBasis.contract: 2, LegalBasis.consent: 0, LegalBasis.legitimate_interest: 1}


def load_catalog(directory: Path) -> Catalog:
    """Load and validate every ``*.toml`` in ``directory``; raise :class:`PolicyError`."""
    if not directory.is_dir():
        raise PolicyError(f"{directory}: the policies folder does not exist")
    purposes: dict[str, Purpose] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PolicyError(f"{path.name}: not valid TOML: {exc}") from exc
        try:
            purpose = Purpose.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"field {'.'.join(str(p) for p in e['loc']) or '(file)'}: "
                f"{e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise PolicyError(f"{path.name}: {problems}") from exc
        if purpose.id != path.stem:
            raise PolicyError(f"{path.name}: field id: must equal the file name ({path.stem!r})")
        purposes[purpose.id] = purpose
    if not purposes:
        raise PolicyError(f"{directory}: no purpose files (*.toml)")
    ordered = sorted(purposes.values(), key=lambda p: (ORDER[p.legal_basis], p.id))
    return Catalog({p.id: p for p in ordered})
