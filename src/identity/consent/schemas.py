"""Pydantic shapes of the consent API (``/v1``). Field names are part of the stable API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class LocalizedText(BaseModel):
    en: str
    es: str


class PurposeOut(BaseModel):
    id: str
    version: str
    legal_basis: Literal["consent", "legitimate_interest", "contract"]
    category: str
    channel: str | None
    default: bool
    double_opt_in: bool
    expires_after_days: int | None
    switchable: bool
    title: LocalizedText
    description: LocalizedText


class DecisionOut(BaseModel):
    """May this be done for this customer now, and the record that proves why."""

    subject: str
    purpose: str
    allowed: bool
    reason: str = Field(
        description="granted, contract, legitimate_interest, default, not_asked, "
        "pending, denied, withdrawn, objected, expired or stale"
    )
    legal_basis: str
    version: str = Field(description="the purpose version the answer rests on")
    current_version: str
    status: str | None = Field(
        description="granted, pending, denied or withdrawn; null if never asked"
    )
    decided_at: datetime | None
    expires_at: datetime | None
    record_id: int | None
    unsubscribe_url: str | None = None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subjects: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1)
    ]
    purposes: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=50)
    ]


class BatchOut(BaseModel):
    decisions: list[DecisionOut]
    unknown_subjects: list[str] = Field(description="subjects this client cannot resolve")


class RecordOut(BaseModel):
    id: int
    subject: str
    purpose: str
    purpose_version: str
    decision: str
    pending: bool
    source: str
    collected_at: datetime
    recorded_at: datetime
    expires_at: datetime | None
    language: str | None
    text_hash: str | None
    cursor: int | None = Field(
        description="the record's position in the change feed; null for the moment between "
        "its commit and its placement in the audit log (well under a second)"
    )


class SubjectOut(BaseModel):
    subject: str
    decisions: list[DecisionOut]
    history: list[RecordOut]


class RecordIn(BaseModel):
    """A decision collected by a service (in-store POS, call centre), with its evidence."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["granted", "denied", "withdrawn"]
    collected_at: AwareDatetime | None = Field(
        default=None,
        description="when the customer decided, with its time zone; default now. Not in the "
        "future, nor older than the deployment's limit (IDENTITY_CONSENT_COLLECTED_MAX_AGE)",
    )
    language: Literal["en", "es"] | None = None
    text_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None,
        description="SHA-256 of the text shown; default: the purpose text in `language`",
    )
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description="e.g. store id, employee id, form id; `ip` and `user_agent`, when given, "
        "are the customer's (stored as reported by this client, the IP only as a keyed hash). "
        "Not the customer's name, email, phone or address: records outlive an erasure, which "
        "scrubs such values",
    )


class MyChoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed: bool


class RecordedOut(BaseModel):
    record: RecordOut
    decision: DecisionOut


class ChangesOut(BaseModel):
    items: list[RecordOut]
    next_cursor: int = Field(description="pass as `after` to resume; unchanged when no items")


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=8, max_length=2000)]
    purposes: list[str] = Field(default_factory=list, description="empty: every purpose")


class WebhookOut(BaseModel):
    id: str
    url: str
    purposes: list[str]
    created_at: datetime
    secret: str | None = Field(default=None, description="shown once, at creation")


class DeliveryOut(BaseModel):
    id: str
    created_at: datetime
    attempts: int
    status: Literal["delivered", "pending", "failed"]
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
