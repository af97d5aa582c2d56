"""HTTP routes of the provider. Each reads the request, calls the server or a service in the
thread pool (Authlib and SQLAlchemy are synchronous), and returns what they produced."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from identity.oidc.server import ProviderRequest, form_params
from identity.oidc.service import BearerError, OidcService
from identity.web.deps import get_runtime
from identity.web.offload import in_thread

router = APIRouter(tags=["OpenID Connect"])

PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}


def get_oidc(request: Request) -> OidcService:
    oidc: OidcService = get_runtime(request).oidc
    return oidc


OidcDep = Annotated[OidcService, Depends(get_oidc)]


async def provider_request(request: Request) -> ProviderRequest:
    """Build Authlib's request from the query (GET) or the form body (POST)."""
    issuer = get_runtime(request).settings.issuer
    if request.method == "POST":
        params = form_params((await request.form()).multi_items())
    else:
        params = list(request.query_params.multi_items())
    uri = f"{issuer}{request.url.path}"
    if request.url.query:
        uri += f"?{request.url.query}"
    return ProviderRequest(request.method, uri, request.headers, params)


@router.get("/.well-known/openid-configuration", summary="OpenID Provider metadata")
def openid_configuration(oidc: OidcDep) -> JSONResponse:
    return JSONResponse(oidc.metadata(), headers=PUBLIC_CACHE)


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 metadata")
def oauth_authorization_server(oidc: OidcDep) -> JSONResponse:
    return JSONResponse(oidc.metadata(), headers=PUBLIC_CACHE)


@router.get("/jwks", summary="The provider's public signing keys")
def jwks(oidc: OidcDep) -> JSONResponse:
    return JSONResponse(oidc.provider.keys.jwks(), headers=PUBLIC_CACHE)


@router.post("/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request, oidc: OidcDep) -> Response:
    oauth_request = await provider_request(request)
    return await in_thread(oidc.provider.endpoint_response, "revocation", oauth_request)


@router.post("/introspect", summary="Token introspection (RFC 7662)")
async def introspect(request: Request, oidc: OidcDep) -> Response:
    oauth_request = await provider_request(request)
    return await in_thread(oidc.provider.endpoint_response, "introspection", oauth_request)


async def _bearer_token(request: Request) -> str | None:
    """RFC 6750: the Authorization header, or (POST only) the form body; never both."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    from_header = value.strip() if scheme.lower() == "bearer" else None
    from_body = None
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        token = (await request.form()).get("access_token")
        from_body = token if isinstance(token, str) else None
    if from_header and from_body:
        raise BearerError("invalid_request", "Send the token once.", 400)
    return from_header or from_body


async def userinfo(request: Request, oidc: OidcDep) -> Response:
    """UserInfo (OpenID Connect Core §5.3), by GET or POST."""
    try:
        token = await _bearer_token(request)
        claims: dict[str, Any] = await in_thread(oidc.userinfo, token)
    except BearerError as exc:
        challenge = f'Bearer error="{exc.error}", error_description="{exc.description}"'
        return JSONResponse(
            {"error": exc.error, "error_description": exc.description},
            status_code=exc.status,
            headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
        )
    return JSONResponse(claims, headers={"Cache-Control": "no-store"})


for _method in ("GET", "POST"):
    router.add_api_route(
        "/userinfo",
        userinfo,
        methods=[_method],
        summary="UserInfo (OIDC Core §5.3)",
        operation_id=f"userinfo_{_method.lower()}",
    )
