"""Passkey use cases: register one from the account page, sign in with one, list, rename and
remove them.

Each ceremony is "issue, consume, verify, settle". Issuing stores the challenge (its digest)
bound to the browser's passkey cookie and, for a registration, to the account. Presenting a
response first *consumes* the challenge in a transaction of its own, found by the challenge
the browser signed and deleted whatever happens next: one try per challenge, so a replayed
response, or one presented from another browser, finds nothing. py_webauthn then verifies it
with no database lock held, and a last transaction stores the result (the new credential, or
the new sign count and the session).

Adding or removing a passkey changes how the account is entered, so a sign-in older than a
few minutes is confirmed with the password first (:meth:`AccountService.reauthenticate`,
throttled as sign-in is). Renaming needs no password: it only changes a label.

A passkey sign-in is a whole sign-in: the key and the user's verification are two factors,
so an account with an authenticator app is not asked for its code as well. It goes through
:meth:`SignIn.open_session` like a password sign-in, with ``amr`` from
:func:`identity.passkeys.rules.amr_for`. A sign count that goes backwards (a cloned key, or a
broken authenticator) refuses the sign-in, is audited as ``passkey.failed`` with reason
``sign_count``, and leaves the stored count as it was: the shopper signs in another way and
removes that passkey.

Audit actions: ``passkey.registered``, ``passkey.renamed``, ``passkey.removed``,
``passkey.failed`` (``stage`` register or sign_in, and the ``reason``), and
``login.succeeded`` with the passkey's ``amr``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.models import User
from identity.accounts.rules import describe_user_agent
from identity.accounts.service import AccountDisabled, AccountService, LoggedIn
from identity.audit.refs import ANONYMOUS, Actor, Subject
from identity.context import CurrentSession, Origin
from identity.crypto import Pseudonyms, token_digest
from identity.db import Database, delete_batch, utcnow
from identity.errors import Conflict, NotFound, Unauthenticated
from identity.passkeys import ceremony
from identity.passkeys.ceremony import Refused, RelyingParty
from identity.passkeys.models import PasskeyChallenge, PasskeyCredential
from identity.passkeys.rules import (
    CHALLENGE_TTL,
    PASSKEYS_MAX,
    Purpose,
    amr_for,
    challenge_expired,
    clean_name,
    device_label,
    needs_password,
    sign_count_ok,
)
from identity.settings import Settings

EXPIRED_BATCH = 100  # expired challenges deleted by each new one (they answer nothing)


class PasskeyRefused(Unauthenticated):
    """The browser's answer was not accepted (``reason``: see :mod:`ceremony` and below)."""

    slug = "passkey-refused"
    title = "That passkey could not be used"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReauthenticationRequired(Unauthenticated):
    """The sign-in is not recent: the password is needed first."""

    slug = "reauthentication-required"
    title = "Confirm your password first"


class NoSuchPasskey(NotFound):
    slug = "no-such-passkey"
    title = "No such passkey"


class TooManyPasskeys(Conflict):
    slug = "too-many-passkeys"
    title = "This account has as many passkeys as it may have"


@dataclass(frozen=True, slots=True)
class PasskeyView:
    id: uuid.UUID
    name: str | None
    device: str
    multi_device: bool
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Consumed:
    purpose: str
    user_id: uuid.UUID | None
    challenge: bytes


class Passkeys:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        accounts: AccountService,
        pseudonyms: Pseudonyms,
    ) -> None:
        self._db = db
        self._accounts = accounts
        self._pseudonyms = pseudonyms
        self.rp = RelyingParty.for_issuer(settings.issuer, settings.brand_name)

    # -- reading --------------------------------------------------------------------------

    def of_user(self, user_id: uuid.UUID) -> list[PasskeyView]:
        with self._db.read() as session:
            rows = session.scalars(
                select(PasskeyCredential)
                .where(PasskeyCredential.user_id == user_id)
                .order_by(PasskeyCredential.created_at, PasskeyCredential.id)
            )
            return [_view(row) for row in rows]

    def needs_password(self, current: CurrentSession) -> bool:
        return needs_password(current.session.auth_time, utcnow())

    # -- registration ---------------------------------------------------------------------

    def begin_registration(
        self, current: CurrentSession, browser: str, password: str, origin: Origin
    ) -> str:
        """Options for the browser to create a passkey for this account. A sign-in that is
        not recent needs ``password`` (raises :class:`ReauthenticationRequired` without it,
        ``LoginFailed`` or ``TooManyAttempts`` from the password check)."""
        if self.needs_password(current):
            if not password:
                raise ReauthenticationRequired()
            self._accounts.reauthenticate(current, password, origin)
        user = current.user
        with self._db.read() as session:
            existing = list(
                session.scalars(
                    select(PasskeyCredential.credential_id).where(
                        PasskeyCredential.user_id == user.id
                    )
                )
            )
        if len(existing) >= PASSKEYS_MAX:
            raise TooManyPasskeys()
        options = ceremony.registration_options(
            self.rp,
            user_handle=user.id.bytes,
            user_name=user.email,
            display_name=user.name,
            exclude=existing,
        )
        self._issue(options.challenge, Purpose.register, browser, user.id)
        return options.json

    def finish_registration(
        self, current: CurrentSession, browser: str, credential_json: str, name: str, origin: Origin
    ) -> PasskeyView:
        """Verify the new credential and keep it; raises :class:`PasskeyRefused`."""
        user_id = current.user.id
        try:
            consumed = self._consume(credential_json, Purpose.register, browser)
            if consumed.user_id != user_id:
                raise Refused("wrong_account")  # issued to another account's page
            new = ceremony.verify_registration(self.rp, credential_json, consumed.challenge)
        except Refused as exc:
            self._failed(Actor.user(user_id), user_id, origin, "register", exc.reason)
            raise PasskeyRefused(exc.reason) from exc
        now = utcnow()
        with self._db.transaction() as session:
            taken = session.scalar(
                select(PasskeyCredential.id).where(
                    PasskeyCredential.credential_id == new.credential_id
                )
            )
            if taken is not None:
                self._failed_in(session, Actor.user(user_id), user_id, origin, "register", "known")
            else:
                row = PasskeyCredential(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    credential_id=new.credential_id,
                    public_key=new.public_key,
                    sign_count=new.sign_count,
                    transports=new.transports,
                    name=clean_name(name),
                    device=device_label(describe_user_agent(origin.user_agent)),
                    aaguid=new.aaguid,
                    multi_device=new.multi_device,
                    created_at=now,
                )
                session.add(row)
                audit.record(
                    session,
                    "passkey.registered",
                    actor=Actor.user(user_id),
                    subject=Subject.user(user_id),
                    details=self._details(
                        origin,
                        passkey=str(row.id),
                        sid=current.session.sid,
                        synced=new.multi_device,
                        transports=new.transports,
                    ),
                )
        if taken is not None:
            raise PasskeyRefused("known")
        return _view(row)

    # -- sign-in --------------------------------------------------------------------------

    def begin_sign_in(self, browser: str) -> str:
        """Options for the browser to sign in with any passkey it holds for us."""
        options = ceremony.authentication_options(self.rp)
        self._issue(options.challenge, Purpose.sign_in, browser, None)
        return options.json

    def finish_sign_in(
        self, browser: str, credential_json: str, origin: Origin, previous_cookie: str | None
    ) -> LoggedIn:
        """A verified assertion starts a session as a password sign-in would. Raises
        :class:`PasskeyRefused` or ``AccountDisabled``."""
        owner: uuid.UUID | None = None
        try:
            consumed = self._consume(credential_json, Purpose.sign_in, browser)
            stored = self._credential(ceremony.credential_id_of(credential_json))
            if stored is None:
                raise Refused("unknown_credential")  # removed here, still on the device
            owner = stored.user_id
            assertion = ceremony.verify_authentication(
                self.rp,
                credential_json,
                consumed.challenge,
                public_key=stored.public_key,
                sign_count=stored.sign_count,
                user_handle=stored.user_id.bytes,
            )
        except Refused as exc:
            # Whoever presented it is not signed in: the actor is anonymous, as for a
            # failed password (the account, when the key is known, is the subject).
            self._failed(ANONYMOUS, owner, origin, "sign_in", exc.reason)
            raise PasskeyRefused(exc.reason) from exc
        amr = amr_for(multi_device=assertion.multi_device, user_verified=assertion.user_verified)
        logged_in = self._settle_sign_in(
            stored.id, assertion.sign_count, amr, origin, previous_cookie
        )
        step = self._accounts.next_step(logged_in.user.id)
        return LoggedIn(logged_in.cookie_value, logged_in.user, logged_in.session, step)

    def _settle_sign_in(
        self,
        passkey_id: uuid.UUID,
        sign_count: int,
        amr: str,
        origin: Origin,
        previous_cookie: str | None,
    ) -> LoggedIn:
        now = utcnow()
        refused: str | None = None
        with self._db.transaction() as session:
            row = session.get(PasskeyCredential, passkey_id, with_for_update=True)
            user = session.get(User, row.user_id) if row is not None else None
            if row is None or user is None:
                refused = "unknown_credential"  # removed meanwhile
            elif not sign_count_ok(row.sign_count, sign_count):
                refused = "sign_count"  # a racing assertion with the same count won
            elif user.disabled_at is not None:
                refused = "disabled"
                audit.record(
                    session,
                    "login.refused",
                    actor=Actor.user(user.id),
                    subject=Subject.user(user.id),
                    details=self._details(origin, reason="disabled", method="passkey"),
                )
            else:
                row.sign_count, row.last_used_at = sign_count, now
                return self._accounts.open_session(
                    session, user, origin=origin, previous_cookie=previous_cookie, amr=amr, now=now
                )
        if refused == "disabled":
            raise AccountDisabled()
        self._failed(ANONYMOUS, user.id if user else None, origin, "sign_in", refused)
        raise PasskeyRefused(refused)

    # -- managing -------------------------------------------------------------------------

    def rename(self, current: CurrentSession, passkey_id: str, name: str, origin: Origin) -> None:
        user_id = current.user.id
        with self._db.transaction() as session:
            row = self._own(session, user_id, passkey_id)
            row.name = clean_name(name)
            audit.record(
                session,
                "passkey.renamed",
                actor=Actor.user(user_id),
                subject=Subject.user(user_id),
                details=self._details(origin, passkey=str(row.id)),
            )

    def remove(
        self, current: CurrentSession, passkey_id: str, password: str, origin: Origin
    ) -> None:
        """Remove one of the account's passkeys (raises :class:`NoSuchPasskey` for any other,
        :class:`ReauthenticationRequired` when the password is needed and missing)."""
        user_id = current.user.id
        with self._db.read() as session:
            self._own(session, user_id, passkey_id)  # nothing of another account's is touched
        if self.needs_password(current):
            if not password:
                raise ReauthenticationRequired()
            self._accounts.reauthenticate(current, password, origin)
        with self._db.transaction() as session:
            row = self._own(session, user_id, passkey_id)
            session.delete(row)
            audit.record(
                session,
                "passkey.removed",
                actor=Actor.user(user_id),
                subject=Subject.user(user_id),
                details=self._details(origin, passkey=str(row.id), sid=current.session.sid),
            )

    # -- challenges -----------------------------------------------------------------------

    def _issue(
        self, challenge: bytes, purpose: Purpose, browser: str, user_id: uuid.UUID | None
    ) -> None:
        now = utcnow()
        with self._db.transaction() as session:
            delete_batch(
                session,
                PasskeyChallenge.challenge_hash,
                PasskeyChallenge.expires_at <= now,
                EXPIRED_BATCH,
            )
            session.add(
                PasskeyChallenge(
                    challenge_hash=_digest(challenge),
                    purpose=purpose.value,
                    browser_hash=token_digest(browser),
                    user_id=user_id,
                    expires_at=now + CHALLENGE_TTL,
                )
            )

    def _consume(self, credential_json: str, purpose: Purpose, browser: str) -> _Consumed:
        """Take the challenge the response answers, once: it is deleted whatever follows."""
        challenge = ceremony.challenge_of(credential_json)
        with self._db.transaction() as session:
            row = session.get(PasskeyChallenge, _digest(challenge), with_for_update=True)
            if row is None:
                raise Refused("unknown_challenge")  # never issued, used already, or swept
            session.delete(row)
            found = _Consumed(row.purpose, row.user_id, challenge)
            if row.browser_hash != token_digest(browser or ""):
                reason = "wrong_browser"
            elif row.purpose != purpose.value:
                reason = "wrong_purpose"
            elif challenge_expired(row.expires_at, utcnow()):
                reason = "expired"
            else:
                return found
        raise Refused(reason)

    # -- helpers --------------------------------------------------------------------------

    def _credential(self, credential_id: str) -> PasskeyCredential | None:
        with self._db.read() as session:
            return session.scalar(
                select(PasskeyCredential).where(PasskeyCredential.credential_id == credential_id)
            )

    @staticmethod
    def _own(session: Session, user_id: uuid.UUID, passkey_id: str) -> PasskeyCredential:
        try:
            wanted = uuid.UUID(passkey_id)
        except ValueError as exc:
            raise NoSuchPasskey() from exc
        row = session.get(PasskeyCredential, wanted)
        if row is None or row.user_id != user_id:
            raise NoSuchPasskey()
        return row

    def _failed(
        self,
        actor: Actor,
        user_id: uuid.UUID | None,
        origin: Origin,
        stage: str,
        reason: str | None,
    ) -> None:
        with self._db.transaction() as session:
            self._failed_in(session, actor, user_id, origin, stage, reason)

    def _failed_in(
        self,
        session: Session,
        actor: Actor,
        user_id: uuid.UUID | None,
        origin: Origin,
        stage: str,
        reason: str | None,
    ) -> None:
        audit.record(
            session,
            "passkey.failed",
            actor=actor,
            subject=Subject.user(user_id) if user_id else None,
            details=self._details(origin, stage=stage, reason=reason),
        )

    def _details(self, origin: Origin, **extra: str | int | bool | None) -> dict[str, object]:
        return {"ip": self._pseudonyms.ip(origin.ip), **extra}


def _digest(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _view(row: PasskeyCredential) -> PasskeyView:
    return PasskeyView(
        row.id, row.name, row.device, row.multi_device, row.created_at, row.last_used_at
    )
