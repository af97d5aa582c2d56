"""Second-factor use cases: enrolling an authenticator app, recovery codes, removing the
factor; the proofs themselves are in :mod:`identity.mfa.proofs`.

Enrolment has two steps. Starting it stores a new secret, sealed, on an unconfirmed factor
that counts for nothing (sign-in does not ask for it, the officer gate does not accept it);
the first right code confirms it, and only then does the account have a second factor. The
same transaction makes ten recovery codes, returned once and stored only as keyed hashes, and
records the proof on the browser session that confirmed it (the code was just proven).

Audit actions: ``mfa.enrolment_started``, ``mfa.enrolled``, ``mfa.removed``,
``mfa.recovery_codes_renewed``, ``mfa.recovery_used``, ``mfa.verified``, ``mfa.failed``
(with the stage and the reason: ``wrong_code``, ``replayed``, ``wrong_password``),
``mfa.throttled``; plus ``login.succeeded`` with ``amr`` "pwd otp" after the code step.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.models import User
from identity.accounts.rules import normalize_email
from identity.audit.refs import Actor, Subject
from identity.context import CurrentSession, Origin
from identity.db import utcnow
from identity.mfa.models import RecoveryCode, TotpFactor
from identity.mfa.proofs import (
    AlreadyEnrolled,
    CodeRefused,
    NoFactor,
    Proof,
    Proofs,
    SignInExpired,
)
from identity.mfa.rules import (
    OTP,
    RECOVERY_ALPHABET,
    RECOVERY_CODE_COUNT,
    RECOVERY_CODE_LENGTH,
    provisioning_uri,
    shown_recovery_code,
)

__all__ = [
    "AlreadyEnrolled",
    "CodeRefused",
    "FactorStatus",
    "NoFactor",
    "SecondFactors",
    "Setup",
    "SignInExpired",
]


@dataclass(frozen=True, slots=True)
class Setup:
    """An enrolment waiting for its first code: what the app needs to know."""

    secret: str  # base32, for typing into the app by hand
    uri: str  # otpauth://, for the QR code


@dataclass(frozen=True, slots=True)
class FactorStatus:
    enrolled_at: datetime | None
    recovery_left: int
    setup: Setup | None  # an enrolment in progress

    @property
    def enrolled(self) -> bool:
        return self.enrolled_at is not None


class SecondFactors(Proofs):
    """Every second-factor use case (the proofs come from :class:`Proofs`)."""

    def status(self, user: User) -> FactorStatus:
        with self._db.read() as session:
            factor = session.get(TotpFactor, user.id)
            if factor is None:
                return FactorStatus(None, 0, None)
            if factor.confirmed_at is None:
                return FactorStatus(None, 0, self._setup(user, factor))
            return FactorStatus(factor.confirmed_at, self._recovery_left(session, user.id), None)

    def _setup(self, user: User, factor: TotpFactor) -> Setup:
        secret = self._unseal(factor.secret_sealed)
        issuer = self._settings.brand_name
        return Setup(secret, provisioning_uri(secret, account=user.email, issuer=issuer))

    def start_enrolment(self, current: CurrentSession, origin: Origin) -> None:
        """A new secret on an unconfirmed factor (replacing an earlier unfinished one).
        Raises :class:`Conflict` when the account has a confirmed factor already."""
        user_id = current.user.id
        with self._db.transaction() as session:
            factor = session.get(TotpFactor, user_id, with_for_update=True)
            if factor is not None and factor.confirmed_at is not None:
                raise AlreadyEnrolled()
            sealed = self._seal(pyotp.random_base32())
            if factor is None:
                session.add(TotpFactor(user_id=user_id, secret_sealed=sealed, created_at=utcnow()))
            else:
                factor.secret_sealed, factor.created_at = sealed, utcnow()
            audit.record(
                session,
                "mfa.enrolment_started",
                actor=Actor.user(user_id),
                subject=Subject.user(user_id),
                details=self._details(origin, kind="totp"),
            )

    def confirm_enrolment(self, current: CurrentSession, code: str, origin: Origin) -> list[str]:
        """The first right code activates the factor; returns the recovery codes, shown once
        (raises :class:`CodeRefused`, :class:`NoFactor` without an enrolment in progress)."""
        user_id = current.user.id

        def activate(session: Session, proof: Proof, now: datetime) -> list[str]:
            factor = session.get(TotpFactor, user_id)
            assert factor is not None  # locked by the proof
            factor.confirmed_at = now
            codes = self._new_recovery_codes(session, user_id, now)
            self._accounts.sessions.record_proof(session, current.session.id_hash, OTP, now)
            audit.record(
                session,
                "mfa.enrolled",
                actor=Actor.user(user_id),
                subject=Subject.user(user_id),
                details=self._details(
                    origin, kind="totp", sid=current.session.sid, recovery_codes=len(codes)
                ),
            )
            return codes

        return self._attempt(user_id, code, origin, "enrol", activate, enrolling=True)

    def renew_recovery_codes(self, current: CurrentSession, code: str, origin: Origin) -> list[str]:
        """Ten new recovery codes for a current code; the earlier ones stop working."""
        user_id = current.user.id

        def renew(session: Session, proof: Proof, now: datetime) -> list[str]:
            codes = self._new_recovery_codes(session, user_id, now)
            audit.record(
                session,
                "mfa.recovery_codes_renewed",
                actor=Actor.user(user_id),
                subject=Subject.user(user_id),
                details=self._details(origin, method=proof.kind.value, recovery_codes=len(codes)),
            )
            return codes

        return self._attempt(user_id, code, origin, "renew", renew)

    def remove(self, current: CurrentSession, *, code: str, password: str, origin: Origin) -> None:
        """Remove the factor, proven with a current code or the password (either is enough:
        someone who lost the phone still knows the password). Raises :class:`CodeRefused`."""
        user_id = current.user.id
        if code.strip() or not password:
            self._attempt(
                user_id,
                code,
                origin,
                "remove",
                lambda session, proof, now: self._remove(session, user_id, origin, proof.kind),
            )
            return
        keys = self._charge(user_id, origin, "remove")
        ok = self._passwords.verify(current.user.password_hash, password)  # no lock held
        with self._db.transaction() as session:
            factor = session.get(TotpFactor, user_id, with_for_update=True)
            if factor is None or factor.confirmed_at is None:
                raise NoFactor()
            if ok:
                self._settle(session, keys)
                self._remove(session, user_id, origin, "password")
            else:
                self._failed(session, user_id, origin, "remove", "wrong_password")
        if not ok:
            raise CodeRefused("wrong_password")

    def remove_for_operator(self, email: str, *, operator: str) -> bool:
        """An operator removes an account's factor (a lost phone and no recovery code left):
        False when it had none."""
        with self._db.transaction() as session:
            normalized = normalize_email(email) or email.strip().lower()
            user = session.execute(
                select(User).where(User.email == normalized)
            ).scalar_one_or_none()
            if user is None or session.get(TotpFactor, user.id) is None:
                return False
            self._remove(session, user.id, None, "operator", actor=Actor.operator(operator))
        return True

    def _remove(
        self,
        session: Session,
        user_id: uuid.UUID,
        origin: Origin | None,
        method: str,
        *,
        actor: Actor | None = None,
    ) -> None:
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        session.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id))
        details = {"method": method}
        audit.record(
            session,
            "mfa.removed",
            actor=actor or Actor.user(user_id),
            subject=Subject.user(user_id),
            details=self._details(origin, **details) if origin else details,
        )

    def _new_recovery_codes(self, session: Session, user_id: uuid.UUID, now: datetime) -> list[str]:
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        codes = [
            "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
            for _ in range(RECOVERY_CODE_COUNT)
        ]
        for code in codes:
            session.add(
                RecoveryCode(
                    code_hash=self._recovery_hash(user_id, code), user_id=user_id, created_at=now
                )
            )
        return [shown_recovery_code(code) for code in codes]
