"""Seed a database for ``bench/consent.py``: N customers x 5 consent purposes, fast.

What goes in, on the real schema (``identity db upgrade`` runs first):

* ``user_account``: N accounts (random UUIDs, ``customerNNNNNNNN@bench.example``, es/en, a third
  with a phone number), all sharing one precomputed argon2 hash (production parameters);
* ``consent_record``: one record per (customer, purpose) for the five switchable purposes
  (email and SMS marketing with double opt-in, personalisation, partner sharing: consent;
  analytics: legitimate interest), ``id = feed_seq = 1..5N``;
* ``consent_state``: the matching current-state row for each, pointing at its record;
* ``consent_feed_head.seq`` = 5N (the number of records).

Statuses are mixed per purpose (granted / pending (double opt-in only) / denied / withdrawn,
weights in :data:`MIX`); decisions are spread over the last three years, after the account was
created, and grants carry the purpose's expiry, so some grants have expired. Records carry the
language shown and the real SHA-256 of the purpose text in it; sources are ``signup``,
``preference_center`` and ``import``. Everything is derived from one random seed (the same N and
seed give the same rows), and rows are inserted in key order (accounts sorted by id, then their
five purposes), so every index grows at its right edge: the B-trees come out densely packed,
which is what a freshly restored database looks like rather than one grown by random inserts.

Storage follows the column types: on SQLite ``user_account.id`` is SQLAlchemy's ``Uuid`` (32 hex
digits, no dashes), subjects are ``str(uuid)`` (dashed), datetimes are naive UTC text
``YYYY-MM-DD HH:MM:SS.ffffff`` (``identity.db.UTCDateTime``), booleans 0/1. SQLite loads with
``executemany`` in large transactions under ``journal_mode=OFF``, ``synchronous=OFF`` and a 1 GiB
page cache, then goes back to WAL. PostgreSQL loads with ``COPY ... FROM STDIN`` (psycopg 3, text
format) with foreign-key triggers off for the session (``session_replication_role = replica``;
referential integrity holds by construction and is checked afterwards), then moves the
``consent_record`` id sequence past the seeded ids and runs ``VACUUM (ANALYZE)`` (hint bits set,
visibility map and statistics built, as on any database that has been running a while).

After loading, :func:`verify` checks the counts, the feed head, that every state row's
``record_id`` exists and belongs to the same (subject, purpose), that ``feed_seq`` values are
distinct, and that every subject has an account.

A database that already holds accounts or consent records is refused unless ``--force`` (which
deletes them first). For SQLite, :func:`seeded_sqlite` keeps a seeded file per size, schema
revision and seed format under ``bench/results/seed/`` (git-ignored) and reuses it; the
benchmark works on a copy.

    .venv/bin/python bench/seed_consent.py [--subjects N | --quick] [--database-url URL]
        [--force] [--rebuild] [--no-verify]

Without ``--database-url`` it builds (or finds) the cached SQLite file and prints its path.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness
from harness import BenchError

FULL_SUBJECTS = 1_000_000
QUICK_SUBJECTS = 50_000
SEED = 20261123
SEED_FORMAT = 1  # bump when the rows change: cached files are keyed by it
CACHE_DIR = harness.RESULTS_DIR / "seed"
CHUNK = 20_000  # subjects per generated batch
COMMIT_EVERY = 5  # SQLite: chunks per transaction
EMAIL_DOMAIN = "bench.example"

# The five switchable purposes of policies/*.toml, in insertion order, and the weights (percent)
# of granted / pending / denied / withdrawn for each. Pending exists only with double opt-in.
PURPOSES = ("email_marketing", "sms_marketing", "personalization", "partner_sharing", "analytics")
MIX: dict[str, tuple[int, int, int, int]] = {
    "email_marketing": (40, 8, 27, 25),
    "sms_marketing": (25, 10, 45, 20),
    "personalization": (55, 0, 30, 15),
    "partner_sharing": (30, 0, 50, 20),
    "analytics": (80, 0, 15, 5),  # legitimate interest: denied/withdrawn is an objection
}
STATUSES = ("granted", "pending", "denied", "withdrawn")
SOURCES = ("signup", "preference_center", "import")
HISTORY_DAYS = 3 * 365
TIME_POOL = 1 << 16  # distinct timestamps drawn from; sorted, so later index = later time

ACCOUNT_COLUMNS = (
    "id", "email", "email_verified_at", "password_hash", "name", "locale", "created_at",
    "password_changed_at", "updated_at", "phone_number", "phone_number_verified", "address",
)  # fmt: skip
RECORD_COLUMNS = (
    "id", "feed_seq", "subject", "purpose", "purpose_version", "decision", "pending", "source",
    "collected_at", "recorded_at", "expires_at", "language", "text_hash", "ip_hash",
    "user_agent", "evidence",
)  # fmt: skip
STATE_COLUMNS = (
    "subject", "purpose", "status", "purpose_version", "decided_at", "expires_at", "source",
    "record_id",
)  # fmt: skip


def log(message: str) -> None:
    print(f"  seed: {message}", flush=True)


# -- what to insert ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PurposeInfo:
    id: str
    version: str
    expires_after_days: int | None
    text_hash: dict[str, str]  # locale -> SHA-256 of the text shown
    status_table: tuple[str, ...]  # 100 entries, by weight


def purpose_infos() -> list[PurposeInfo]:
    """The seeded purposes as the running code defines them (policies/*.toml)."""
    from identity.consent.policy import load_catalog
    from identity.resources import resource_dir

    catalog = load_catalog(resource_dir("policies"))
    out = []
    for pid in PURPOSES:
        p = catalog.get(pid)
        if p is None or not p.switchable:
            raise BenchError(f"purpose {pid!r} is missing or not switchable in policies/")
        weights = MIX[pid]
        if weights[1] and not p.double_opt_in:
            raise BenchError(f"{pid}: pending statuses need double opt-in")
        table = tuple(s for s, w in zip(STATUSES, weights, strict=True) for _ in range(w))
        if len(table) != 100:
            raise BenchError(f"{pid}: weights must add up to 100")
        out.append(
            PurposeInfo(
                p.id,
                p.version,
                p.expires_after_days,
                {loc: p.text_hash(loc) for loc in ("en", "es")},
                table,
            )
        )
    return out


def dummy_password_hash() -> str:
    """One argon2id hash with the production defaults, shared by every seeded account (nobody
    signs in as them here; the login benchmark covers that)."""
    from argon2 import PasswordHasher

    from identity.settings import Settings

    fields = Settings.model_fields
    hasher = PasswordHasher(
        time_cost=fields["argon2_time_cost"].default,
        memory_cost=fields["argon2_memory_cost"].default,
        parallelism=fields["argon2_parallelism"].default,
    )
    return hasher.hash(secrets.token_urlsafe(24))


def subject_ids(n: int, seed: int = SEED) -> list[uuid.UUID]:
    """N distinct random (version 4) UUIDs, sorted: insertion in key order."""
    rng = random.Random(seed)
    ids: set[int] = set()
    while len(ids) < n:
        ids.add(rng.getrandbits(128))
    return sorted(uuid.UUID(int=i, version=4) for i in ids)


class Dialect:
    """How one backend wants its values (see the module docstring)."""

    def __init__(self, name: str, now: datetime, seed: int, expiry_days: set[int]) -> None:
        self.name = name
        rng = random.Random(seed ^ 0x5EED)
        start = now - timedelta(days=HISTORY_DAYS)
        span_us = int((now - timedelta(hours=1) - start).total_seconds() * 1e6)
        moments = sorted(
            start + timedelta(microseconds=rng.randrange(span_us)) for _ in range(TIME_POOL)
        )
        self.times = [self.moment(m) for m in moments]
        self.expiry = {
            days: [self.moment(m + timedelta(days=days)) for m in moments]
            for days in sorted(expiry_days)
        }

    def moment(self, value: datetime) -> str:
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return text if self.name == "sqlite" else text + "+00"

    def account_id(self, u: uuid.UUID) -> str:
        return u.hex if self.name == "sqlite" else str(u)

    @property
    def true(self) -> Any:
        return 1 if self.name == "sqlite" else "t"

    @property
    def false(self) -> Any:
        return 0 if self.name == "sqlite" else "f"

    @property
    def null(self) -> Any:
        return None if self.name == "sqlite" else "\\N"


@dataclass
class Chunk:
    accounts: list[tuple[Any, ...]]
    records: list[tuple[Any, ...]]
    states: list[tuple[Any, ...]]


def generate(
    ids: Sequence[uuid.UUID],
    dialect: Dialect,
    purposes: Sequence[PurposeInfo],
    password_hash: str,
    *,
    seed: int = SEED,
    chunk: int = CHUNK,
) -> Iterator[Chunk]:
    """The rows, ``chunk`` subjects at a time, in key order."""
    rng = random.Random(seed ^ 0xC0FFEE)
    bits = rng.getrandbits
    times, expiry = dialect.times, dialect.expiry
    half = len(times) // 2
    true, false, null = dialect.true, dialect.false, dialect.null
    width = max(8, len(str(len(ids))))
    record_id = 0
    per_purpose = [
        (p.id, p.version, p.status_table, expiry.get(p.expires_after_days or 0), p.text_hash)
        for p in purposes
    ]
    for start in range(0, len(ids), chunk):
        accounts, records, states = [], [], []
        for offset, u in enumerate(ids[start : start + chunk]):
            i = start + offset
            r = bits(64)
            created_idx = r % half
            created = times[created_idx]
            locale = "es" if (r >> 17) % 10 < 6 else "en"
            phone = f"+3460{i:07d}" if (r >> 21) % 3 == 0 else null
            accounts.append(
                (
                    dialect.account_id(u),
                    f"customer{i:0{width}d}@{EMAIL_DOMAIN}",
                    created if (r >> 25) % 10 else null,  # 10% never verified their email
                    password_hash,
                    f"Customer {i}",
                    locale,
                    created,
                    created,
                    created,
                    phone,
                    (true if (r >> 29) % 2 else false) if phone != null else false,
                    null,
                )
            )
            subject = str(u)
            remaining = len(times) - created_idx
            for pid, version, table, expires, hashes in per_purpose:
                r = bits(64)
                status = table[r % 100]
                t_idx = created_idx + (r >> 8) % remaining
                decided = times[t_idx]
                source = SOURCES[(r >> 40) % 3] if status != "pending" else "signup"
                decision = "granted" if status == "pending" else status
                expires_at = expires[t_idx] if expires and decision == "granted" else null
                record_id += 1
                records.append(
                    (
                        record_id,
                        record_id,
                        subject,
                        pid,
                        version,
                        decision,
                        true if status == "pending" else false,
                        source,
                        decided,
                        decided,
                        expires_at,
                        locale,
                        hashes[locale],
                        null,
                        null,
                        "{}",
                    )
                )
                states.append(
                    (subject, pid, status, version, decided, expires_at, source, record_id)
                )
        yield Chunk(accounts, records, states)


# -- loading -----------------------------------------------------------------------------------


def sqlite_path(database_url: str) -> Path:
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        raise BenchError(f"not a file SQLite URL: {database_url}")
    return Path(database_url[len(prefix) :])


def pg_conninfo(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def dialect_of(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        return "sqlite"
    if database_url.startswith("postgresql"):
        return "postgresql"
    raise BenchError(f"unsupported database URL {database_url}")


@contextlib.contextmanager
def connect(database_url: str) -> Iterator[Any]:
    """A plain DB-API connection in autocommit mode (sqlite3 or psycopg 3)."""
    if dialect_of(database_url) == "sqlite":
        connection = sqlite3.connect(sqlite_path(database_url), isolation_level=None)
    else:
        import psycopg

        connection = psycopg.connect(pg_conninfo(database_url), autocommit=True)
    try:
        yield connection
    finally:
        connection.close()


def scalar(connection: Any, sql: str) -> Any:
    cursor = connection.cursor()
    try:
        cursor.execute(sql)
        row = cursor.fetchone()
        return row[0] if row else None
    finally:
        cursor.close()


def migrate(database_url: str) -> None:
    """``identity db upgrade`` on ``database_url``."""
    with tempfile.TemporaryDirectory(prefix="bench-seed-var-") as var:
        env = harness.identity_env(port=8000, var_dir=Path(var), database_url=database_url)
        harness.identity_cli(env, "db", "upgrade")


def existing_rows(database_url: str) -> dict[str, int]:
    with connect(database_url) as connection:
        return {
            t: int(scalar(connection, f"SELECT count(*) FROM {t}"))  # noqa: S608 (constants)
            for t in ("user_account", "consent_record", "consent_state")
        }


def clear(database_url: str) -> None:
    """``--force``: remove seeded (or any) accounts and consent rows first."""
    with connect(database_url) as connection:
        cursor = connection.cursor()
        if dialect_of(database_url) == "sqlite":
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.execute("BEGIN")
            for table in ("consent_state", "consent_record", "user_account"):
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (constants)
            cursor.execute("UPDATE consent_feed_head SET seq = 0 WHERE id = 1")
            cursor.execute("COMMIT")
        else:
            # CASCADE also empties what refers to accounts (sessions, grants, ...).
            cursor.execute("TRUNCATE consent_state, consent_record, user_account CASCADE")
            cursor.execute("UPDATE consent_feed_head SET seq = 0 WHERE id = 1")
        cursor.close()


def _load_sqlite(
    database_url: str, chunks: Iterator[Chunk], progress: Callable[[int], None]
) -> None:
    def insert(table: str, columns: Sequence[str]) -> str:
        marks = ",".join("?" * len(columns))
        return f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})"  # noqa: S608

    sql_account = insert("user_account", ACCOUNT_COLUMNS)
    sql_record = insert("consent_record", RECORD_COLUMNS)
    sql_state = insert("consent_state", STATE_COLUMNS)
    with connect(database_url) as connection:
        c = connection.cursor()
        for pragma in (
            "journal_mode=OFF",  # a crash mid-load leaves a broken file: seed into a temp file
            "synchronous=OFF",
            "locking_mode=EXCLUSIVE",
            "cache_size=-1048576",  # 1 GiB
            "temp_store=MEMORY",
            "foreign_keys=OFF",  # checked by verify() instead
        ):
            c.execute(f"PRAGMA {pragma}")
        records = 0
        c.execute("BEGIN")
        for n, chunk in enumerate(chunks, 1):
            c.executemany(sql_account, chunk.accounts)
            c.executemany(sql_record, chunk.records)
            c.executemany(sql_state, chunk.states)
            records += len(chunk.records)
            if n % COMMIT_EVERY == 0:
                c.execute("COMMIT")
                c.execute("BEGIN")
            progress(len(chunk.accounts))
        c.execute("UPDATE consent_feed_head SET seq = ? WHERE id = 1", (records,))
        c.execute("COMMIT")
        c.execute("PRAGMA locking_mode=NORMAL")
        c.execute("PRAGMA journal_mode=WAL")  # what the application sets; persistent in the file
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.close()


def _tsv(rows: list[tuple[Any, ...]]) -> bytes:
    return ("\n".join("\t".join(map(str, row)) for row in rows) + "\n").encode()


def _load_postgresql(
    database_url: str, chunks: Iterator[Chunk], progress: Callable[[int], None]
) -> None:
    import psycopg

    with psycopg.connect(pg_conninfo(database_url)) as connection:
        with connection.cursor() as c:
            c.execute("SET session_replication_role = replica")  # no FK triggers: verify() checks
            c.execute("SET synchronous_commit = off")
        records = 0
        for chunk in chunks:
            with connection.cursor() as c:
                for table, columns, rows in (
                    ("user_account", ACCOUNT_COLUMNS, chunk.accounts),
                    ("consent_record", RECORD_COLUMNS, chunk.records),
                    ("consent_state", STATE_COLUMNS, chunk.states),
                ):
                    with c.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
                        copy.write(_tsv(rows))
            records += len(chunk.records)
            connection.commit()
            progress(len(chunk.accounts))
        with connection.cursor() as c:
            c.execute("UPDATE consent_feed_head SET seq = %s WHERE id = 1", (records,))
            # Explicit ids do not advance the serial: new records must start after them.
            c.execute(
                "SELECT setval(pg_get_serial_sequence('consent_record', 'id'), %s)",
                (max(records, 1),),
            )
        connection.commit()
    with connect(database_url) as connection:
        connection.execute("VACUUM (ANALYZE) user_account, consent_record, consent_state")


def seed(
    database_url: str,
    subjects: int,
    *,
    force: bool = False,
    seed_value: int = SEED,
    check: bool = True,
    upgrade: bool = True,
) -> dict[str, Any]:
    """Migrate ``database_url`` to head and load ``subjects`` x 5 consents; returns timings."""
    dialect_name = dialect_of(database_url)
    started = time.monotonic()
    if upgrade:
        migrate(database_url)
    present = existing_rows(database_url)
    if any(present.values()):
        if not force:
            raise BenchError(
                f"the database is not empty ({present}); refusing to seed (use --force to "
                "delete accounts and consent rows first)"
            )
        log(f"--force: deleting {present}")
        clear(database_url)
    purposes = purpose_infos()
    password_hash = dummy_password_hash()
    ids = subject_ids(subjects, seed_value)
    days = {p.expires_after_days for p in purposes if p.expires_after_days}
    dialect = Dialect(dialect_name, datetime.now(UTC), seed_value, days)
    prepared = time.monotonic()
    rows_total = subjects * (1 + 2 * len(PURPOSES))
    done = [0, time.monotonic()]

    def progress(n: int) -> None:
        done[0] += n
        if time.monotonic() - done[1] >= 10 or done[0] == subjects:
            done[1] = time.monotonic()
            rate = done[0] * (1 + 2 * len(PURPOSES)) / (done[1] - prepared)
            log(f"{done[0]:,}/{subjects:,} subjects, {rate:,.0f} rows/s")

    chunks = generate(ids, dialect, purposes, password_hash, seed=seed_value)
    if dialect_name == "sqlite":
        _load_sqlite(database_url, chunks, progress)
    else:
        _load_postgresql(database_url, chunks, progress)
    loaded = time.monotonic()
    load_s = loaded - prepared
    result: dict[str, Any] = {
        "database": dialect_name,
        "subjects": subjects,
        "purposes": list(PURPOSES),
        "rows": rows_total,
        "seed": seed_value,
        "format": SEED_FORMAT,
        "prepare_s": prepared - started,
        "load_s": load_s,
        "rows_per_s": rows_total / load_s if load_s else float("nan"),
    }
    log(
        f"loaded {rows_total:,} rows ({subjects:,} accounts, {subjects * len(PURPOSES):,} "
        f"records, {subjects * len(PURPOSES):,} states) in {load_s:.1f}s: "
        f"{result['rows_per_s']:,.0f} rows/s (migration and preparation "
        f"{result['prepare_s']:.1f}s)"
    )
    if check:
        result["verify"] = verify(database_url, subjects)
        result["verify_s"] = time.monotonic() - loaded
        log(f"verified in {result['verify_s']:.1f}s: {result['verify']['statuses']}")
    result["total_s"] = time.monotonic() - started
    return result


def verify(database_url: str, subjects: int | None = None) -> dict[str, Any]:
    """Check what the benchmark relies on; raise :class:`BenchError` on any inconsistency."""
    sqlite = dialect_of(database_url) == "sqlite"
    account_key = "replace(s.subject, '-', '')" if sqlite else "s.subject::uuid"
    checks = {
        "accounts": "SELECT count(*) FROM user_account",
        "records": "SELECT count(*) FROM consent_record",
        "states": "SELECT count(*) FROM consent_state",
        "feed_head": "SELECT seq FROM consent_feed_head WHERE id = 1",
        "max_feed_seq": "SELECT coalesce(max(feed_seq), 0) FROM consent_record",
        "distinct_feed_seq": "SELECT count(DISTINCT feed_seq) FROM consent_record",
        "states_without_record": (
            "SELECT count(*) FROM consent_state s LEFT JOIN consent_record r ON r.id = s.record_id"
            " WHERE r.id IS NULL OR r.subject <> s.subject OR r.purpose <> s.purpose"
        ),
        "states_without_account": (
            "SELECT count(*) FROM consent_state s LEFT JOIN user_account u"  # noqa: S608
            f" ON u.id = {account_key} WHERE u.id IS NULL"
        ),
    }
    with connect(database_url) as connection:
        got = {name: int(scalar(connection, sql)) for name, sql in checks.items()}
        cursor = connection.cursor()
        cursor.execute("SELECT status, count(*) FROM consent_state GROUP BY status ORDER BY status")
        statuses = {s: int(n) for s, n in cursor.fetchall()}
        cursor.close()
        if not sqlite:
            got["next_record_id"] = int(
                scalar(
                    connection,
                    "SELECT last_value FROM consent_record_id_seq",
                )
            )
    problems = []
    if got["feed_head"] != got["records"] or got["max_feed_seq"] != got["records"]:
        problems.append("feed head / max(feed_seq) differ from the number of records")
    if got["distinct_feed_seq"] != got["records"]:
        problems.append("duplicate feed_seq values")
    if got["states_without_record"] or got["states_without_account"]:
        problems.append("state rows without their record or account")
    if subjects is not None and (
        got["accounts"] != subjects or got["states"] != subjects * len(PURPOSES)
    ):
        problems.append(f"expected {subjects} accounts and {subjects * len(PURPOSES)} states")
    if not sqlite and got["next_record_id"] < got["records"]:
        problems.append("consent_record id sequence behind the seeded ids")
    if problems:
        raise BenchError(f"seeded database is inconsistent: {problems}: {got}")
    return {**got, "statuses": statuses}


# -- the SQLite cache --------------------------------------------------------------------------


def cache_key(subjects: int, seed_value: int = SEED) -> str:
    from identity.schema import head_revision

    return f"consent-sqlite-{subjects}-rev{head_revision()}-seed{seed_value}-f{SEED_FORMAT}"


def seeded_sqlite(
    subjects: int, *, cache_dir: Path = CACHE_DIR, rebuild: bool = False, seed_value: int = SEED
) -> tuple[Path, dict[str, Any]]:
    """The cached seeded SQLite file for ``subjects`` (built, migrated and verified when missing
    or ``rebuild``) and the seeding figures recorded when it was built."""
    key = cache_key(subjects, seed_value)
    path = cache_dir / f"{key}.db"
    meta_path = cache_dir / f"{key}.json"
    if path.exists() and meta_path.exists() and not rebuild:
        meta = json.loads(meta_path.read_text())
        meta["cached"] = True
        return path, meta
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f"{key}.tmp-{os.getpid()}.db"
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    try:
        log(f"building {path.name} ({subjects:,} subjects)")
        meta = seed(f"sqlite:///{tmp}", subjects, seed_value=seed_value)
        meta["file_bytes"] = tmp.stat().st_size
        os.replace(tmp, path)
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
    meta["cached"] = False
    return path, meta


def copy_seeded_sqlite(
    subjects: int, destination: Path, *, rebuild: bool = False
) -> tuple[str, dict[str, Any]]:
    """A private copy of the cached seeded file at ``destination``; returns (URL, figures)."""
    source, meta = seeded_sqlite(subjects, rebuild=rebuild)
    started = time.monotonic()
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)  # sendfile() in a loop on Linux
    if destination.stat().st_size != source.stat().st_size:
        raise BenchError(f"copying {source} to {destination} came out short")
    meta["copy_s"] = time.monotonic() - started
    return f"sqlite:///{destination}", meta


# -- for the benchmark -------------------------------------------------------------------------


def sample_subjects(database_url: str, count: int) -> list[str]:
    """``count`` subjects (``str(uuid)``) drawn at random from the accounts in the database."""
    with connect(database_url) as connection:
        cursor = connection.cursor()
        sql = "SELECT id FROM user_account ORDER BY random() LIMIT ?"
        if dialect_of(database_url) != "sqlite":
            sql = sql.replace("?", "%s")
        cursor.execute(sql, (count,))
        rows = cursor.fetchall()
        cursor.close()
    return [str(r[0] if isinstance(r[0], uuid.UUID) else uuid.UUID(r[0])) for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--subjects", type=int, default=FULL_SUBJECTS)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SUBJECTS:,} subjects")
    parser.add_argument(
        "--database-url",
        help="seed this database (migrated first); default: the cached SQLite file",
    )
    parser.add_argument("--force", action="store_true", help="empty a non-empty database first")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached SQLite file")
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args(argv)
    subjects = QUICK_SUBJECTS if args.quick else args.subjects
    if subjects < 1:
        parser.error("--subjects must be at least 1")
    if args.database_url:
        result = seed(args.database_url, subjects, force=args.force, check=not args.no_verify)
        print(json.dumps(result, indent=2))
        return 0
    path, meta = seeded_sqlite(subjects, rebuild=args.rebuild)
    state = "reused" if meta.get("cached") else "built"
    print(
        f"{state} {path} ({meta.get('file_bytes', 0) / 2**20:,.0f} MiB): {meta['rows']:,} rows "
        f"loaded at {meta['rows_per_s']:,.0f} rows/s in {meta['load_s']:.1f}s "
        f"(total {meta['total_s']:.1f}s)"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(2)
