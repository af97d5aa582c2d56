"""The deployment's brand: its name, logo, primary colour and legal links, on every page and in
every mail.

The colour reaches pages through ``/brand.css``, a stylesheet of our own origin, because the
Content-Security-Policy allows no inline style; the settings accept only ``#rrggbb`` (see
``Settings._readable_colour``), so nothing but a colour can be written into it. A logo is a
file under ``/static/`` or one the operator names, served at ``/brand/logo``: never another
host, which the CSP would block and which would learn who opens our pages and mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from identity.settings import LOGO_TYPES, Settings, relative_luminance

router = APIRouter(include_in_schema=False)

DEFAULT_PRIVACY_PATH = "/privacy/purposes"  # our own page: every purpose, every version
LOGO_PATH = "/brand/logo"
DARK_INK = "#1c2230"


@dataclass(frozen=True, slots=True)
class Brand:
    """What templates show of the brand (``branding`` in every template, pages and mails)."""

    name: str
    logo: str | None  # a URL path on this site
    color: str
    privacy_url: str
    terms_url: str | None
    site: str  # the issuer, to make mail links absolute

    def absolute(self, url: str) -> str:
        """A link as a mail needs it: paths on this site get its origin."""
        return f"{self.site}{url}" if url.startswith("/") else url

    @property
    def ink(self) -> str:
        """Text on the primary colour: white, or dark ink on a light colour."""
        return "#ffffff" if 1.05 / (relative_luminance(self.color) + 0.05) >= 4.5 else DARK_INK


def brand_of(settings: Settings) -> Brand:
    logo = settings.brand_logo
    if logo and not logo.startswith("/static/"):
        logo = LOGO_PATH
    return Brand(
        name=settings.brand_name,
        logo=logo,
        color=settings.brand_color,
        privacy_url=settings.privacy_policy_url or DEFAULT_PRIVACY_PATH,
        terms_url=settings.terms_url,
        site=settings.issuer,
    )


def brand_css(brand: Brand) -> str:
    """The stylesheet that sets the brand's colour over ``identity.css``'s defaults."""
    return f":root {{ --accent: {brand.color}; --accent-ink: {brand.ink}; }}\n"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


@router.get("/brand.css")
def stylesheet(request: Request) -> Response:
    css = brand_css(brand_of(_settings(request)))
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.get(LOGO_PATH)
def logo(request: Request) -> Response:
    configured = _settings(request).brand_logo
    if not configured or configured.startswith("/static/"):
        return Response(status_code=404)
    path = Path(configured)
    return FileResponse(
        path,
        media_type=LOGO_TYPES[path.suffix.lower()],
        headers={"Cache-Control": "public, max-age=3600"},
    )
