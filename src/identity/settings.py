"""Configuration, read once from ``IDENTITY_*`` environment variables.

One :class:`Settings` instance is built at start-up (``Settings.load()``) and passed down to
``create_app`` and the CLI; nothing imports a module-level settings object, so tests build their
own. Invalid values stop start-up with a message naming the variable (see
:func:`describe_errors`).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "IDENTITY_"
MIN_SECRET_LENGTH = 32


def _seconds_or_iso(value: object) -> object:
    """Environment variables are strings: accept "600" as seconds as well as "PT10M"."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso)]


def _duration_or_forever(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() == "forever":
        return None
    return _seconds_or_iso(value)


# How long the audit log keeps an event family's contents: a duration, or None ("forever").
Retention = Annotated[timedelta | None, BeforeValidator(_duration_or_forever)]
# The audit log's families kept for a limited time unless IDENTITY_AUDIT_RETENTION says
# otherwise: sign-in, session and password events, security evidence for thirteen months (the
# anonymous ids' lifetime too). Everything else, consent first, is kept until the operator
# says how long the law requires ("*", every action no other family covers).
AUDIT_RETENTION_DEFAULTS: dict[str, timedelta | None] = {
    "login": timedelta(days=395),
    "session": timedelta(days=395),
    "password": timedelta(days=395),
    "*": None,
}
AUDIT_KEPT_FAMILY = "audit"  # the log's own entries (its keys, its purges): never purged
_FAMILY = re.compile(r"\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_STATIC_LOGO = re.compile(r"/static/[A-Za-z0-9_./-]+\.(svg|png|webp|jpg|jpeg)")
LOGO_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SigningAlg(StrEnum):
    RS256 = "RS256"
    ES256 = "ES256"


class MailBackend(StrEnum):
    file = "file"  # development: messages land in var/mail and are shown at /dev/mail
    smtp = "smtp"


class Settings(BaseSettings):
    """Every knob of the service. Durations accept seconds or ISO 8601 (``PT15M``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    env: Environment = Environment.development
    issuer: str = "http://127.0.0.1:8000"
    database_url: str = ""  # empty: SQLite file under var_dir
    secret_key: SecretStr | None = None
    var_dir: Path = Path("var")
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-For is believed
    brand_name: str = Field(default="Demo Shop", min_length=1, max_length=60)  # shown on pages
    # Branding (identity.web.branding): a logo, a path under /static/ or an image file served
    # at /brand/logo (same origin only: the CSP allows no other image host, and a third-party
    # logo would tell another server who opens our pages and mails); the primary colour of
    # buttons and links, "#rrggbb" only (it is written into a stylesheet) and readable on white
    # (4.5:1); the privacy policy (default: our purposes page) and the terms, linked from every
    # page's footer, sign-up and every mail.
    brand_logo: str | None = None
    brand_color: str = "#1f5fd1"
    privacy_policy_url: str | None = None
    terms_url: str | None = None
    display_timezone: str = "Europe/Madrid"  # times on pages (stored times are UTC)

    # Mail
    mail_backend: MailBackend | None = None  # default: file in development, smtp otherwise
    mail_from: str = "Identity <no-reply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_timeout: float = Field(default=10.0, gt=0)

    # Browser sessions
    session_idle_timeout: Duration = timedelta(days=1)
    session_absolute_timeout: Duration = timedelta(days=30)
    # "Keep me signed in" (a box on the sign-in form): a cookie that outlives the browser
    # and these longer timeouts instead of the two above.
    session_remember_idle_timeout: Duration = timedelta(days=30)
    session_remember_absolute_timeout: Duration = timedelta(days=90)

    # Privacy officers prove their second factor again before exports and erasures when
    # they last proved it longer ago than this.
    officer_reauth_after: Duration = timedelta(minutes=5)

    # Account links
    verify_link_ttl: Duration = timedelta(days=2)
    reset_link_ttl: Duration = timedelta(hours=1)
    email_change_link_ttl: Duration = timedelta(hours=24)  # mailed to the new address

    # Login throttling (per account and per client IP, kept in the database)
    login_failure_window: Duration = timedelta(minutes=15)
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=30, ge=1)
    login_lock_base: Duration = timedelta(seconds=30)
    login_lock_max: Duration = timedelta(minutes=15)
    # Requests that mail an address (sign-up, reset, resend), counted whether or not it has
    # an account: per address and per client IP, within a window.
    mail_limit_window: Duration = timedelta(hours=1)
    mail_max_per_address: int = Field(default=3, ge=1)
    mail_max_per_ip: int = Field(default=20, ge=1)

    # Password hashing (argon2id). Changing these rehashes each password at its next login.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost: int = Field(default=65536, ge=8)  # KiB
    argon2_parallelism: int = Field(default=4, ge=1)
    password_hash_concurrency: int = Field(default=0, ge=0)  # 0: one per CPU core
    password_min_length: int = Field(default=10, ge=8)

    # OpenID provider
    code_ttl: Duration = timedelta(seconds=60)  # codes are bearer secrets: short-lived
    access_token_ttl: Duration = timedelta(minutes=10)
    id_token_ttl: Duration = timedelta(minutes=15)
    refresh_idle_ttl: Duration = timedelta(days=14)
    refresh_absolute_ttl: Duration = timedelta(days=90)
    key_activation_delay: Duration = timedelta(hours=1)  # published this long before signing
    signing_alg: SigningAlg = SigningAlg.RS256  # default for ID and access tokens
    keys_cache_ttl: Duration = timedelta(seconds=30)
    # Consent center
    policies_dir: Path | None = None  # default: the policies/ folder shipped with the code
    consent_confirm_ttl: Duration = timedelta(days=7)  # double opt-in links
    consent_batch_max: int = Field(default=1000, ge=1, le=10000)
    # A decision recorded by a service says when the customer decided: at most this long ago
    # (older paper forms are an import, not an API call), and not in the future beyond the
    # clock skew allowed between our servers and theirs.
    consent_collected_max_age: Duration = timedelta(days=90)
    consent_clock_skew: Duration = timedelta(minutes=5)
    # Anonymous first-party ids (a visitor's choices before signing in) and their linking.
    anonymous_id_lifetime: Duration = timedelta(days=395)  # thirteen months
    anonymous_id_max_accounts: int = Field(default=2, ge=1)  # more accounts: a shared device
    sms_gateway_url: str | None = None  # POST {"to", "text"}; default: development mailbox
    jurisdiction: str = "EU"  # stated in consent receipts
    # Data subject requests: a customer's erasure waits this long, cancellable, before it runs
    # (never past the one-month deadline of GDPR Art. 12(3)); each server process runs due
    # requests every interval (``identity dsr run`` does the same from cron).
    erasure_grace: Duration = timedelta(days=7)
    dsr_worker: bool = True
    dsr_run_interval: Duration = timedelta(hours=1)
    # Back-channel logout and webhook delivery through the outbox
    outbox_poll_interval: Duration = timedelta(seconds=2)
    outbox_max_attempts: int = Field(default=12, ge=1)
    outbox_retry_base: Duration = timedelta(seconds=5)
    outbox_retry_max: Duration = timedelta(hours=1)
    outbox_timeout: float = Field(default=5.0, gt=0)
    outbox_worker: bool = True  # run a delivery thread inside each server process
    # Delivered and abandoned messages are kept this long (a client's delivery log), then go.
    outbox_retention: Duration = timedelta(days=7)
    # Housekeeping: a thread in each server process (one of them active at a time on
    # PostgreSQL) deletes expired rows every interval, in short batches (identity.housekeeping).
    housekeeping: bool = True
    housekeeping_interval: Duration = Field(default=timedelta(hours=1), gt=timedelta(0))
    # The audit log's sequencer: a thread in each server process (one of them active at a
    # time); it places committed entries in the Merkle tree in batches and signs a checkpoint
    # at most every interval while entries keep coming.
    audit_sequencer: bool = True
    audit_batch_size: int = Field(default=1000, ge=1, le=100_000)
    audit_checkpoint_interval: Duration = timedelta(seconds=5)
    audit_poll_interval: Duration = timedelta(milliseconds=200)
    # The least time between two sequencing rounds while entries keep coming (an idle log's
    # first entry is placed at once): bigger batches, fewer rounds beside the requests.
    audit_round_interval: Duration = timedelta(milliseconds=250)
    # Per action family ("login" covers "login.failed"; the most specific family listed
    # applies; "*" is every other action): a duration or "forever", merged over
    # AUDIT_RETENTION_DEFAULTS, as JSON: {"login": "P180D", "consent": "P2190D"}. Past it,
    # `identity audit purge` clears an entry's actor, subject and details; its place in the
    # tree, time, action and leaf hash stay, so checkpoints and proofs stay valid.
    audit_retention: dict[str, Retention] = Field(default_factory=dict)
    # Webhook targets must be https on public addresses. Networks listed here (CIDRs, comma
    # separated, e.g. an internal CRM's "10.20.0.0/16", or "127.0.0.1/32" on a developer's
    # machine) are allowed too, and may use plain http.
    webhook_allowed_networks: str = ""
    # Sign-in with external OpenID providers (identity.upstream, docs/upstream.md): the
    # providers file (default var_dir/upstream.json, written by `identity upstream add`), the
    # timeout of each call to a provider, how long its discovery document and keys are
    # cached, how long a started sign-in may take, and how long a checked but not yet linked
    # upstream identity waits for its confirmation (a mailed link's lifetime too).
    upstream_file: Path | None = None
    upstream_timeout: float = Field(default=5.0, gt=0, le=60)
    upstream_metadata_ttl: Duration = timedelta(hours=1)
    upstream_flow_ttl: Duration = timedelta(minutes=10)
    upstream_pending_ttl: Duration = timedelta(minutes=30)

    @field_validator("issuer")
    @classmethod
    def _issuer_is_a_bare_origin_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL such as https://id.example.com")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("brand_color")
    @classmethod
    def _readable_colour(cls, value: str) -> str:
        if not _HEX_COLOUR.fullmatch(value):
            raise ValueError('must be a colour as "#rrggbb", such as #1f5fd1')
        if _contrast_with_white(value) < 4.5:
            raise ValueError("is too light: links and buttons need 4.5:1 contrast with white")
        return value.lower()

    @field_validator("brand_logo")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith("/static/"):
            if not _STATIC_LOGO.fullmatch(value) or ".." in value:
                raise ValueError("a /static/ logo must be a plain .svg, .png, .webp or .jpg path")
            return value
        path = Path(value)
        if path.suffix.lower() not in LOGO_TYPES or not path.is_file():
            raise ValueError("must be /static/<file> or an existing .svg/.png/.webp/.jpg file")
        return value

    @field_validator("privacy_policy_url", "terms_url")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        local = value.startswith("/") and not value.startswith("//") and not parts.netloc
        web = parts.scheme in ("http", "https") and bool(parts.hostname)
        if not (local or web) or any(c.isspace() or c in "\"'<>`" for c in value):
            raise ValueError("must be an http(s) URL or a path on this site such as /privacy")
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        _networks(value)
        return value

    @field_validator("audit_retention")
    @classmethod
    def _retention_families(cls, value: dict[str, timedelta | None]) -> dict[str, timedelta | None]:
        for family, keep in value.items():
            if not _FAMILY.fullmatch(family):
                raise ValueError(f"{family!r} is not an action family (login, login.failed, *)")
            if keep is not None and keep <= timedelta(0):
                raise ValueError(f'{family}: a retention must be positive, or "forever"')
            kept = family == AUDIT_KEPT_FAMILY or family.startswith(AUDIT_KEPT_FAMILY + ".")
            if kept and keep is not None:
                raise ValueError("the log's own entries (audit.*) are kept forever")
        return value

    @field_validator("display_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone such as Europe/Madrid") from exc
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @model_validator(mode="after")
    def _production_is_explicit(self) -> Self:
        if self.env is Environment.production:
            if self.secret_key is None:
                raise ValueError("IDENTITY_SECRET_KEY is required when IDENTITY_ENV=production")
            if not self.issuer.startswith("https://"):
                raise ValueError("IDENTITY_ISSUER must be https when IDENTITY_ENV=production")
        if self.session_absolute_timeout < self.session_idle_timeout:
            raise ValueError(
                "IDENTITY_SESSION_ABSOLUTE_TIMEOUT must not be shorter than "
                "IDENTITY_SESSION_IDLE_TIMEOUT"
            )
        return self

    # -- derived values --------------------------------------------------------------

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Read the environment and fill in development defaults (SQLite file, secret key)."""
        settings = cls(**overrides)  # type: ignore[arg-type]
        return settings.with_development_defaults()

    def with_development_defaults(self) -> Settings:
        updates: dict[str, object] = {}
        if not self.database_url:
            self.var_dir.mkdir(parents=True, exist_ok=True)
            updates["database_url"] = f"sqlite:///{(self.var_dir / 'identity.db').resolve()}"
        if self.secret_key is None:
            updates["secret_key"] = SecretStr(_read_or_create_secret(self.var_dir / "secret_key"))
        return self.model_copy(update=updates) if updates else self

    @property
    def secret(self) -> bytes:
        if self.secret_key is None:  # pragma: no cover - load() always fills it
            raise RuntimeError("settings were not loaded with Settings.load()")
        return self.secret_key.get_secret_value().encode()

    @property
    def audit_retention_policy(self) -> dict[str, timedelta | None]:
        """Every family's retention: the defaults, the operator's families over them, and the
        log's own entries kept forever."""
        return {**AUDIT_RETENTION_DEFAULTS, **self.audit_retention, AUDIT_KEPT_FAMILY: None}

    @property
    def https(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def effective_mail_backend(self) -> MailBackend:
        if self.mail_backend is not None:
            return self.mail_backend
        return MailBackend.smtp if self.env is Environment.production else MailBackend.file

    @property
    def webhook_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return _networks(self.webhook_allowed_networks)

    @property
    def is_development(self) -> bool:
        return self.env is Environment.development

    @property
    def upstream_path(self) -> Path:
        return self.upstream_file or self.var_dir / "upstream.json"


def _networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``"10.1.0.0/16, 127.0.0.1/32"`` -> networks (ValueError naming the bad one)."""
    networks = []
    for part in (p.strip() for p in spec.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError as exc:
                raise ValueError(f"{part!r} is not a network in CIDR notation") from exc
    return tuple(networks)


def relative_luminance(colour: str) -> float:
    """WCAG 2.2's relative luminance of a ``#rrggbb`` colour."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast_with_white(colour: str) -> float:
    return 1.05 / (relative_luminance(colour) + 0.05)


def _read_or_create_secret(path: Path) -> str:
    """Keep one random secret per development checkout so sessions survive restarts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    # O_EXCL: two workers starting at once must not write two different keys.
    try:
        with path.open("x") as f:
            f.write(value)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text().strip()
    return value


def describe_errors(error: ValidationError) -> str:
    """Render a settings validation error as lines naming the environment variable."""
    lines = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) if item["loc"] else ""
        name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
