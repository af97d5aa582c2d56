"""Proving the second factor: the code step of a sign-in, a code asked again of a signed-in
browser (officers, stale proofs), and the officer gate's verdict.

Every attempt is "charge, verify, settle", like the password: a short transaction counts it
against a per-account and a per-IP throttle (refused at once when locked), then one
transaction locks the factor's row, checks the code, uses it up (the TOTP time step, or the
recovery code) and does what the proof was for, or records the failure. Locking the row
means two requests carrying the same code cannot both be accepted.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.models import User
from identity.accounts.passwords import Passwords
from identity.accounts.rules import ThrottlePolicy
from identity.accounts.service import AccountService, LoggedIn
from identity.accounts.throttle import Throttle, ThrottleKey
from identity.audit.refs import Actor, Subject
from identity.context import CurrentSession, Origin
from identity.crypto import Pseudonyms, derive_key, keyed_hash
from identity.db import Database, utcnow
from identity.errors import Conflict, TooManyAttempts, Unauthenticated
from identity.links import password_binding
from identity.mfa.models import RecoveryCode, TotpFactor
from identity.mfa.rules import (
    OTP,
    CodeKind,
    Gate,
    code_step,
    is_fresh,
    kind_of,
    normalize_code,
    officer_gate,
)
from identity.settings import Settings

T = TypeVar("T")


class CodeRefused(Unauthenticated):
    """The code (or password) was not accepted: wrong, already used, or of another kind."""

    slug = "code-refused"
    title = "That code is not right"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # wrong_code, replayed, wrong_password


class SignInExpired(Unauthenticated):
    """The sign-in waiting for its code is gone (too old, forged, or the password changed)."""

    slug = "sign-in-expired"
    title = "Sign in again"


class NoFactor(Conflict):
    """The account has no second factor (or no enrolment in progress) to prove or confirm."""

    slug = "no-second-factor"
    title = "No second factor is set up"


class AlreadyEnrolled(Conflict):
    """The account has a confirmed factor: remove it before enrolling another."""

    slug = "second-factor-exists"
    title = "A second factor is set up already"


@dataclass(frozen=True, slots=True)
class Proof:
    kind: CodeKind
    recovery_left: int | None = None  # after a recovery code: how many remain unused


class ActiveFactors:
    """Whether an account has a confirmed factor: what sign-in asks before starting a session
    (``accounts.SecondFactorCheck``), inside the sign-in's own transaction."""

    def __call__(self, session: Session, user_id: uuid.UUID) -> bool:
        confirmed = session.scalar(
            select(TotpFactor.confirmed_at).where(TotpFactor.user_id == user_id)
        )
        return confirmed is not None


class Proofs:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        accounts: AccountService,
        passwords: Passwords,
        pseudonyms: Pseudonyms,
    ) -> None:
        self._settings = settings
        self._db = db
        self._accounts = accounts
        self._passwords = passwords
        self._pseudonyms = pseudonyms
        self._throttle = Throttle()
        self._sealer = Fernet(
            base64.urlsafe_b64encode(derive_key(settings.secret, "identity.mfa.totp-secrets"))
        )
        self._recovery_key = derive_key(settings.secret, "identity.mfa.recovery-codes")
        self._throttle_key = derive_key(settings.secret, "identity.mfa.throttle")
        window = settings.login_failure_window
        lock = (settings.login_lock_base, settings.login_lock_max)
        self._account_policy = ThrottlePolicy(
            settings.login_max_failures_per_account, window, *lock
        )
        self._ip_policy = ThrottlePolicy(settings.login_max_failures_per_ip, window, *lock)
        self.is_required = ActiveFactors()

    # -- the uses of a proof ------------------------------------------------------------

    def complete_sign_in(
        self, pending: str | None, code: str, origin: Origin, previous_cookie: str | None
    ) -> LoggedIn:
        """The code step: with a right code the pending sign-in becomes a session whose
        methods are "pwd otp". Raises :class:`SignInExpired`, :class:`CodeRefused` or
        :class:`TooManyAttempts`."""
        waiting = self._accounts.pending.read(pending)
        if waiting is None:
            raise SignInExpired()

        def start(session: Session, proof: Proof, now: datetime) -> LoggedIn:
            user = session.get(User, waiting.user_id)
            if user is None or password_binding(user.password_hash) != waiting.password_binding:
                raise SignInExpired()  # rolls back: the code stays unused
            return self._accounts.open_session(
                session,
                user,
                origin=origin,
                previous_cookie=previous_cookie,
                amr=f"pwd {OTP}",
                now=now,
                remember=waiting.remember,
            )

        try:
            logged_in = self._attempt(waiting.user_id, code, origin, "sign_in", start)
        except NoFactor as exc:  # removed meanwhile (by an operator): sign in from the start
            raise SignInExpired() from exc
        step = self._accounts.next_step(waiting.user_id)
        return replace(logged_in, next_step=step)

    def pending_user(self, pending: str | None) -> uuid.UUID | None:
        """The account a pending sign-in is for (to show the code page), if it is live."""
        waiting = self._accounts.pending.read(pending)
        return waiting.user_id if waiting else None

    def verify_session(self, current: CurrentSession, code: str, origin: Origin) -> None:
        """A signed-in browser proves the factor again: its session gains "otp" and its last
        proof becomes now (what the officer gate and re-authentication ask for)."""

        def prove(session: Session, proof: Proof, now: datetime) -> None:
            self._accounts.sessions.record_proof(session, current.session.id_hash, OTP, now)
            audit.record(
                session,
                "mfa.verified",
                actor=Actor.user(current.user.id),
                subject=Subject.user(current.user.id),
                details=self._details(origin, sid=current.session.sid, method=proof.kind.value),
            )

        self._attempt(current.user.id, code, origin, "verify", prove)

    def gate(self, current: CurrentSession, *, recent: bool) -> Gate:
        """The officer gate's verdict for this session (see :mod:`identity.mfa.rules`)."""
        with self._db.read() as session:
            enrolled = self.is_required(session, current.user.id)
        return officer_gate(
            enrolled=enrolled,
            amr=current.session.amr,
            proven_at=current.session.proven_at,
            now=utcnow(),
            recent_within=self._settings.officer_reauth_after if recent else None,
        )

    # -- charge, verify, settle ---------------------------------------------------------

    def _attempt(
        self,
        user_id: uuid.UUID,
        code: str,
        origin: Origin,
        stage: str,
        on_proof: Callable[[Session, Proof, datetime], T],
        *,
        enrolling: bool = False,
    ) -> T:
        """Charge the throttles, check ``code`` and, when it is right, call ``on_proof`` in
        the transaction that uses the code up; otherwise record the failure and raise."""
        keys = self._charge(user_id, origin, stage)
        now = utcnow()
        with self._db.transaction() as session:
            outcome = self._prove(session, user_id, code, now, enrolling=enrolling)
            if isinstance(outcome, Proof):
                self._settle(session, keys)
                if outcome.kind is CodeKind.recovery:
                    audit.record(
                        session,
                        "mfa.recovery_used",
                        actor=Actor.user(user_id),
                        subject=Subject.user(user_id),
                        details=self._details(origin, stage=stage, left=outcome.recovery_left),
                    )
                result = on_proof(session, outcome, now)
            else:
                self._failed(session, user_id, origin, stage, outcome)
        if not isinstance(outcome, Proof):
            raise CodeRefused(outcome)
        return result

    def _charge(
        self, user_id: uuid.UUID, origin: Origin, stage: str
    ) -> tuple[ThrottleKey, ThrottleKey]:
        # Its own counters: a right password resets the login counter, never this one, so
        # knowing the password buys no extra guesses at the code.
        keys = (
            ThrottleKey(
                "otp:" + keyed_hash(self._throttle_key, str(user_id))[:32], self._account_policy
            ),
            ThrottleKey("otp-ip:" + self._pseudonyms.ip(origin.ip), self._ip_policy),
        )
        with self._db.transaction() as session:
            wait = self._throttle.charge(session, list(keys), utcnow())
            if wait:
                audit.record(
                    session,
                    "mfa.throttled",
                    actor=Actor.user(user_id),
                    subject=Subject.user(user_id),
                    details=self._details(origin, stage=stage, retry_after=wait),
                )
        if wait:
            raise TooManyAttempts(wait)
        return keys

    def _settle(self, session: Session, keys: tuple[ThrottleKey, ThrottleKey]) -> None:
        account_key, ip_key = keys
        self._throttle.refund(session, account_key, reset=True)
        self._throttle.refund(session, ip_key, reset=False)

    def _failed(
        self, session: Session, user_id: uuid.UUID, origin: Origin, stage: str, reason: str
    ) -> None:
        audit.record(
            session,
            "mfa.failed",
            actor=Actor.user(user_id),
            subject=Subject.user(user_id),
            details=self._details(origin, stage=stage, reason=reason),
        )

    def _prove(
        self, session: Session, user_id: uuid.UUID, code: str, now: datetime, *, enrolling: bool
    ) -> Proof | str:
        """Check ``code`` and use it up, the factor's row locked; the proof, or why not.

        While ``enrolling`` only the unconfirmed factor's TOTP codes count; otherwise only a
        confirmed factor's codes and its unused recovery codes."""
        factor = session.execute(
            select(TotpFactor).where(TotpFactor.user_id == user_id).with_for_update()
        ).scalar_one_or_none()
        if factor is None or (factor.confirmed_at is None) != enrolling:
            raise NoFactor()
        normalized = normalize_code(code)
        kind = kind_of(normalized)
        if kind is CodeKind.totp:
            step = code_step(self._unseal(factor.secret_sealed), normalized, now)
            if step is None:
                return "wrong_code"
            if not is_fresh(step, factor.last_used_step):
                return "replayed"
            factor.last_used_step = step
            return Proof(kind)
        if kind is CodeKind.recovery and not enrolling:
            row = session.get(
                RecoveryCode, self._recovery_hash(user_id, normalized), with_for_update=True
            )
            if row is None or row.user_id != user_id:
                return "wrong_code"
            if row.used_at is not None:
                return "replayed"
            row.used_at = now
            session.flush()
            return Proof(kind, self._recovery_left(session, user_id))
        return "wrong_code"

    # -- secrets at rest ----------------------------------------------------------------

    def _seal(self, secret: str) -> str:
        return self._sealer.encrypt(secret.encode()).decode()

    def _unseal(self, sealed: str) -> str:
        return self._sealer.decrypt(sealed.encode()).decode()

    def _recovery_hash(self, user_id: uuid.UUID, code: str) -> str:
        # Keyed, and bound to the account: a dump of the table alone cannot be searched.
        return keyed_hash(self._recovery_key, f"{user_id}:{code}")

    def _recovery_left(self, session: Session, user_id: uuid.UUID) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
            )
            or 0
        )

    def _details(self, origin: Origin, **extra: str | int | bool | None) -> dict[str, object]:
        return {"ip": self._pseudonyms.ip(origin.ip), **extra}
