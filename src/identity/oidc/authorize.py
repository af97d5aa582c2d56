"""The authorization endpoint's decisions: validate with Authlib, then sign-in, account
choice and consent, then a code.

The request is validated by Authlib first. An invalid client or redirect URI yields an error
page and never a redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.1); every later error is redirected
to the client with ``state`` and ``iss`` (RFC 9207). When the user has to act (sign in, choose
the account, consent) the original parameters travel in a signed *interaction* token, so the
request resumes exactly as the client sent it, and "sign in again" (``prompt=login``,
``max_age``) is satisfied only by a sign-in that happened after the request started.

The user's answers (allow, deny, "continue as") are never carried in the token: they count
only in the request that posts them, and only from the browser session the screen was shown
to (the token names that session by a keyed digest). A consent screen answered by one person
therefore cannot be replayed through a sign-in by another, or by a new session.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.responses import Response

from identity import audit
from identity.audit.refs import Actor, Subject
from identity.context import CurrentSession
from identity.crypto import derive_key
from identity.db import utcnow
from identity.oidc.clients import Client
from identity.oidc.grants import InvalidTargetError
from identity.oidc.models import RememberedConsent
from identity.oidc.rules import (
    Freshness,
    acr_floor,
    must_sign_in,
    parse_max_age,
    scopes_of,
    unmet_acr,
)
from identity.oidc.server import Authorizing, Provider, ProviderRequest
from identity.oidc.tokens import InvalidToken

INTERACTION_MAX_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class Interaction:
    """An authorization request paused for the user, carried in a signed token.

    ``shown_to`` names the browser session a consent or account screen was shown to; an
    answer posted with this token counts only from that session.
    """

    params: tuple[tuple[str, str], ...]
    started_at: float
    shown_to: str | None = None


class Interactions:
    def __init__(self, secret: bytes) -> None:
        key = derive_key(secret, "identity.interactions")
        self._serializer = URLSafeTimedSerializer(key, salt="interaction")
        self._session_key = derive_key(secret, "identity.interactions.session")

    def session_tag(self, current: CurrentSession) -> str:
        """A keyed digest of the browser session: names it without revealing anything."""
        message = f"{current.user.id}\x00{current.session.id_hash}".encode()
        return hmac.digest(self._session_key, message, "sha256")[:16].hex()

    def answered_by(self, interaction: Interaction, current: CurrentSession | None) -> bool:
        """Whether ``current`` is the session the screen of ``interaction`` was shown to."""
        return (
            current is not None
            and interaction.shown_to is not None
            and hmac.compare_digest(interaction.shown_to, self.session_tag(current))
        )

    def dump(self, interaction: Interaction) -> str:
        return self._serializer.dumps(
            {
                "p": [list(p) for p in interaction.params],
                "t": interaction.started_at,
                "s": interaction.shown_to,
            }
        )

    def load(self, token: str | None) -> Interaction | None:
        if not token or len(token) > 8000:
            return None
        try:
            data = self._serializer.loads(token, max_age=int(INTERACTION_MAX_AGE.total_seconds()))
            params = tuple((str(k), str(v)) for k, v in data["p"])
            shown_to = data.get("s")
            return Interaction(
                params, float(data["t"]), shown_to if isinstance(shown_to, str) else None
            )
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass(frozen=True)
class Answer:
    """What the user answered on a screen, in this request (never carried in a token)."""

    consented: bool = False
    denied: bool = False
    account_chosen: bool = False


NO_ANSWER = Answer()


# -- outcomes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToClient:
    response: Response


@dataclass(frozen=True)
class ErrorPage:
    error: str
    description: str


@dataclass(frozen=True)
class SignIn:
    next_url: str
    login_hint: str | None
    ui_locales: str | None
    client: Client
    acr: str | None = None  # the sign-in must reach this (``phr``: with a passkey)


@dataclass(frozen=True)
class AskConsent:
    interaction: str
    client: Client
    scopes: list[str]
    ui_locales: str | None


@dataclass(frozen=True)
class ChooseAccount:
    interaction: str
    client: Client
    ui_locales: str | None


Outcome = ToClient | ErrorPage | SignIn | AskConsent | ChooseAccount


@dataclass
class _State:
    request: ProviderRequest
    interaction: Interaction
    resumed: bool = False
    answer: Answer = NO_ANSWER
    grant: Any = None
    client: Client | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class AuthorizeFlow:
    def __init__(self, provider: Provider, interactions: Interactions) -> None:
        self._provider = provider
        self._interactions = interactions

    def run(
        self,
        request: ProviderRequest,
        current: CurrentSession | None,
        interaction: Interaction | None = None,
        answer: Answer = NO_ANSWER,
    ) -> Outcome:
        """Decide what happens with an authorization request for this browser.

        ``interaction`` is set when the request resumes after the user acted; a sign-in
        completed since it started satisfies ``prompt=login`` and ``max_age``. ``answer``
        is what this session answered on a screen, in this very request.
        """
        started = interaction or Interaction(
            tuple((k, v) for k, values in request.payload.datalist.items() for v in values),
            time.time(),
        )
        state = _State(request, started, resumed=interaction is not None, answer=answer)
        try:
            state.grant = self._provider.get_consent_grant(request, end_user=current)
            state.client = request.client
            self._extra_checks(state)
            return self._decide(state, current)
        except OAuth2Error as error:
            error.state = request.payload.state
            if error.redirect_uri is None and state.grant is not None:
                error.redirect_uri = state.grant.redirect_uri
            if error.redirect_uri is None:
                return ErrorPage(error.error, error.description or "")
            return ToClient(self._with_issuer(self._provider.handle_error_response(request, error)))

    # -- checks Authlib leaves to us ------------------------------------------------------

    def _extra_checks(self, state: _State) -> None:
        data = state.request.payload.data
        if "request" in data:
            raise RequestNotSupportedError("Request objects are not supported.")
        if "request_uri" in data:
            raise RequestURINotSupportedError("request_uri is not supported.")
        if data.get("response_mode", "query") != "query":
            raise InvalidRequestError("Only response_mode=query is supported.")
        try:
            parse_max_age(data.get("max_age"))
        except ValueError as exc:
            raise InvalidRequestError("Invalid 'max_age'.") from exc
        resources = state.request.payload.datalist.get("resource", [])
        if len(resources) > 1 or (resources and resources[0] not in state.client.resources):  # type: ignore[union-attr]
            raise InvalidTargetError("The resource is not registered for this client.")
        state.extra["resource"] = resources[0] if resources else None
        hint = data.get("id_token_hint")
        if hint:
            try:
                claims = self._provider.tokens.verify_id_token(hint)
            except InvalidToken as exc:
                raise InvalidRequestError("Invalid 'id_token_hint'.") from exc
            audience = claims.get("aud")
            if state.client.client_id not in (
                audience if isinstance(audience, list) else [audience]
            ):  # type: ignore[union-attr]
                raise InvalidRequestError("'id_token_hint' was issued to another client.")
            state.extra["hint_sub"] = claims.get("sub")

    # -- the decision ----------------------------------------------------------------------

    def _decide(self, state: _State, current: CurrentSession | None) -> Outcome:
        request, client = state.request, state.client
        assert client is not None
        data = request.payload.data
        prompt = frozenset(scopes_of(data.get("prompt")))
        now = utcnow()
        login_completed_at = (
            datetime.fromtimestamp(state.interaction.started_at, UTC) if state.resumed else None
        )
        freshness = Freshness(prompt, parse_max_age(data.get("max_age")), login_completed_at)
        hint_sub = state.extra.get("hint_sub")
        wrong_user = (
            current is not None
            and hint_sub is not None
            and self._provider.subjects.peek(client, current.user.id) != hint_sub
        )
        # A session below the requested acr signs in again, whatever its age, and any sign-in
        # for this request reaches the requested acr (rules.acr_floor: phr, with a passkey).
        acr = data.get("acr_values")
        if (
            current is None
            or wrong_user
            or unmet_acr(acr, current.session.amr.split()) is not None
            or must_sign_in(current.session.auth_time, now, freshness)
        ):
            if "none" in prompt:
                raise LoginRequiredError()
            return self._sign_in(state, acr_floor(acr))
        answer = state.answer
        # Signing in for this very request is choosing the account.
        signed_in_now = login_completed_at is not None and (
            current.session.auth_time >= login_completed_at
        )
        if "select_account" in prompt and not (answer.account_chosen or signed_in_now):
            return ChooseAccount(self._dump(state, current), client, data.get("ui_locales"))

        requested = scopes_of(request.scope)
        remembered = self._remembered_scopes(current, client)
        consent_needed = ("consent" in prompt and not answer.consented) or (
            not client.first_party and not answer.consented and not set(requested) <= remembered
        )
        if answer.denied:
            return ToClient(self._issue(state, current, grant_user=None))
        if consent_needed:
            if "none" in prompt:
                raise ConsentRequiredError()
            return AskConsent(self._dump(state, current), client, requested, data.get("ui_locales"))
        return ToClient(self._issue(state, current, grant_user=True))

    def _sign_in(self, state: _State, acr: str | None) -> SignIn:
        data = state.request.payload.data
        resume = "/authorize/resume?" + urlencode(
            {
                "interaction": self._dump(state),
                **({"ui_locales": data["ui_locales"]} if data.get("ui_locales") else {}),
            }
        )
        return SignIn(resume, data.get("login_hint"), data.get("ui_locales"), state.client, acr)  # type: ignore[arg-type]

    def _dump(self, state: _State, shown_to: CurrentSession | None = None) -> str:
        """The interaction as a token; with ``shown_to``, bound to the session shown a screen
        (and without, for the sign-in page: no answer survives a sign-in)."""
        tag = self._interactions.session_tag(shown_to) if shown_to is not None else None
        return self._interactions.dump(
            Interaction(state.interaction.params, state.interaction.started_at, tag)
        )

    def _remembered_scopes(self, current: CurrentSession, client: Client) -> set[str]:
        with self._provider.db.read() as session:
            row = session.get(RememberedConsent, (current.user.id, client.client_id))
            return set(scopes_of(row.scope)) if row else set()

    def _issue(
        self, state: _State, current: CurrentSession, *, grant_user: bool | None
    ) -> Response:
        request, client = state.request, state.client
        assert client is not None
        authorizing = (
            Authorizing(
                user_id=current.user.id,
                sid=current.session.sid,
                auth_time=current.session.auth_time,
                amr=current.session.amr,
                acr_values=request.payload.data.get("acr_values"),
                resource=state.extra.get("resource"),
            )
            if grant_user
            else None
        )
        with self._provider.db.transaction() as session:
            request.db = session
            response = self._provider.create_authorization_response(
                request=request, grant_user=authorizing, grant=state.grant
            )
            if authorizing is not None and response.status_code == 303:
                if state.answer.consented:
                    _remember_consent(session, current, client, request.scope)
                audit.record(
                    session,
                    "oidc.authorized",
                    actor=Actor.user(current.user.id),
                    subject=Subject.user(current.user.id),
                    details={
                        "client_id": client.client_id,
                        "scope": request.scope,
                        "sid": current.session.sid,
                        "acr_values": request.payload.data.get("acr_values"),
                    },
                )
            elif authorizing is None:
                audit.record(
                    session,
                    "oidc.consent_denied",
                    actor=Actor.user(current.user.id),
                    subject=Subject.user(current.user.id),
                    details={"client_id": client.client_id, "scope": request.scope},
                )
        return self._with_issuer(response)

    def _with_issuer(self, response: Response) -> Response:
        """RFC 9207: every authorization response names its issuer (mix-up defence)."""
        location = response.headers.get("location")
        if location:
            response.headers["location"] = add_params_to_uri(
                location, [("iss", self._provider.settings.issuer)]
            )
        return response

    # -- resuming ------------------------------------------------------------------------

    def resume(
        self, token: str | None, current: CurrentSession | None, answer: Answer = NO_ANSWER
    ) -> Outcome:
        """Continue a paused request. An answer counts only from the session that was shown
        the screen; from any other (another user, a new sign-in) the screen is shown again."""
        interaction = self._interactions.load(token)
        if interaction is None:
            return ErrorPage("interaction_expired", "The sign-in took too long; start again.")
        if not self._interactions.answered_by(interaction, current):
            answer = NO_ANSWER
        return self.run(self._provider_request(interaction), current, interaction, answer)

    def _provider_request(self, interaction: Interaction) -> ProviderRequest:
        issuer = self._provider.settings.issuer
        return ProviderRequest(
            "GET",
            f"{issuer}/authorize?{urlencode(list(interaction.params))}",
            {},
            list(interaction.params),
        )


def _remember_consent(
    session: Session, current: CurrentSession, client: Client, scope: str
) -> None:
    row = session.get(RememberedConsent, (current.user.id, client.client_id))
    if row is None:
        session.add(
            RememberedConsent(
                user_id=current.user.id,
                client_id=client.client_id,
                scope=scope,
                granted_at=utcnow(),
            )
        )
    else:
        row.scope = " ".join(sorted(set(scopes_of(row.scope)) | set(scopes_of(scope))))
        row.granted_at = utcnow()
    audit.record(
        session,
        "oidc.consent_given",
        actor=Actor.user(current.user.id),
        subject=Subject.user(current.user.id),
        details={"client_id": client.client_id, "scope": scope},
    )
