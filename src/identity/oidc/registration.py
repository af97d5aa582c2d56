"""Client registration as pure rules: what a client may be, in the domain's own words.

:func:`register` turns what an operator asked for (:class:`ClientSpec`) into a complete
:class:`Registration` (its application type, default scope and pairwise sector derived), or
raises :class:`InvalidRegistration` listing every problem, each naming the field it is about.
Front ends translate fields into their own words (the CLI into its flags).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import KeySet

from identity.errors import InvalidInput
from identity.oidc.rules import (
    FIRST_PARTY_SCOPES,
    SERVICE_SCOPES,
    STANDARD_SCOPES,
    redirect_uri_problem,
    resource_identifier_problem,
    sector_identifier,
)

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")  # the ones with a secret
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
ID_TOKEN_ALGS = ("RS256", "ES256")
SUBJECT_TYPES = ("public", "pairwise")


@dataclass(frozen=True, slots=True)
class Problem:
    field: str  # a ClientSpec field
    message: str


class InvalidRegistration(InvalidInput):
    slug = "invalid-registration"
    title = "The client cannot be registered"

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(
            "; ".join(f"{p.field}: {p.message}" for p in problems),
            problems=[{"field": p.field, "message": p.message} for p in problems],
        )
        self.problems = problems


@dataclass(frozen=True)
class ClientSpec:
    """What an operator asks for."""

    name: str
    client_id: str | None = None
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code", "refresh_token"])
    scope: str | None = None
    auth_method: str = "client_secret_basic"
    first_party: bool = False
    subject_type: str = "public"
    backchannel_logout_uri: str | None = None
    client_uri: str | None = None  # the channel's home page, linked from the sign-in page
    policy_uri: str | None = None  # its privacy policy, linked from the consent screen
    jwks: dict[str, Any] | None = None
    resources: list[str] = field(default_factory=list)
    resource_server_for: list[str] = field(default_factory=list)
    resolve_purpose: str | None = None  # with identity:resolve: what it resolves ids for
    id_token_alg: str = "RS256"


@dataclass(frozen=True)
class Registration:
    """A valid client, with what follows from its spec."""

    spec: ClientSpec
    application_type: str  # web | native | service
    scope: str
    sector: str | None  # pairwise clients' sector identifier

    @property
    def issues_secret(self) -> bool:
        return self.spec.auth_method in SECRET_AUTH_METHODS


def application_type(spec: ClientSpec) -> str:
    if spec.grant_types == ["client_credentials"]:
        return "service"
    return "native" if spec.auth_method == "none" else "web"


def default_scope(spec: ClientSpec) -> str:
    if application_type(spec) == "service":
        return SERVICE_SCOPES[0]
    return " ".join(
        (*STANDARD_SCOPES, *FIRST_PARTY_SCOPES) if spec.first_party else STANDARD_SCOPES
    )


def register(spec: ClientSpec) -> Registration:
    """The registration for ``spec``, or :class:`InvalidRegistration` naming every problem."""
    kind = application_type(spec)
    scope = " ".join((spec.scope or default_scope(spec)).split())
    problems = [
        *_identity_problems(spec),
        *_grant_problems(spec),
        *_uri_problems(spec, kind),
        *_key_problems(spec),
        *_scope_problems(spec, scope),
    ]
    sector = None
    if spec.subject_type == "pairwise":
        try:
            sector = sector_identifier(spec.redirect_uris)
        except ValueError:
            problems.append(
                Problem("redirect_uris", "a pairwise client's redirect URIs must share one host")
            )
    if problems:
        raise InvalidRegistration(problems)
    return Registration(spec, kind, scope, sector)


def _identity_problems(spec: ClientSpec) -> list[Problem]:
    problems = []
    if not spec.name.strip():
        problems.append(Problem("name", "is required"))
    if spec.auth_method not in AUTH_METHODS:
        problems.append(Problem("auth_method", f"must be one of {', '.join(AUTH_METHODS)}"))
    if spec.subject_type not in SUBJECT_TYPES:
        problems.append(Problem("subject_type", "must be public or pairwise"))
    if spec.id_token_alg not in ID_TOKEN_ALGS:
        problems.append(Problem("id_token_alg", "must be RS256 or ES256"))
    return problems


def _grant_problems(spec: ClientSpec) -> list[Problem]:
    problems = []
    unknown = [g for g in spec.grant_types if g not in GRANT_TYPES]
    if unknown:
        problems.append(
            Problem(
                "grant_types",
                f"{', '.join(unknown)} not supported: only {', '.join(GRANT_TYPES)} "
                "(no implicit, hybrid or password grants)",
            )
        )
    if spec.auth_method == "none" and "client_credentials" in spec.grant_types:
        problems.append(Problem("grant_types", "a public client cannot use client credentials"))
    if "authorization_code" in spec.grant_types and not spec.redirect_uris:
        problems.append(Problem("redirect_uris", "a sign-in client needs at least one"))
    return problems


def _uri_problems(spec: ClientSpec, kind: str) -> list[Problem]:
    problems = []
    for name, uris in (
        ("redirect_uris", spec.redirect_uris),
        ("post_logout_redirect_uris", spec.post_logout_redirect_uris),
    ):
        for uri in uris:
            if problem := redirect_uri_problem(uri, application_type=kind):
                problems.append(Problem(name, f"{uri} {problem}"))
    # Pages link to these: https (or loopback http) only, so no javascript: or data: URL
    # can ever become a link on our pages.
    for name, one in (
        ("backchannel_logout_uri", spec.backchannel_logout_uri),
        ("client_uri", spec.client_uri),
        ("policy_uri", spec.policy_uri),
    ):
        if one and (problem := redirect_uri_problem(one, application_type="web")):
            problems.append(Problem(name, f"{one} {problem}"))
    for audience in spec.resource_server_for:
        if problem := resource_identifier_problem(audience):
            problems.append(Problem("resource_server_for", f"{audience} {problem}"))
    return problems


def _key_problems(spec: ClientSpec) -> list[Problem]:
    problems = []
    if spec.auth_method == "private_key_jwt":
        try:
            keys = KeySet.import_key_set(spec.jwks or {})  # type: ignore[arg-type]
        except Exception:  # any malformed set: joserfc raises several kinds
            keys = None
        if keys is None or not keys.keys:
            problems.append(Problem("jwks", "private_key_jwt needs the client's public keys"))
    if spec.resource_server_for and spec.auth_method == "none":
        problems.append(Problem("auth_method", "a resource server must authenticate"))
    return problems


def _scope_problems(spec: ClientSpec, scope: str) -> list[Problem]:
    problems = []
    known = {*STANDARD_SCOPES, *SERVICE_SCOPES, *FIRST_PARTY_SCOPES}
    if any(s not in known for s in scope.split()):
        problems.append(Problem("scope", f"must be among: {' '.join(sorted(known))}"))
    if "identity:resolve" in scope.split() and not spec.resolve_purpose:
        problems.append(Problem("resolve_purpose", "identity:resolve needs the purpose it serves"))
    if not spec.first_party and any(s in FIRST_PARTY_SCOPES for s in scope.split()):
        problems.append(
            Problem("scope", f"only first-party clients may have {' '.join(FIRST_PARTY_SCOPES)}")
        )
    return problems
