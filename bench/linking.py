"""Anonymous ids and linking (#12) on PostgreSQL: what linking adds to a sign-in, and anonymous
subjects in the consent API beside accounts.

Targets (``TARGET_*``, judged in the closing table, PASS or FAIL):

* sign-in: a signed-in customer's authorization-code flow (``GET /authorize`` with the browser
  session -> code -> ``POST /token``) with ``anon_id`` on ``/authorize`` against the same flow
  without: p50 difference < 5 ms (median of the rounds' own differences) "apart from the
  merge's writes", so judged on an id with nothing to merge (verification, claim, presentation,
  audit entry: linking's fixed cost); an id carrying the banner's three decisions, all merged
  (three records appended, and the states read to decide them), is shown beside it;
* writes: ``PUT /v1/consents/{anonymous id}/{purpose}``, each a new visitor's first decision,
  >= 540/s (#11's target for consent writes) or >= 0.25x pgbench running the same statements
  (#11's other one); the accounts' writes to the same server in the same run beside them;
* decisions: ``GET /v1/consents/{anonymous id}/{purpose}`` >= 0.9x the accounts' rate (median
  of the per-round ratios), each also as a ratio to ``GET /healthz`` in the same round.

Set-up (not measured): a throwaway cluster (``shared_buffers`` 2 GB); ``bench/seed_consent.py``
seeds ``--accounts`` customers x 5 purposes; a first-party client ``store`` (the demo store's
role). In-process, with the server's own code and secret: per flow a customer with no decision
and a browser-session row like the one ``POST /login`` writes (the password check is not what
changes: ``bench/login.py`` measures it); anonymous ids from ``AnonymousIds.issue``, what ``POST
/v1/anonymous`` calls (issuing writes nothing; one from the endpoint is compared); the banner's
decisions (personalization granted, analytics objected to, partner_sharing granted) appended by
the consent ledger as ``PUT`` appends them, many visitors per transaction. What one server or
pgbench left for the sequencer is placed before the next starts. Every answer must be right.

Parts, each ``--rounds`` rounds with a fresh ``identity serve`` on core 0, wrk on core 1, and
the order inside a round reversed every other round:

``signin``     PostgreSQL on core 0 with the server; one connection (``bench/lua/signin.lua``),
               ``--duration`` per kind: ``plain`` (no ``anon_id``), ``empty`` (a new visitor's
               id), ``merge`` (an id with the banner's decisions). Linking runs at redemption,
               inside the token transaction (it commits with the redemption); the audit log must
               then show a ``link.created`` per flow with an id, no ``link.refused``, and three
               merged records per ``merge`` flow.
``decisions``  PostgreSQL on core 0; ``--connections`` (``bench/lua/decision.lua``), random
               picks among ``--sample`` visitors with the banner's decisions or as many seeded
               accounts, the banner's purposes; and ``GET /healthz``.
``writes``     #11's set-up (``bench/audit.py``): PostgreSQL on core 1 beside wrk, ``identity
               serve --workers 2`` on core 0, ``--write-connections`` (``bench/lua/each.lua``):
               new visitors (ids issued beforehand, three times what the warm-up's rate needs,
               each written once) and seeded accounts (their state replaced); then ``pgbench -M
               prepared`` on core 0 in the server's place running the visitor's statements
               (``bench/pgbench/anonymous_write.sql``).

    bench/linking.py [--only signin,decisions,writes] [--rounds 3] [--duration 10] [--warmup 2]
        [--flows 600] [--accounts 100000] [--sample 1000] [--connections 8]
        [--write-connections 16] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import itertools
import json
import math
import secrets
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import harness
import httpx
import seed_consent
from harness import LOAD_CORE, SERVER_CORE, BenchError

TARGET_LINK_MS = 5.0  # sign-in p50, with anon_id - without
TARGET_WRITES, TARGET_VS_PGBENCH = 540.0, 0.25  # #11's, for consent writes
TARGET_SAME_RATE = 0.9  # anonymous decisions : account decisions
CLIENT = "store"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted
SCOPE = "openid profile email consent:read consent:write anonymous:issue"
BACKEND_SCOPE = "consent:read consent:write anonymous:issue"
AUTHORIZE = "/authorize?" + urlencode({
    "response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT_URI,
    "scope": "openid profile email", "code_challenge_method": "S256",
})  # fmt: skip
BANNER = (("personalization", "granted"), ("analytics", "denied"), ("partner_sharing", "granted"))
WRITES = (("personalization", "granted"), ("partner_sharing", "denied"))
PGBENCH_SCRIPT = harness.BENCH_DIR / "pgbench" / "anonymous_write.sql"
KINDS = ("plain", "empty", "merge")
TITLES = {
    "plain": "sign-in, no anon_id",
    "empty": "sign-in, anon_id, none merged",
    "merge": "sign-in, anon_id, 3 merged",
    "healthz": "GET /healthz",
    "anon_decision": "GET decision, anonymous",
    "account_decision": "GET decision, account",
    "anon_write": "PUT, new visitor",
    "account_write": "PUT, account",
    "pgbench": "same SQL (pgbench)",
}
LINKS_SQL = """SELECT
  (SELECT count(*) FROM audit_entry WHERE action = 'link.created'),
  (SELECT count(*) FROM audit_entry WHERE action = 'link.refused'),
  (SELECT count(*) FROM consent_record WHERE source = 'link_merge')"""


def utcnow() -> Any:
    from identity.db import utcnow

    return utcnow()


@dataclass
class Setup:
    args: argparse.Namespace
    env: dict[str, str]
    url: str
    port: int
    basic: str  # the store's Authorization header
    runtime: Any  # identity's Runtime, in-process
    postgres: harness.Postgres
    work: Path
    accounts: list[str]  # seeded customers, every purpose decided
    flows: dict[tuple[int, str], tuple[list[str], list[str]]] = field(default_factory=dict)
    visitors: list[str] = field(default_factory=list)  # with the banner's decisions

    def server(self, *, workers: int = 1) -> harness.ServerProcess:
        return harness.identity_server(self.env, self.port, workers=workers)

    def target(self, server: harness.ServerProcess, *, db_on_server_core: bool) -> harness.Target:
        return harness.Target("identity", server, self.postgres.cpu_seconds, db_on_server_core)

    def issue(self) -> str:
        return str(self.runtime.anonymous_ids.issue(CLIENT, utcnow()).token)

    def database_on(self, cores: str) -> None:
        harness.pin_tree(self.postgres.pid, cores)

    def place_audit_entries(self) -> None:
        """What a stopped server (or pgbench) left for the sequencer, placed now: ``identity
        audit checkpoint``'s calls, in-process."""
        self.runtime.audit_keys.ensure()
        self.runtime.sequencer.drain()


def bearer(base_url: str, basic: str) -> str:
    return harness.access_token(base_url, basic, BACKEND_SCOPE)


# -- set-up ------------------------------------------------------------------------------------


def prepare(args: argparse.Namespace, work: Path, postgres: harness.Postgres) -> Setup:
    url = harness.new_database(postgres, work, "identity_bench_linking")
    harness.pin_tree(postgres.pid, "0,1")  # set-up, not measurement: both cores
    seeding = seed_consent.seed(url, args.accounts)
    print(f"seeded {seeding['rows']:,} rows in {seeding['load_s']:.1f}s", flush=True)
    port = harness.free_port()
    env = harness.identity_env(port=port, var_dir=work, database_url=url)
    grants = ("authorization_code", "refresh_token", "client_credentials")
    created = json.loads(harness.identity_cli(
        env, "clients", "create", "--name", "Web store", "--client-id", CLIENT, "--first-party",
        "--redirect-uri", REDIRECT_URI, "--scope", SCOPE,
        *itertools.chain.from_iterable(("--grant-type", g) for g in grants),
    ))  # fmt: skip
    basic = "Basic " + base64.b64encode(f"{CLIENT}:{created['client_secret']}".encode()).decode()
    from identity.runtime import Runtime
    from identity.settings import Settings

    settings = {k.removeprefix("IDENTITY_").lower(): v for k, v in env.items()
                if k.startswith("IDENTITY_")}  # fmt: skip
    runtime = Runtime.build(Settings.load(**settings))
    accounts = seed_consent.sample_subjects(url, args.accounts)
    setup = Setup(args, env, url, port, basic, runtime, postgres, work, accounts)
    started, banner = time.monotonic(), []
    if "signin" in args.only:
        banner = make_flows(setup)
    if "decisions" in args.only:
        setup.visitors = [setup.issue() for _ in range(args.sample)]
    record_banner(setup, setup.visitors + banner)
    print(f"set-up: {len(setup.flows) * (args.flows + args.warm_flows):,} customers with a "
          f"session, the banner's decisions of {len(setup.visitors) + len(banner):,} visitors "
          f"in {time.monotonic() - started:.0f}s", flush=True)  # fmt: skip
    return setup


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_flows(setup: Setup) -> list[str]:
    """signin.lua's lines for every round and kind (warm-up and run), each flow a new customer
    with a browser session, in one transaction. Returns the ids that need the banner's
    decisions (the ``merge`` flows')."""
    from sqlalchemy import insert

    from identity.accounts.models import BrowserSession, User
    from identity.crypto import new_token, token_digest

    a, now = setup.args, utcnow()
    users: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    banner: list[str] = []

    def flow(kind: str) -> str:
        user, cookie, verifier = uuid.uuid4(), new_token(), secrets.token_urlsafe(48)
        users.append(dict(
            id=user, email=f"{user.hex}@linking.example", email_verified_at=now,
            password_hash="-", name="Linking", locale="es", created_at=now,
            password_changed_at=now, updated_at=now, phone_number_verified=False,
        ))  # fmt: skip
        sessions.append(dict(
            id_hash=token_digest(cookie), sid=new_token(24), user_id=user, created_at=now,
            auth_time=now, last_seen_at=now, expires_at=now + setup.runtime.settings
            .session_absolute_timeout, amr="pwd", user_agent="wrk", ip_hash="-", proven_at=now,
        ))  # fmt: skip
        anon_id = "-" if kind == "plain" else setup.issue()
        if kind == "merge":
            banner.append(anon_id)
        return f"{cookie} {verifier} {s256(verifier)} {anon_id}"

    for i, kind in itertools.product(range(1, a.rounds + 1), KINDS):
        warm = [flow(kind) for _ in range(a.warm_flows)]
        setup.flows[i, kind] = warm, [flow(kind) for _ in range(a.flows)]
    with setup.runtime.db.transaction() as session:
        session.execute(insert(User), users)
        session.execute(insert(BrowserSession), sessions)
    return banner


def record_banner(setup: Setup, visitors: list[str], per_transaction: int = 200) -> None:
    """The banner's decisions for ``visitors``, appended as ``PUT /v1/consents/{id}/{purpose}``
    appends them (the subject row at first use, then record, state, audit entry)."""
    from identity.audit.refs import Actor
    from identity.consent.ledger import Ledger, NewRecord
    from identity.subjects.service import note_anonymous

    runtime, now = setup.runtime, utcnow()
    ledger = Ledger(db=runtime.db, pseudonyms=runtime.pseudonyms)
    for start in range(0, len(visitors), per_transaction):
        with ledger.writing() as writes:
            for token in visitors[start : start + per_transaction]:
                visitor = runtime.anonymous_ids.verify(token, CLIENT, now)
                note_anonymous(writes.session, visitor)
                for purpose, decision in BANNER:
                    writes.append(NewRecord(
                        subject=visitor.key, purpose=runtime.consent.catalog.require(purpose),
                        decision=decision, source=f"api:{CLIENT}", actor=Actor.client(CLIENT),
                    ))  # fmt: skip
    setup.place_audit_entries()


# -- signin ------------------------------------------------------------------------------------


def run_flows(
    setup: Setup, target: harness.Target, name: str, lines: list[str], *, measured: bool
) -> tuple[int, dict[str, Any]]:
    """signin.lua over ``lines`` on one connection: the flows completed and, if
    ``measured``, the run's figures with the flows' own latency and CPU time."""
    files = harness.write_thread_files(setup.work, name, lines, 1)
    cookie = setup.runtime.session_cookie.name
    script = ("signin", files, setup.basic, AUTHORIZE, REDIRECT_URI, cookie)
    seconds = setup.args.duration if measured else setup.args.warmup
    kw: dict[str, Any] = {"duration": seconds, "connections": 1, "threads": 1}
    if not measured:
        result = harness.run_wrk(target.server.url, *script, **kw)
        result.check({200, 303}, allowed=("flows", "exhausted"), allow_empty=True)
        return result.counters.get("flows", 0), {}
    result, out = harness.measure(target, *script, **kw)
    result.check({200, 303}, allowed=("flows", "exhausted"))
    flows, s = result.counters.get("flows", 0), result.samples
    spent_s = max(s.get("exhausted_after_us", [0.0])) / 1e6 or result.duration_s

    def ms(name: str, pct: float) -> float:
        return harness.percentile([us / 1000 for us in s[name]], pct)

    out.update(
        per_s=flows / spent_s, units=flows, p50_ms=ms("flow", 50), p99_ms=ms("flow", 99),
        cpu_ms=out["settled_cpu_s"] * 1000 / flows,  # the server's, linking after the answer too
        db_cpu_ms=out["settled_db_cpu_s"] * 1000 / flows,
        legs_p50_ms={leg: ms(f"leg_{leg}", 50) for leg in ("authorize", "token")},
    )  # fmt: skip
    return flows, out


def signin_round(setup: Setup, i: int) -> dict[str, Any]:
    row: dict[str, Any] = {"round": i}
    setup.database_on(SERVER_CORE)
    with harness.serving(setup.server()) as server:
        target = setup.target(server, db_on_server_core=True)
        for kind in KINDS[:: 1 if i % 2 else -1]:
            (warm, lines), before = setup.flows[i, kind], harness.sql_row(setup.url, LINKS_SQL)
            flows = run_flows(setup, target, f"warm-{i}-{kind}", warm, measured=False)[0]
            measured, row[kind] = run_flows(setup, target, f"run-{i}-{kind}", lines, measured=True)
            flows += measured
            created, refused, merged = (
                x - y for x, y in zip(harness.sql_row(setup.url, LINKS_SQL), before, strict=True)
            )
            low, high = (
                (0, 0) if kind == "plain" else (flows, flows + 2)
            )  # +2: one in flight per run
            want_merged = len(BANNER) * created if kind == "merge" else 0
            if not low <= created <= high or refused or merged != want_merged:
                raise BenchError(f"{kind}: {flows} flows, but {created} links, {refused} refused, "
                                 f"{merged} merged records")  # fmt: skip
            print_phase(i, kind, row[kind])
    setup.place_audit_entries()
    return row


# -- decisions ---------------------------------------------------------------------------------


def sanity_check(base_url: str, setup: Setup, auth: str) -> None:
    """By hand: an id from ``POST /v1/anonymous`` looks like those issued in-process; one
    anonymous and one account decision agree with what was recorded."""
    state = "SELECT status FROM consent_state WHERE subject = :s AND purpose = 'personalization'"
    account_state = harness.sql_scalar(setup.url, state, s=setup.accounts[0])
    with httpx.Client(base_url=base_url, headers={"Authorization": auth}, timeout=30) as client:
        issued = client.post("/v1/anonymous", json={}).json()["anonymous_id"]
        if len(issued) != len(setup.visitors[0]) or issued[:2] != setup.visitors[0][:2]:
            raise BenchError(f"POST /v1/anonymous: {issued!r}, unlike {setup.visitors[0]!r}")
        for subject, purpose, status in (
            (issued, "personalization", None),
            (setup.visitors[0], *BANNER[0]),
            (setup.accounts[0], "personalization", account_state),
        ):
            body = client.get(f"/v1/consents/{subject}/{purpose}").json()
            if body.get("subject") != subject or body.get("status") != status:
                raise BenchError(f"decision for {subject}: {body}, want status {status}")


def decisions_round(setup: Setup, i: int) -> dict[str, Any]:
    a, row = setup.args, {"round": i}
    subjects = {"anon_decision": setup.visitors, "account_decision": setup.accounts[: a.sample]}
    kw = {"connections": a.connections, "threads": 2}
    setup.database_on(SERVER_CORE)
    with harness.serving(setup.server()) as server:
        target, auth = setup.target(server, db_on_server_core=True), bearer(server.url, setup.basic)
        if i == 1:
            sanity_check(server.url, setup, auth)
        for phase in ["healthz", "anon_decision", "account_decision"][:: 1 if i % 2 else -1]:
            script: tuple[str, ...] = ("requests", "GET", "/healthz", '"ok"', "-")
            if phase != "healthz":
                files = harness.write_thread_files(setup.work, phase, subjects[phase], 2)
                script = ("decision", files, auth, ",".join(p for p, _ in BANNER))
            if (warm := target.warm_up(a.warmup, *script, **kw)) is not None:
                warm.check({200})
            result, row[phase] = harness.measure(target, *script, duration=a.duration, **kw)
            result.check({200})
            print_phase(i, phase, row[phase])
    return row


# -- writes ------------------------------------------------------------------------------------


def write_lines(subjects: Iterator[str], n: int) -> list[str]:
    """each.lua's lines: the PUT path, a space, the body."""
    return [
        f'/v1/consents/{next(subjects)}/{purpose} {{"decision":"{decision}"}}'
        for purpose, decision in itertools.islice(itertools.cycle(WRITES), n)
    ]


class Writes:
    """One round's ``--workers 2`` server and its two write phases."""

    def __init__(self, setup: Setup, server: harness.ServerProcess) -> None:
        self.setup, self.a = setup, setup.args
        self.target = setup.target(server, db_on_server_core=False)
        self.auth = f"Authorization: {bearer(server.url, setup.basic)}"

    def run(self, name: str, lines: list[str], mode: str, *, warm: bool = False) -> Any:
        """each.lua over ``lines`` for ``--warmup`` (``warm``: none may have finished, on a
        busy machine) or ``--duration`` seconds."""
        n, seconds = self.a.write_connections, self.a.warmup if warm else self.a.duration
        files = harness.write_thread_files(self.setup.work, name, lines, n)
        script = ("each", "PUT", files, mode, '"record":', self.auth, "Content-Type: "
                  "application/json")  # fmt: skip
        result, out = harness.measure(
            self.target, *script, duration=seconds, connections=n, threads=n
        )
        result.check({200}, allow_empty=warm)  # "exhausted" too: a spent pool voids the rate
        return result, out

    def anon_write(self) -> dict[str, Any]:
        fresh = (self.setup.issue() for _ in itertools.count())
        warm = self.run("warm", write_lines(fresh, 400 * self.a.write_connections), "once",
                        warm=True)[0]  # fmt: skip
        pool = max(4000, math.ceil(warm.per_s * self.a.duration * 3))
        return self.run("visitors", write_lines(fresh, pool), "once")[1]

    def account_write(self) -> dict[str, Any]:
        lines = write_lines(iter(self.setup.accounts), len(self.setup.accounts))
        self.run("warm", lines, "cycle", warm=True)
        return self.run("accounts", lines, "cycle")[1]


def pgbench(setup: Setup, i: int) -> dict[str, Any]:
    def run(seconds: float, name: str) -> dict[str, Any]:
        return harness.measure_pgbench(
            setup.postgres, setup.url, PGBENCH_SCRIPT, "-D", f"source=api:{CLIENT}",
            "-D", f"actor=client:{CLIENT}", "-D", f"client={CLIENT}", duration=seconds,
            connections=setup.args.write_connections, threads=2, log_dir=setup.work / name,
        )  # fmt: skip

    if setup.args.warmup > 0:
        run(setup.args.warmup, f"pgbench-{i}-warm-up")
    return run(setup.args.duration, f"pgbench-{i}")


def writes_round(setup: Setup, i: int) -> dict[str, Any]:
    row: dict[str, Any] = {"round": i}
    setup.database_on(LOAD_CORE)
    for block in ["server", "pgbench"][:: 1 if i % 2 else -1]:
        if block == "pgbench":
            row["pgbench"] = pgbench(setup, i)
            print_phase(i, "pgbench", row["pgbench"])
        else:
            with harness.serving(setup.server(workers=2)) as server:
                phases = Writes(setup, server)
                for phase in ["anon_write", "account_write"][:: 1 if i % 2 else -1]:
                    row[phase] = getattr(phases, phase)()
                    print_phase(i, phase, row[phase])
        setup.place_audit_entries()
    return row


# -- reporting ---------------------------------------------------------------------------------


def print_phase(i: int, phase: str, f: dict[str, Any]) -> None:
    print(f"  round {i}: {TITLES[phase]:29} {f['per_s']:9.1f}/s  p50 {f['p50_ms']:6.2f} ms  p99 "
          f"{f['p99_ms']:6.2f} ms  cores 0/1 {harness.core_used(f):3.0f}%/"
          f"{f['load_core_pct']:3.0f}%  others {f['others_pct']:4.1f}%", flush=True)  # fmt: skip


def signin_rows(rounds: list[Any]) -> list[tuple[str, str, str, bool | None]]:
    """p50 of each kind, and each kind's difference from ``plain`` (median of the rounds' own),
    with the CPU-time difference (server + database per flow), which stolen time moves less."""

    def diff(kind: str) -> tuple[float, str]:
        each = [r[kind]["p50_ms"] - r["plain"]["p50_ms"] for r in rounds]
        cpu = harness.median([harness.cpu_with_db(r[kind]) - harness.cpu_with_db(r["plain"])
                              for r in rounds])  # fmt: skip
        text = f"{harness.median(each):+.2f} ms ({', '.join(f'{d:+.2f}' for d in each)}); "
        return harness.median(each), text + f"CPU {cpu:+.2f} ms"

    m = {k: harness.medians(rounds, k) for k in KINDS}
    legs = {k: harness.median([r[k]["legs_p50_ms"]["token"] for r in rounds]) for k in KINDS}
    rows: list[tuple[str, str, str, bool | None]] = []
    for kind in KINDS:
        f = m[kind]
        rows.append((f"{TITLES[kind]}: p50 (p99)", f"{f['p50_ms']:.2f} ms ({f['p99_ms']:.2f}); "
                     f"POST /token {legs[kind]:.2f} ms; CPU {harness.cpu_with_db(f):.2f} ms",
                     "", None))  # fmt: skip
    (fixed, empty), (_, merged) = diff("empty"), diff("merge")
    what = "… difference, id with nothing to merge"
    rows.append((what, empty, f"< {TARGET_LINK_MS:g} ms", fixed < TARGET_LINK_MS))
    rows.append(("… difference, id with 3 decisions merged", merged, "", None))
    return rows


def decisions_rows(rounds: list[Any]) -> list[tuple[str, str, str, bool | None]]:
    anon, account = "anon_decision", "account_decision"
    to_h = {p: harness.compare(rounds, p, "healthz", f"{TITLES[p]} : /healthz", None)
            for p in (anon, account)}  # fmt: skip
    same = harness.compare(rounds, anon, account, "anonymous : account decisions", None)
    m = {p: harness.medians(rounds, p) for p in ("healthz", anon, account)}
    rows: list[tuple[str, str, str, bool | None]] = [
        ("GET /healthz (the floor)", f"{m['healthz']['per_s']:,.0f}/s", "", None)
    ]
    for p in (anon, account):
        rows.append((TITLES[p], f"{m[p]['per_s']:,.0f}/s = {to_h[p]['ratio']:.2f}x /healthz, "
                     f"p50 {m[p]['p50_ms']:.2f} ms", "", None))  # fmt: skip
    each = ", ".join(f"{x:.3f}" for x in same["rounds"])
    rows.append(("… anonymous : account", f"{same['ratio']:.3f}x ({each}; CPU-time "
                 f"{same['cpu_ratio']:.3f}x)", f">= {TARGET_SAME_RATE:.2f}x",
                 same["ratio"] >= TARGET_SAME_RATE))  # fmt: skip
    return rows


def writes_rows(rounds: list[Any]) -> list[tuple[str, str, str, bool | None]]:
    """New visitors' writes, judged on #11's targets (rate, or ratio to pgbench running the
    same statements), with the accounts' writes to the same server beside them."""
    m = {p: harness.medians(rounds, p) for p in ("anon_write", "account_write", "pgbench")}
    anon, account = m["anon_write"], m["account_write"]
    vs_pg = harness.compare(rounds, "anon_write", "pgbench", "new visitors : pgbench", None)
    acc_pg = harness.compare(rounds, "account_write", "pgbench", "accounts : pgbench", None)
    vs_acc = harness.compare(rounds, "anon_write", "account_write", "new visitors : accounts", None)
    each = ", ".join(f"{r['anon_write']['per_s']:.0f}" for r in rounds)
    met = anon["per_s"] >= TARGET_WRITES or vs_pg["ratio"] >= TARGET_VS_PGBENCH
    rows: list[tuple[str, str, str, bool | None]] = [
        (TITLES["anon_write"], f"{anon['per_s']:,.0f}/s ({each}), p50 {anon['p50_ms']:.1f} ms, "
         f"p99 {anon['p99_ms']:.1f} ms",
         f">= {TARGET_WRITES:g}/s, or >= {TARGET_VS_PGBENCH}x pgbench", met),
    ]  # fmt: skip
    for p in ("account_write", "pgbench"):
        rows.append((TITLES[p], f"{m[p]['per_s']:,.0f}/s, p50 {m[p]['p50_ms']:.1f} ms, p99 "
                     f"{m[p]['p99_ms']:.1f} ms", "", None))  # fmt: skip
    rows += [
        ("… : pgbench", f"new visitors {vs_pg['ratio']:.3f}x (CPU-time {vs_pg['cpu_ratio']:.3f}x)"
         f", accounts {acc_pg['ratio']:.3f}x", "", None),
        ("… new visitors : accounts", f"{vs_acc['ratio']:.3f}x (CPU-time "
         f"{vs_acc['cpu_ratio']:.3f}x)", "", None),
        ("… CPU per write, server + database", f"visitor {anon['cpu_ms']:.2f} + "
         f"{anon['db_cpu_ms']:.2f} ms, account {account['cpu_ms']:.2f} + "
         f"{account['db_cpu_ms']:.2f} ms, pgbench {m['pgbench']['cpu_ms']:.2f} + "
         f"{m['pgbench']['db_cpu_ms']:.2f} ms", "", None),
    ]  # fmt: skip
    return rows


PARTS = {  # part -> (one round, its rows of the closing table)
    "signin": (signin_round, signin_rows),
    "decisions": (decisions_round, decisions_rows),
    "writes": (writes_round, writes_rows),
}


def report(args: argparse.Namespace, rounds: dict[str, list[Any]], load: list[str]) -> None:
    table: list[tuple[str, str, str, bool | None]] = []
    for part in args.only:
        harness.print_rounds(rounds[part], TITLES)
        table += PARTS[part][1](rounds[part])
    harness.print_noise([r for part in args.only for r in rounds[part]], TITLES)
    print(f"\nload (uptime): {'; '.join(load)}\n")
    verdicts = {None: "", True: "PASS", False: "FAIL"}
    harness.print_table(["figure", "value", "target", ""],
                        [(f, v, t, verdicts[ok]) for f, v, t, ok in table])  # fmt: skip
    summary = [{"figure": f, "value": v, "target": t, "verdict": verdicts[ok]}
               for f, v, t, ok in table]  # fmt: skip
    config = {k: v for k, v in vars(args).items() if k != "work"}
    harness.write_result(
        "linking-postgresql", {"config": config, "load": load, "rounds": rounds, "summary": summary}
    )


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    add = parser.add_argument
    add("--only", default=",".join(PARTS), help="comma-separated parts")
    add("--rounds", type=int, default=3)
    add("--duration", type=float, default=10.0, help="seconds per measurement")
    add("--warmup", type=float, default=2.0, help="warm-up seconds before each measurement")
    add("--flows", type=int, default=600, help="sign-ins made ready per kind and round")
    add("--warm-flows", type=int, default=40, help="of those, for the warm-up")
    add("--accounts", type=int, default=100_000, help="seeded customers")
    add("--sample", type=int, default=1000, help="anonymous ids and accounts asked about")
    add("--connections", type=int, default=8, help="for decisions")
    add("--write-connections", type=int, default=16)
    add("--quick", action="store_true", help="small sizes, one short round (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 3.0, 1.0
        args.flows, args.warm_flows, args.accounts, args.sample = 200, 20, 5_000, 300
    args.only = [p for p in args.only.split(",") if p in PARTS]
    return args


def main() -> int:
    args = parse_args()
    load = [uptime()]
    print(f"linking benchmark: {', '.join(args.only)}; {args.rounds} round(s) x {args.duration:g}"
          f"s per measurement; server on core {SERVER_CORE}, wrk on core {LOAD_CORE}, PostgreSQL "
          f"on core {SERVER_CORE} (writes: {LOAD_CORE}); {load[0]}", flush=True)  # fmt: skip
    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(
            harness.postgres_server(SERVER_CORE, {"shared_buffers": "2GB"})
        )
        args.work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-link-")))
        setup = prepare(args, args.work, postgres)
        stack.callback(setup.runtime.close)
        rounds: dict[str, list[Any]] = {}
        for part in args.only:
            started = time.monotonic()
            rounds[part] = [PARTS[part][0](setup, i) for i in range(1, args.rounds + 1)]
            load.append(uptime())
            print(f"{part}: {time.monotonic() - started:.0f}s; {load[-1]}", flush=True)
    report(args, rounds, load)
    return 0


if __name__ == "__main__":
    harness.run(main)
