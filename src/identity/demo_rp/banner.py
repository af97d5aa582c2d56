"""The web store's cookie banner, answered through the provider's consent API from the store's
backend: no third-party cookie anywhere.

A visitor gets an anonymous id from the provider (``POST /v1/anonymous`` with the store's own
client credentials), kept in the store's first-party cookie. The banner's choice is written
with ``PUT /v1/consents/{id}/{purpose}``; before it shows recommendations or counts a visit
the store asks the decision API, as every downstream system must. At sign-in the id goes on
the authorization request (``anon_id``) and the provider links it to the account, merging the
choice. A visitor's browser sending ``Sec-GPC: 1`` has its signal relayed
(``POST /v1/consents/{id}:gpc``): the opt-out of sharing with partners, which the store then
reads back like any other answer. The banner speaks the page's language
(:func:`identity.demo_rp.texts.language`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request

from identity.demo_rp.texts import language

log = logging.getLogger(__name__)

VISITOR_COOKIE = "demo_store_visitor"
VISITOR_MAX_AGE = 395 * 24 * 3600  # the provider's default lifetime of an anonymous id
BACKEND_SCOPE = "consent:read consent:write anonymous:issue"
PURPOSES = ("personalization", "analytics")  # what the banner asks about
SHARING = "partner_sharing"  # what a browser's GPC signal opts out of
REFUSED = ("denied", "withdrawn", "objected")  # the decision API's reasons for a "no"
CHOICES = {  # button -> decision per purpose ("denied" on analytics is an objection)
    "all": {"personalization": "granted", "analytics": "granted"},
    "none": {"personalization": "denied", "analytics": "denied"},
}

TEXTS = {
    "en": {
        "title": "Your privacy choices",
        "intro": "This store remembers your choices in its own cookie, never a third party's. "
        "When you sign in, your choices go with you to your account.",
        "personalization": "Personalised recommendations from what you look at here",
        "analytics": "Aggregated statistics to improve the store",
        "all": "Accept all",
        "none": "Reject all",
        "save": "Save my choices",
        "change": "Privacy choices",
        "recommended": "Recommended for you",
        "products": ["Linen shirt, size M", "Trail running shoes", "Recycled wool scarf"],
        "no_recommendations": "Recommendations are off, as you chose.",
        "recommendations_undecided": "Recommendations are off until you allow them.",
        "counted": "This visit is counted in the store's aggregated statistics.",
        "not_counted": "This visit is not counted in the statistics: you objected.",
        "gpc": "Your browser's Global Privacy Control signal is honoured: nothing about "
        "this visit is shared with partners.",
        "account": "Your account's privacy choices are in your",
        "center": "privacy settings",  # the provider's page is titled so
        "unavailable": "The privacy choices cannot be loaded right now "
        "(is the store registered for anonymous:issue? run `identity demo seed`).",
    },
    "es": {
        "title": "Tus opciones de privacidad",
        "intro": "Esta tienda recuerda tus opciones en su propia cookie, nunca en la de "
        "un tercero. "
        "Cuando inicies sesión, tus opciones pasan a tu cuenta.",
        "personalization": "Recomendaciones personalizadas según lo que miras aquí",
        "analytics": "Estadísticas agregadas para mejorar la tienda",
        "all": "Aceptar todo",
        "none": "Rechazar todo",
        "save": "Guardar mis opciones",
        "change": "Opciones de privacidad",
        "recommended": "Recomendado para ti",
        "products": ["Camisa de lino, talla M", "Zapatillas de trail", "Bufanda de lana reciclada"],
        "no_recommendations": "Las recomendaciones están desactivadas, como elegiste.",
        "recommendations_undecided": "Las recomendaciones están desactivadas hasta que las "
        "permitas.",
        "counted": "Esta visita cuenta en las estadísticas agregadas de la tienda.",
        "not_counted": "Esta visita no cuenta en las estadísticas: te opusiste.",
        "gpc": "Se respeta la señal Global Privacy Control de tu navegador: nada de esta "
        "visita se comparte con socios.",
        "account": "Las opciones de privacidad de tu cuenta están en tus",
        "center": "ajustes de privacidad",
        "unavailable": "Ahora no se pueden cargar las opciones de privacidad "
        "(¿está la tienda registrada con anonymous:issue? ejecuta `identity demo seed`).",
    },
}


@dataclass
class Privacy:
    """What the store page shows about privacy, in the visitor's language."""

    lang: str
    text: dict[str, Any]
    show_banner: bool
    allowed: dict[str, bool]
    unavailable: bool = False
    # Said no to (refused, withdrawn, objected), as opposed to never decided: an undone
    # sign-in merge leaves the account undecided, and "as you chose" would not be true.
    refused: frozenset[str] = frozenset()
    gpc: bool = False  # the browser's GPC signal, relayed and honoured: nothing shared


class ConsentBackend:
    """The store's backend as a client of the consent API (client credentials)."""

    def __init__(self, issuer: str, client_id: str, client_secret: str) -> None:
        self._issuer = issuer
        self._auth = (client_id, client_secret)
        self._token: tuple[str, float] | None = None

    async def _headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        if self._token is None or self._token[1] < time.time() + 30:
            response = await http.post(
                f"{self._issuer}/token",
                data={"grant_type": "client_credentials", "scope": BACKEND_SCOPE},
                auth=self._auth,
            )
            response.raise_for_status()
            body = response.json()
            self._token = (body["access_token"], time.time() + body["expires_in"])
        return {"authorization": f"Bearer {self._token[0]}"}

    async def new_visitor(self) -> str:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.post(
                f"{self._issuer}/v1/anonymous", json={}, headers=await self._headers(http)
            )
        response.raise_for_status()
        return str(response.json()["anonymous_id"])

    async def answers(self, subject: str) -> dict[str, dict[str, Any]]:
        """The decision API's answer for each banner purpose."""
        async with httpx.AsyncClient(timeout=5) as http:
            headers = await self._headers(http)
            answers = {}
            for purpose in (*PURPOSES, SHARING):
                response = await http.get(
                    f"{self._issuer}/v1/consents/{subject}/{purpose}", headers=headers
                )
                response.raise_for_status()
                answers[purpose] = response.json()
        return answers

    async def relay_gpc(self, subject: str) -> None:
        """The visitor's browser sent ``Sec-GPC: 1``: their opt-out, recorded once."""
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.post(
                f"{self._issuer}/v1/consents/{subject}:gpc", headers=await self._headers(http)
            )
        response.raise_for_status()

    async def record(self, subject: str, decisions: dict[str, str], lang: str) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            headers = await self._headers(http)
            for purpose, decision in decisions.items():
                response = await http.put(
                    f"{self._issuer}/v1/consents/{subject}/{purpose}",
                    json={"decision": decision, "language": lang},
                    headers=headers,
                )
                response.raise_for_status()


class StoreBanner:
    def __init__(self, backend: ConsentBackend, *, secure: bool) -> None:
        self._backend = backend
        self._secure = secure

    def visitor(self, request: Request) -> str | None:
        value = request.cookies.get(VISITOR_COOKIE)
        return value if value and len(value) <= 64 else None

    async def privacy(self, request: Request, sub: str | None) -> Privacy:
        """Asked for the signed-in customer (their ``sub``) or else for this visitor."""
        lang = language(request)
        subject = sub or self.visitor(request)
        if subject is None:
            return Privacy(lang, TEXTS[lang], show_banner=sub is None, allowed={})
        gpc = sub is None and request.headers.get("sec-gpc", "").strip() == "1"
        try:
            if gpc:  # only a visitor's: a customer's own browser tells the provider itself
                await self._backend.relay_gpc(subject)
            answers = await self._backend.answers(subject)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("consent API unavailable: %s", exc)
            return Privacy(lang, TEXTS[lang], False, {}, unavailable=True)
        sharing = answers.pop(SHARING, {})
        undecided = all(a.get("decided_at") is None for a in answers.values())
        asked = request.query_params.get("privacy") == "choices"
        return Privacy(
            lang,
            TEXTS[lang],
            show_banner=sub is None and (undecided or asked),
            allowed={p: bool(a.get("allowed")) for p, a in answers.items()},
            refused=frozenset(p for p, a in answers.items() if a.get("reason") in REFUSED),
            gpc=gpc and not sharing.get("allowed"),
        )

    async def choose(self, request: Request, home: str) -> tuple[str, dict[str, str]]:
        """The banner's POST: the visitor's id (made now if new) and the cookies to set."""
        form = await request.form()
        button = form.get("choice")
        decisions = CHOICES.get(button) if isinstance(button, str) else None
        if decisions is None:  # "save": what the boxes say
            decisions = {p: "granted" if form.get(p) == "on" else "denied" for p in PURPOSES}
        visitor = self.visitor(request) or await self._backend.new_visitor()
        lang = language(request)
        await self._backend.record(visitor, decisions, lang)
        return visitor, {VISITOR_COOKIE: visitor}

    def set_cookies(self, response: Any, cookies: dict[str, str], path: str) -> None:
        for name, value in cookies.items():
            response.set_cookie(
                name,
                value,
                max_age=VISITOR_MAX_AGE,
                path=path,
                httponly=True,
                samesite="lax",
                secure=self._secure,
            )
