"""The interactive side of the provider: the authorization endpoint and its pages (consent,
account choice, errors), logout, and "apps with access" in the account."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request
from starlette.responses import Response

from identity.context import CurrentSession
from identity.oidc.authorize import (
    Answer,
    AskConsent,
    ChooseAccount,
    ErrorPage,
    Interaction,
    Outcome,
    SignIn,
    ToClient,
)
from identity.oidc.routes import OidcDep, provider_request
from identity.oidc.rules import ACR_PHISHING_RESISTANT
from identity.web.csrf import FIELD as CSRF_FIELD
from identity.web.deps import (
    PAGE_DEPENDENCIES,
    CsrfFormDep,
    CurrentDep,
    OriginDep,
    RuntimeDep,
    UserDep,
    current_session,
    get_runtime,
    request_origin,
    signed_in,
    text_field,
)
from identity.web.offload import in_thread
from identity.web.pages import redirect, render

FormUser = Annotated[CurrentSession, signed_in("/account/apps")]

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

OIDC_LOGOUT_PARAMS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "logout_hint")


def _show(request: Request, outcome: Outcome) -> Response:
    if isinstance(outcome, ToClient):
        return outcome.response
    if isinstance(outcome, ErrorPage):
        return render(
            request,
            "oidc/error.html",
            {"error": outcome.error, "description": outcome.description},
            status=400,
        )
    if isinstance(outcome, SignIn):
        query = {"next": outcome.next_url}
        if outcome.login_hint:
            query["login_hint"] = outcome.login_hint[:320]
        if outcome.ui_locales:
            query["ui_locales"] = outcome.ui_locales[:100]
        # A phishing-resistant sign-in (acr "phr") is one with a passkey: only that page.
        page = "/login/passkey" if outcome.acr == ACR_PHISHING_RESISTANT else "/login"
        return redirect(f"{page}?" + urlencode(query))
    if isinstance(outcome, AskConsent):
        return render(
            request,
            "oidc/consent.html",
            {
                "client": outcome.client,
                "scopes": outcome.scopes,
                "interaction": outcome.interaction,
            },
        )
    assert isinstance(outcome, ChooseAccount)
    return render(
        request,
        "oidc/select_account.html",
        {"client": outcome.client, "interaction": outcome.interaction},
    )


@router.api_route("/authorize", methods=["GET", "POST"])
async def authorize(request: Request, oidc: OidcDep) -> Response:
    """The authorization endpoint (GET or POST, OpenID Connect Core §3.1.2.1). Deliberately
    no CORS: it is navigated to, never fetched."""
    oauth_request = await provider_request(request)
    current = await in_thread(current_session, request)
    outcome = await in_thread(oidc.flow.run, oauth_request, current)
    return _show(request, outcome)


@router.get("/authorize/resume")
def authorize_resume(request: Request, oidc: OidcDep, current: CurrentDep) -> Response:
    outcome = oidc.flow.resume(request.query_params.get("interaction"), current)
    return _show(request, outcome)


@router.post("/authorize/consent")
def authorize_consent(
    request: Request, form: CsrfFormDep, oidc: OidcDep, current: CurrentDep
) -> Response:
    allowed = text_field(form, "decision", 10) == "allow"
    # The consent screen comes after any account choice: answering it confirms the account.
    answer = Answer(consented=allowed, denied=not allowed, account_chosen=True)
    outcome = oidc.flow.resume(text_field(form, "interaction", 8000), current, answer)
    return _show(request, outcome)


@router.post("/authorize/select")
def authorize_select(
    request: Request,
    form: CsrfFormDep,
    oidc: OidcDep,
    current: CurrentDep,
    runtime: RuntimeDep,
    origin: OriginDep,
) -> Response:
    token = text_field(form, "interaction", 8000)
    if text_field(form, "choice", 10) == "continue":
        return _show(request, oidc.flow.resume(token, current, Answer(account_chosen=True)))
    # "Use another account": sign this browser out, then sign in and come back (signing in
    # for the request is choosing the account; no earlier answer is carried).
    interaction = oidc.interactions.load(token)
    if interaction is None:
        return _show(request, ErrorPage("interaction_expired", ""))
    runtime.accounts.logout(request.cookies.get(runtime.session_cookie.name), origin)
    fresh = oidc.interactions.dump(Interaction(interaction.params, interaction.started_at))
    response = redirect("/login?" + urlencode({"next": f"/authorize/resume?interaction={fresh}"}))
    response.delete_cookie(runtime.session_cookie.name, path="/")
    return response


# -- logout -------------------------------------------------------------------------------


def _clear_cookie(request: Request, response: Response) -> Response:
    cookie = get_runtime(request).session_cookie
    response.delete_cookie(
        cookie.name, path="/", secure=cookie.secure, httponly=True, samesite="lax"
    )
    return response


def _end_session(
    request: Request, oidc: OidcDep, oauth_request: object, confirmed: bool
) -> Response:
    """RP-initiated logout: validate (``logout.EndSession``), end the session, redirect if
    allowed. The hint is checked against the session it would end, so that session goes in."""
    runtime = get_runtime(request)
    oauth_request.browser_cookie = request.cookies.get(runtime.session_cookie.name)  # type: ignore[attr-defined]
    oauth_request.current_session = current_session(request)  # type: ignore[attr-defined]
    oauth_request.origin = request_origin(request)  # type: ignore[attr-defined]
    oauth_request.confirmed = confirmed  # type: ignore[attr-defined]
    provider = oidc.provider
    try:
        validated = provider.validate_endpoint_request("end_session", oauth_request)
    except OAuth2Error as error:
        # Sign-out wording: oidc/error.html speaks of signing in, and nothing was signed out.
        return render(
            request,
            "oidc/logout_error.html",
            {"error": error.error, "description": error.description or ""},
            status=400,
        )
    if validated.needs_confirmation and not confirmed:
        data = oauth_request.payload.data  # type: ignore[attr-defined]
        return render(
            request,
            "oidc/logout_confirm.html",
            {
                "client": validated.client,
                "params": {
                    k: data[k]
                    for k in ("client_id", "post_logout_redirect_uri", "state", "ui_locales")
                    if data.get(k)
                },
            },
        )
    response = provider.create_endpoint_response("end_session", validated)
    if response is None:
        response = redirect("/login?notice=signed_out")
    return _clear_cookie(request, response)


@router.get("/logout")
async def logout_page(request: Request, oidc: OidcDep) -> Response:
    if not any(k in request.query_params for k in OIDC_LOGOUT_PARAMS):
        return render(request, "accounts/logout.html", {})
    oauth_request = await provider_request(request)
    return await in_thread(_end_session, request, oidc, oauth_request, False)


@router.post("/logout")
async def logout(request: Request, oidc: OidcDep) -> Response:
    form = await request.form()
    oauth_request = await provider_request(request)
    runtime = get_runtime(request)
    if CSRF_FIELD not in form and any(k in form for k in OIDC_LOGOUT_PARAMS):
        # A relying party posting its logout request (RP-Initiated Logout §2 allows POST).
        return await in_thread(_end_session, request, oidc, oauth_request, False)
    runtime.csrf.check(request, form.get(CSRF_FIELD))
    if any(k in form for k in OIDC_LOGOUT_PARAMS):
        return await in_thread(_end_session, request, oidc, oauth_request, True)
    origin = request_origin(request)
    await in_thread(
        runtime.accounts.logout, request.cookies.get(runtime.session_cookie.name), origin
    )
    return _clear_cookie(request, redirect("/login?notice=signed_out"))


# -- apps with access ---------------------------------------------------------------------


@router.get("/account/apps")
def allowed_apps(request: Request, oidc: OidcDep, current: UserDep) -> Response:
    return render(
        request,
        "oidc/apps.html",
        {"apps": oidc.allowed_apps(current.user.id), "notice": request.query_params.get("notice")},
    )


@router.post("/account/apps/revoke")
def revoke_app(form: CsrfFormDep, oidc: OidcDep, current: FormUser) -> Response:
    oidc.revoke_app(current, text_field(form, "client_id", 64))
    return redirect("/account/apps?notice=revoked")
