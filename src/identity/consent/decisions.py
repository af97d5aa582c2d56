"""The consent read model: every answer to "may we do this, for this customer, now?".

One path for every reader (the decision endpoints, the subject overview, ``/v1/me``, the
preference center, re-consent at sign-in): the caller's subject names are resolved by the one
:class:`~identity.subjects.service.SubjectResolver`, the current-state rows are read from the
one :class:`~identity.consent.states.StateStore`, the decision table is
:func:`identity.consent.rules.verdict`, and :func:`answer` is the one shape of an answer
(JSON-ready: the API sends it as is, pages show it).

A state row exists only for a known subject (it is written with a record, and erasure deletes
both), so a subject is looked up among the accounts only when none of its asked purposes has a
row: the most frequent request, a subject that has decided, costs one indexed lookup.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from identity.consent.coalescer import Row
from identity.consent.ledger import Recorded
from identity.consent.policy import Catalog, LegalBasis, Purpose
from identity.consent.rules import verdict
from identity.consent.states import AWARE, StateStore, Times
from identity.db import utcnow
from identity.errors import InvalidInput, NotFound
from identity.oidc.bearer import Caller
from identity.subjects.rules import Audience
from identity.subjects.service import SubjectResolver

READ = "consent:read"
UNKNOWN_SUBJECT = "no customer with that subject id is known to this client"

_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps would build one per call


def dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


class UnknownSubject(NotFound):
    slug = "unknown-subject"
    title = "Unknown subject"


def answer(
    name: str, purpose: Purpose, row: Row | None, now: Any, times: Times, unsubscribe: str | None
) -> dict[str, Any]:
    """The answer for one current-state row ``(status, version, decided_at, expires_at,
    record_id)`` in the store's own forms; ``row`` None: never asked. Field names are part of
    the stable API (``DecisionOut`` describes them)."""
    if row is None:
        allowed, reason = verdict(purpose, None, None, False)
        status, version, decided_at, expires_at, record_id = None, purpose.version, None, None, None
    else:
        status, version, decided_at, expires_at, record_id = row
        expired = expires_at is not None and expires_at <= now
        allowed, reason = verdict(purpose, status, version, expired)
    return {
        "subject": name,
        "purpose": purpose.id,
        "allowed": allowed,
        "reason": reason,
        "legal_basis": purpose.legal_basis.value,
        "version": version,
        "current_version": purpose.version,
        "status": status,
        "decided_at": times.iso(decided_at),
        "expires_at": times.iso(expires_at),
        "record_id": record_id,
        "unsubscribe_url": unsubscribe,
    }


class Decisions:
    def __init__(
        self,
        *,
        catalog: Catalog,
        store: StateStore,
        resolver: SubjectResolver,
        unsubscribe_url: Callable[[str, str], str],
        batch_max: int,
    ) -> None:
        self.catalog = catalog
        self._store = store
        self._resolver = resolver
        self._unsubscribe_url = unsubscribe_url
        self._batch_max = batch_max

    def purpose(self, purpose_id: str) -> Purpose:
        return self.catalog.require(purpose_id)

    def _answer(
        self, name: str, key: str, purpose: Purpose, row: Row | None, now: Any, times: Times
    ) -> Any:
        unsubscribe = (
            self._unsubscribe_url(key, purpose.id)
            if purpose.channel and purpose.switchable
            else None
        )
        return answer(name, purpose, row, now, times, unsubscribe)

    # -- for a calling client ----------------------------------------------------------------

    def key(self, client: Audience, name: str) -> str:
        """The stored subject a client's name stands for, if it exists (raises)."""
        key = self._resolver.keys(client, [name]).get(name)
        if key is None or not self._resolver.existing([key]):
            raise UnknownSubject(UNKNOWN_SUBJECT)
        return key

    async def one(self, caller: Caller, name: str, purpose_id: str) -> bytes:
        """``GET /v1/consents/{subject}/{purpose}``: the answer as JSON."""
        caller.require(READ)
        purpose = self.purpose(purpose_id)
        key = self._resolver.keys(caller.client, [name]).get(name)
        if key is None:
            raise UnknownSubject(UNKNOWN_SUBJECT)
        row = await self._store.row((key, purpose.id))
        if row is None and not await asyncio.to_thread(self._resolver.existing, [key]):
            raise UnknownSubject(UNKNOWN_SUBJECT)
        store = self._store
        return dumps(self._answer(name, key, purpose, row, store.now_key(utcnow()), store))

    async def many(self, caller: Caller, names: Sequence[str], purpose_ids: Sequence[str]) -> bytes:
        """``POST /v1/consents:decide``: every (subject, purpose) answer, and the names this
        client cannot resolve."""
        caller.require(READ)
        unique = list(dict.fromkeys(names))
        if len(unique) > self._batch_max:
            raise InvalidInput(f"at most {self._batch_max} subjects per call")
        purposes = [self.purpose(p) for p in dict.fromkeys(purpose_ids)]
        keys = self._resolver.keys(caller.client, unique)
        wanted = set(keys.values())
        rows = await self._store.rows_async(wanted, [p.id for p in purposes])
        known = {k for k, _ in rows}
        if wanted - known:
            known |= await asyncio.to_thread(self._resolver.existing, wanted - known)
        now = self._store.now_key(utcnow())
        build, decisions, unknown = self._answer, [], []
        for name in unique:
            key = keys.get(name)
            if key is None or key not in known:
                unknown.append(name)
                continue
            decisions.extend(
                build(name, key, p, rows.get((key, p.id)), now, self._store) for p in purposes
            )
        return dumps({"decisions": decisions, "unknown_subjects": unknown})

    # -- for one stored subject (overview, pages, after a write) ------------------------------

    def answers_for(
        self, key: str, name: str | None = None, purposes: Sequence[Purpose] | None = None
    ) -> list[tuple[Purpose, dict[str, Any]]]:
        """Every purpose's answer for a subject (named ``name`` for the reader)."""
        asked = list(purposes) if purposes is not None else list(self.catalog)
        rows = self._store.rows([key], [p.id for p in asked])
        now = self._store.now_key(utcnow())
        return [
            (p, self._answer(name or key, key, p, rows.get((key, p.id)), now, self._store))
            for p in asked
        ]

    def after_write(self, recorded: Recorded, name: str) -> dict[str, Any]:
        """The answer a write leads to: from the state it projected when that is the
        subject's state as the write committed (no read), else as read now."""
        key, purpose = recorded.record.subject, recorded.purpose
        if not recorded.current:
            return self.answers_for(key, name, [purpose])[0][1]
        return self._answer(
            name, key, purpose, recorded.state_row(), AWARE.now_key(utcnow()), AWARE
        )

    def to_reconfirm(self, key: str) -> list[Purpose]:
        """Consents given for an older major version, or expired: asked again at sign-in."""
        return [
            p
            for p, a in self.answers_for(key)
            if p.legal_basis is LegalBasis.consent and a["reason"] in ("stale", "expired")
        ]
