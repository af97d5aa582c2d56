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

    [title]
    en = "..."
    es = "..."
    [description]
    en = "..."
    es = "..."

A bad file stops the server with a message naming the file and the field;
``identity policies check`` runs the same validation without starting anything.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
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
        return self

    @cached_property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def switchable(self) -> bool:
        """Contract purposes are part of the purchase; everything else can be refused."""
        return self.legal_basis is not LegalBasis.contract

    def text(self, locale: str) -> str:
        return f"{self.title.get(locale)}\n\n{self.description.get(locale)}"

    def text_hash(self, locale: str) -> str:
        """SHA-256 of exactly what the customer was shown (GDPR Art. 7(1): demonstrate it)."""
        shown = f"{self.id}@{self.version}\n{locale}\n{self.text(locale)}"
        return hashlib.sha256(shown.encode()).hexdigest()


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
