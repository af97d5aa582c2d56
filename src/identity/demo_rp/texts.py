"""The demo channels' own texts, in Spanish and English, and how a page picks its language.

The demo is another application than the provider (a retailer's shop, or another company's
marketplace), so it keeps its texts here rather than in the provider's catalogs; it picks the
language the way the provider does (:func:`identity.web.i18n.negotiate`): ``?lang=`` (the
switch), then its own cookie, then the browser's ``Accept-Language``, then English. The
provider's pages it sends the shopper to get the same language (``ui_locales``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from identity.web.i18n import negotiate

LANG_COOKIE = "demo_rp_lang"  # the whole demo (every channel path)
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600

UI: dict[str, dict[str, Any]] = {
    "en": {
        "site": "Demo relying party",
        "channels_nav": "Channels",
        "overview": "Overview",
        "language": "Language",
        "footer": "A demo client of the OpenID provider at {issuer}. Tokens are kept in this "
        "process's memory only.",
        "channels": {
            "store": ("Web store", "A confidential web client of the retailer: secret + PKCE."),
            "app": ("Shop app", "A public native client of the retailer: no secret, PKCE only."),
            "marketplace": (
                "Marketplace",
                "A third party on another site: consent, offline access and a pairwise sub.",
            ),
        },
        "client": "client",
        "confidential": "confidential",
        "public": "public",
        "signed_in": "Signed in.",
        "signed_in_as": "Signed in as {name}.",
        "not_signed_in": "Not signed in.",
        "refresh": "Refresh tokens",
        "sign_out": "Sign out everywhere",
        "sign_in": "Sign in",
        "expires": "Access token expires at {time}.",
        "has_refresh": "Has a refresh token (rotated at each use).",
        "no_refresh": "No refresh token.",
        "granted_scope": "Granted scope:",
        "pkce": "Authorization code flow with PKCE (S256): the provider asks for a password "
        "only if this browser has no session there yet.",
        "id_token": "ID token",
        "id_token_help": "Verified by Authlib against the provider’s keys (signature, iss, aud, "
        "expiry, nonce, at_hash).",
        "userinfo_ok": "The provider’s answer to the access token, limited to the granted scopes.",
        "userinfo_refused": "The provider refused the access token.",
        "try": "What to try",
        "try_store": [
            "Sign in as ana@example.com / demo-password-1.",
            "Then open the shop app and the marketplace: no password asked there.",
        ],
        "try_app": [
            "Signed in at the web store already? “Sign in” here comes straight back: same sub "
            "and sid, no password.",
        ],
        "try_marketplace": [
            "This site is localhost, not 127.0.0.1: its own cookies, like another company’s. "
            "The provider asks once for consent.",
            "Compare the sub with the web store’s: it differs (pairwise), so the two cannot "
            "join their records on it.",
        ],
        "try_all": "“Sign out everywhere” here, then reload the other channels: the provider’s "
        "back-channel logout reached them.",
        "index_title": "Three channels",
        "index_heading": "One account, three channels",
        "index_lead": "Each channel below is its own OpenID Connect client of the provider at "
        "{issuer}, with its own cookies. Sign in at one, and the others let you in without a "
        "password.",
        "index_steps": [
            "Open the web store and sign in as ana@example.com / demo-password-1.",
            "Open the shop app and press “Sign in”: the provider sends you straight back, no "
            "password asked (single sign-on). Same sub, same sid.",
            "Open the marketplace (on localhost, another site): the provider asks once for your "
            "consent, and the marketplace sees a different sub (pairwise), so it cannot match "
            "you with the retailer’s own records.",
            "Press “Sign out everywhere” in one channel, then reload the others: the provider "
            "told them over the back channel, and they show you as signed out.",
        ],
        "problem": "Problem",
        "problem_heading": "{channel}: something went wrong",
        "problem_text": "The demo could not finish this request. Most often the provider at "
        "{issuer} is not running (start it with identity serve), or its database was reset "
        "after identity demo seed.",
        "back": "Back to the {channel}",
        "notes": {
            "backchannel": "Signed out by the provider (back-channel logout).",
            "no_longer": "The provider no longer accepts this sign-in (access was removed or "
            "the session ended): signed out here.",
            "denied": "You chose not to share your account with {channel}.",
            "incomplete": "Sign-in did not complete ({error}).",
            "wrong_iss": "The response's iss is not our provider: refused.",
            "failed": "Sign-in failed: {error}",
            "no_id_token": "Sign-in failed: the provider sent no ID token.",
            "no_refresh": "No refresh token to use.",
            "refresh_refused": "Refresh refused, signed out here ({error}).",
            "refreshed": "New access token, expires at {time}.",
            "bad_state": "A logout response with a state we never sent: ignored.",
            "signed_out": "Signed out at the provider, and so at every channel.",
        },
    },
    "es": {
        "site": "Cliente de demostración",
        "channels_nav": "Canales",
        "overview": "Inicio",
        "language": "Idioma",
        "footer": "Un cliente de demostración del proveedor OpenID en {issuer}. Los tokens se "
        "guardan solo en la memoria de este proceso.",
        "channels": {
            "store": ("Tienda web", "Un cliente web confidencial del comercio: secreto + PKCE."),
            "app": (
                "App de la tienda",
                "Un cliente nativo público del comercio: sin secreto, solo PKCE.",
            ),
            "marketplace": (
                "Marketplace",
                "Un tercero en otro sitio: consentimiento, acceso sin conexión y un sub por pares.",
            ),
        },
        "client": "cliente",
        "confidential": "confidencial",
        "public": "público",
        "signed_in": "Sesión iniciada.",
        "signed_in_as": "Sesión iniciada como {name}.",
        "not_signed_in": "No has iniciado sesión.",
        "refresh": "Renovar los tokens",
        "sign_out": "Cerrar sesión en todas partes",
        "sign_in": "Iniciar sesión",
        "expires": "El token de acceso caduca a las {time}.",
        "has_refresh": "Tiene un token de renovación (cambia en cada uso).",
        "no_refresh": "Sin token de renovación.",
        "granted_scope": "Alcance concedido:",
        "pkce": "Flujo de código de autorización con PKCE (S256): el proveedor pide la "
        "contraseña solo si este navegador aún no tiene sesión allí.",
        "id_token": "Token de identidad",
        "id_token_help": "Verificado por Authlib con las claves del proveedor (firma, iss, aud, "
        "caducidad, nonce, at_hash).",
        "userinfo_ok": "La respuesta del proveedor al token de acceso, limitada a los alcances "
        "concedidos.",
        "userinfo_refused": "El proveedor ha rechazado el token de acceso.",
        "try": "Qué probar",
        "try_store": [
            "Inicia sesión como ana@example.com / demo-password-1.",
            "Después abre la app de la tienda y el marketplace: allí no se pide contraseña.",
        ],
        "try_app": [
            "¿Ya has iniciado sesión en la tienda web? «Iniciar sesión» aquí vuelve enseguida: "
            "mismo sub y mismo sid, sin contraseña.",
        ],
        "try_marketplace": [
            "Este sitio es localhost, no 127.0.0.1: tiene sus propias cookies, como otra "
            "empresa. El proveedor pide el consentimiento una vez.",
            "Compara el sub con el de la tienda web: es distinto (por pares), así que no pueden "
            "cruzar sus registros con él.",
        ],
        "try_all": "Pulsa «Cerrar sesión en todas partes» aquí y recarga los otros canales: "
        "el cierre de sesión por canal trasero del proveedor les ha llegado.",
        "index_title": "Tres canales",
        "index_heading": "Una cuenta, tres canales",
        "index_lead": "Cada canal es un cliente OpenID Connect del proveedor en {issuer}, con "
        "sus propias cookies. Inicia sesión en uno y los demás te dejan entrar sin contraseña.",
        "index_steps": [
            "Abre la tienda web e inicia sesión como ana@example.com / demo-password-1.",
            "Abre la app de la tienda y pulsa «Iniciar sesión»: el proveedor te devuelve "
            "enseguida, sin pedir contraseña (inicio de sesión único). Mismo sub, mismo sid.",
            "Abre el marketplace (en localhost, otro sitio): el proveedor te pide el "
            "consentimiento una vez, y el marketplace ve un sub distinto (por pares), así que no "
            "puede relacionarte con los registros del comercio.",
            "Pulsa «Cerrar sesión en todas partes» en un canal y recarga los demás: el proveedor "
            "se lo ha dicho por el canal trasero y muestran la sesión cerrada.",
        ],
        "problem": "Problema",
        "problem_heading": "{channel}: algo ha fallado",
        "problem_text": "La demostración no ha podido terminar esta petición. Casi siempre el "
        "proveedor en {issuer} no está en marcha (arráncalo con identity serve), o su base de "
        "datos se ha borrado después de identity demo seed.",
        "back": "Volver a {channel}",
        "notes": {
            "backchannel": "El proveedor ha cerrado la sesión (cierre por canal trasero).",
            "no_longer": "El proveedor ya no acepta este inicio de sesión (se retiró el acceso o "
            "terminó la sesión): sesión cerrada aquí.",
            "denied": "Has decidido no compartir tu cuenta con {channel}.",
            "incomplete": "El inicio de sesión no se ha completado ({error}).",
            "wrong_iss": "El iss de la respuesta no es nuestro proveedor: rechazada.",
            "failed": "El inicio de sesión ha fallado: {error}",
            "no_id_token": "El inicio de sesión ha fallado: el proveedor no ha enviado token de "
            "identidad.",
            "no_refresh": "No hay token de renovación que usar.",
            "refresh_refused": "Renovación rechazada, sesión cerrada aquí ({error}).",
            "refreshed": "Nuevo token de acceso, caduca a las {time}.",
            "bad_state": "Una respuesta de cierre de sesión con un state que no enviamos: "
            "ignorada.",
            "signed_out": "Sesión cerrada en el proveedor y, por tanto, en todos los canales.",
        },
    },
}


def language(request: Request) -> str:
    """The page's language, negotiated as the provider negotiates its own."""
    return negotiate(
        explicit=request.query_params.get("lang"),
        cookie=request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )


def note_text(lang: str, note: dict[str, Any]) -> str:
    """A note kept in the session (a key and its values) in the page's language."""
    template = str(UI[lang]["notes"].get(str(note.get("key")), ""))
    params = dict(note.get("params") or {})
    if params.get("channel") in UI[lang]["channels"]:  # a channel's key: its name here
        params["channel"] = UI[lang]["channels"][params["channel"]][0]
    return template.format(**params)


def remember(request: Request, response: Any, lang: str) -> None:
    """Keep an explicit choice (``?lang=``) for the next pages, on every channel."""
    if request.query_params.get("lang") == lang and request.cookies.get(LANG_COOKIE) != lang:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE, path="/", httponly=True, samesite="lax"
        )


def page_language(request: Request) -> dict[str, Any]:
    """What every demo template gets: the language, its texts and the switch's links."""
    lang = language(request)
    return {
        "lang": lang,
        "ui": UI[lang],
        "language_links": [
            {"lang": code, "name": name, "current": code == lang}
            for code, name in (("es", "Español"), ("en", "English"))
        ],
    }
