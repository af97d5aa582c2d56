"""Every table, and what a data subject request does with it: the one registry the access
export and the erasure both read.

:data:`COVERAGE` names each table that holds something about a customer, the export section
it appears in (or why it does not) and what erasure does to it; :data:`NOT_PERSONAL` names
every other table and says why it holds nothing about anyone. A test walks the schema and
fails when a table is in neither (``tests/integration/test_dsr_coverage.py``), so a new table
that refers to a customer cannot ship without being exported and erased.

Erasure runs the entries in the order written here: children before their parents, the
account last; the export shows its sections the other way round (the account first, the
audit entries last). Two kinds of row stay, pseudonymous, as proof: consent records (their free-form
evidence scrubbed of the customer's details) and audit entries (hashed into the transparency
log; they never held an email, a name, a phone number or an address).
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.accounts.models import BrowserSession, KnownDevice, LoginThrottle, User, UserRole
from identity.consent.models import ConsentState
from identity.dsr import sections as s
from identity.linking.models import AnonymousPresentation
from identity.mfa.models import RecoveryCode, TotpFactor
from identity.oidc.models import AuthorizationCode, Grant, RefreshToken, RememberedConsent
from identity.passkeys.export import passkeys
from identity.passkeys.models import PasskeyChallenge, PasskeyCredential
from identity.subjects.models import SubjectAlias
from identity.upstream.export import upstream_identities
from identity.upstream.models import UpstreamIdentity


@dataclass(frozen=True)
class Coverage:
    section: str | None  # the export's key; None: not exported (``note`` says why)
    export: s.Exporter | None
    erase: s.Eraser
    erasure: str  # deleted | unlinked | scrubbed | kept
    note: str


def _of_grants(model: type[AuthorizationCode] | type[RefreshToken]) -> s.Eraser:
    return s.delete_where(model, lambda p: model.grant_id.in_(s.grants_of(p)))


COVERAGE: dict[str, Coverage] = {
    "audit_entry": Coverage(
        "audit_entries",
        s.audit,
        s.kept,
        "kept",
        "hashed into the transparency log; they hold ids and keyed hashes only",
    ),
    "dsr_request": Coverage(
        "requests",
        s.requests,
        s.kept,
        "kept",
        "the tombstone: the account id, dates and who asked, nothing else",
    ),
    "oauth_code": Coverage(
        None,
        None,
        _of_grants(AuthorizationCode),
        "deleted",
        "codes live a minute and are bearer secrets: not exported",
    ),
    "oauth_refresh_token": Coverage(
        "refresh_tokens",
        s.refresh_tokens,
        _of_grants(RefreshToken),
        "deleted",
        "exported without their digests",
    ),
    "oauth_grant": Coverage(
        "grants",
        s.grants,
        s.delete_where(Grant, lambda p: Grant.user_id == p.user_id),
        "deleted",
        "revoked (audited) and their clients told before the rows go",
    ),
    "oauth_consent": Coverage(
        "apps",
        s.apps,
        s.delete_where(RememberedConsent, lambda p: RememberedConsent.user_id == p.user_id),
        "deleted",
        "the third-party apps the customer allowed",
    ),
    "subject_alias": Coverage(
        "pairwise_subjects",
        s.aliases,
        s.delete_where(SubjectAlias, lambda p: SubjectAlias.user_id == p.user_id),
        "deleted",
        "pairwise subs; read first, to tell pairwise clients of the erasure by their name",
    ),
    "anonymous_presentation": Coverage(
        "anonymous_presentations",
        s.presentations,
        s.delete_where(AnonymousPresentation, lambda p: AnonymousPresentation.user_id == p.user_id),
        "deleted",
        "which anonymous ids this account signed in with",
    ),
    "anonymous_subject": Coverage(
        "anonymous_ids",
        s.anonymous,
        s.unlink,
        "unlinked",
        "the visitor's id stays (with its own choices), linked to nobody, for good",
    ),
    "consent_record": Coverage(
        "consent_records",
        s.consent_records,
        s.scrub_records,
        "scrubbed",
        "kept as pseudonymous proof; exported each with a signed receipt",
    ),
    "consent_state": Coverage(
        "consent_current",
        s.consent_current,
        s.delete_where(ConsentState, lambda p: ConsentState.subject == p.subject),
        "deleted",
        "the account's; linked anonymous ids keep their own (the visitor's choices)",
    ),
    "login_throttle": Coverage(
        "sign_in_throttles",
        s.throttles,
        s.delete_where(LoginThrottle, lambda p: LoginThrottle.key.in_(p.throttle_keys)),
        "deleted",
        "counters under a keyed hash of the email (per-IP counters are nobody's)",
    ),
    "mfa_recovery_code": Coverage(
        None,
        None,
        s.delete_where(RecoveryCode, lambda p: RecoveryCode.user_id == p.user_id),
        "deleted",
        "keyed hashes of single-use codes: their dates are in the second_factor section",
    ),
    "mfa_totp": Coverage(
        "second_factor",
        s.second_factor,
        s.delete_where(TotpFactor, lambda p: TotpFactor.user_id == p.user_id),
        "deleted",
        "whether a factor is enrolled and when; the sealed secret is never exported",
    ),
    "passkey_challenge": Coverage(
        None,
        None,
        s.delete_where(PasskeyChallenge, lambda p: PasskeyChallenge.user_id == p.user_id),
        "deleted",
        "a registration's challenge digest, for five minutes: not exported",
    ),
    "passkey_credential": Coverage(
        "passkeys",
        passkeys,
        s.delete_where(PasskeyCredential, lambda p: PasskeyCredential.user_id == p.user_id),
        "deleted",
        "names, devices and dates; never the credential id or the public key",
    ),
    "user_role": Coverage(
        "roles",
        s.roles,
        s.delete_where(UserRole, lambda p: UserRole.user_id == p.user_id),
        "deleted",
        "roles an operator granted (the officer's); the grant itself stays audited",
    ),
    "known_device": Coverage(
        "known_devices",
        s.known_devices,
        s.delete_where(KnownDevice, lambda p: KnownDevice.user_id == p.user_id),
        "deleted",
        "browsers signed in from (new-device alerts): dates only, not the cookie digest",
    ),
    "upstream_identity": Coverage(
        "upstream_identities",
        upstream_identities,
        s.delete_where(UpstreamIdentity, lambda p: UpstreamIdentity.user_id == p.user_id),
        "deleted",
        "the external providers (Google, Apple) that sign in to the account, with their sub",
    ),
    "browser_session": Coverage(
        "sessions",
        s.sessions,
        s.delete_where(BrowserSession, lambda p: BrowserSession.user_id == p.user_id),
        "deleted",
        "exported without the cookie digest or the IP hash",
    ),
    "user_account": Coverage(
        "account",
        s.account,
        s.delete_where(User, lambda p: User.id == p.user_id),
        "deleted",
        "last, once everything that refers to it is gone",
    ),
}

NOT_PERSONAL: dict[str, str] = {
    "oauth_client": "client registrations (the retailer's channels and partners)",
    "signing_key": "the provider's token and receipt keys",
    "oauth_revoked_access_token": "ids (jti) of revoked tokens until they expire; no subject",
    "oauth_used_assertion": "digests of client assertions already used (clients', not people's)",
    "consent_feed_head": "one counter: the change feed's last position",
    "webhook_subscription": "services' webhook endpoints",
    "used_link": "digests of mailed link ids already used; no account reference",
    "outbox_message": "deliveries to clients; bodies name subjects only by the ids each client "
    "already holds (never an email, name, phone or address). Kept: the erasure's own "
    "back-channel logouts and subject.erased notices are among them",
    "audit_hash": "the transparency log's tree hashes",
    "audit_tree": "the transparency log's size and root",
    "audit_checkpoint": "signed checkpoints of the transparency log",
    "audit_key": "the transparency log's checkpoint key",
}
