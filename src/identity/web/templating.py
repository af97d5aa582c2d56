"""Jinja2 rendering, one environment per locale.

One environment per language (two of them) keeps translation thread-safe: routes run in a
thread pool, and installing gettext callables on a shared environment per request would race.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from identity.web.i18n import LOCALES, format_locale, load_translations


class Templates:
    def __init__(
        self,
        directory: Path,
        *,
        filters: Mapping[str, Callable[..., Any]] | None = None,
        timezone: str = "UTC",
        globals: Mapping[str, Any] | None = None,
    ) -> None:
        self.directory = directory
        self._globals = dict(globals or {})  # e.g. the brand, in pages and mails alike
        self._tz = ZoneInfo(timezone)
        self._filters = dict(filters or {})
        self._translations = {locale: load_translations(locale) for locale in LOCALES}
        self._envs = {locale: self._environment(locale) for locale in LOCALES}

    def _environment(self, locale: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader(self.directory),
            autoescape=select_autoescape(("html",), default_for_string=False),
            extensions=["jinja2.ext.i18n"],
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_translations(self._translations[locale], newstyle=True)  # type: ignore[attr-defined]
        env.globals.update(self._globals)
        env.globals["locale"] = locale
        env.filters.update(self._filters)
        formats = format_locale(locale)
        env.filters["datetime"] = lambda value: _format_datetime(value, formats, self._tz)
        env.filters["date"] = lambda value: _format_date(value, formats, self._tz)
        return env

    def render(self, name: str, locale: str, context: Mapping[str, Any]) -> str:
        return self._envs[locale].get_template(name).render(context)

    def render_with_exports(
        self, name: str, locale: str, context: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """The rendered text and the template's top-level ``{% set %}`` values (a mail's
        ``button`` label, for its HTML part)."""
        module = self._envs[locale].get_template(name).make_module(dict(context))
        exports = {k: v for k, v in vars(module).items() if not k.startswith("_")}
        return str(module), exports

    def gettext(self, locale: str, message: str, **variables: Any) -> str:
        """Translate a message outside a template (mail subjects, flash notices)."""
        text = self._translations[locale].gettext(message)
        return text % variables if variables else text


def _moment(value: datetime | str | None) -> datetime | None:
    """A time as pages get it: a datetime, or an API answer's RFC 3339 text."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def _format_datetime(value: datetime | str | None, locale: str, tz: ZoneInfo) -> str:
    """Date and time to the minute in the display time zone, with its abbreviation."""
    value = _moment(value)
    if value is None:
        return ""
    local = value.astimezone(tz)
    day = format_date(local.date(), format="medium", locale=locale)
    return f"{day}, {format_time(local, format='short', locale=locale)} {local:%Z}"


def _format_date(value: date | datetime | str | None, locale: str, tz: ZoneInfo) -> str:
    """A day: a moment's day in the display time zone, or a calendar day (a policy's
    effective date) as it is."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return format_date(value, format="long", locale=locale)
    value = _moment(value)
    if value is None:
        return ""
    return format_date(value.astimezone(tz).date(), format="long", locale=locale)
