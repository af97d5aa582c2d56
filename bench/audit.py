"""The audit log as a transparency log, on PostgreSQL: consent writes against the same
transaction in plain SQL, the sequencer's lag, and a log of 1,000,000 entries (export,
verification, inclusion proofs).

Targets (#11, :data:`TARGETS`, each printed PASS or FAIL): consent writes ``PUT
/v1/consents/{subject}/{purpose}`` >= 540/s (10x the 54/s measured before the redesign), >=
0.25x pgbench running the same transaction (median of the per-round ratios), p99 < 50 ms; the
sequencer lag (``sequenced_at - at``) of their entries p99 < 1 s, all of them placed within a
few seconds; at 1,000,000 entries ``identity audit export --format jsonl`` < 20 s and < 200 MB
peak RSS, inclusion proofs p50 < 5 ms. Sign-in and token figures (that they are not worse) come
from ``bench/login.py`` and ``bench/tokens.py``.

Set-up: a throwaway cluster on core 1 (``shared_buffers`` 2 GB) with two databases. In the
first, ``bench/seed_consent.py`` seeds ``--subjects`` customers x 5 purposes (``bench_subject``
numbers them 1..N for pgbench); a ``client_credentials`` client with ``consent:read
consent:write`` gets a token from each round's server. Rounds alternate the order of:

``writes``   ``identity serve --workers 2`` (a fresh process, core 0), wrk on core 1 with
             ``--connections``: ``bench/lua/writes.lua``, random subjects, the two purposes
             without double opt-in, granted and withdrawn in turn, every answer 200. Once every
             entry of the phase is placed: their lag, how many were still waiting when the last
             one was written, and how long after it the sequencer was done.
``pgbench``  pgbench on core 0 in the server's place, the same connections, running
             ``bench/pgbench/consent_write.sql`` (read the state, insert the record, upsert the
             state, insert the audit entry: the server's transaction without HTTP and Python);
             ``identity audit checkpoint`` then places its entries (not measured).

In the second database ``--entries`` entries are loaded with ``COPY`` (unsequenced) and placed
by ``identity audit checkpoint`` on core 0 (timed). Then per round, on core 0, with wall time
and peak RSS (GNU time's, see ``harness.run_measured``): ``audit export --format jsonl``,
``audit verify`` (the database), ``audit verify --file --key`` (that export, offline); and
``identity serve`` with one wrk connection (p50 is a latency), in alternating order: ``GET
/healthz`` (for reference) and ``bench/lua/proofs.lua``, ``index=<random>&size=<entries>`` (one
proof is first checked against the latest checkpoint's root). Needs wrk, GNU time and
PostgreSQL's binaries with pgbench (``$PGBIN``, or the newest ``/usr/lib/postgresql/*/bin``).

    bench/audit.py [--subjects 100000] [--entries 1000000] [--rounds 3] [--duration 10]
        [--warmup 2] [--connections 16] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import site
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness
import httpx
import seed_consent
from consent import SCOPE, WRITE_PURPOSES
from harness import LOAD_CORE, SERVER_CORE, BenchError, identity_command

TARGETS = (  # phase, figure, comparison, target, what
    ("writes", "per_s", ">=", 540.0, "consent writes/s"),
    ("writes", "p99_ms", "<", 50.0, "consent write p99 ms"),
    ("writes", "lag_p99_ms", "<", 1000.0, "sequencer lag p99 ms"),
    ("writes", "drained_after_s", "<", 5.0, "sequencer done after the last write, s"),
    ("export", "seconds", "<", 20.0, "export s"),
    ("export", "peak_mib", "<", 200.0, "export peak RSS MiB"),
    ("proofs", "p50_ms", "<", 5.0, "inclusion proof p50 ms"),
)
TARGET_VS_PGBENCH = 0.25
PGBENCH_SCRIPT = harness.BENCH_DIR / "pgbench" / "consent_write.sql"
PYCACHE = "pycache"  # under the work directory: identity's and its dependencies' bytecode
TITLES = {
    "writes": "PUT consent (identity)",
    "pgbench": "same SQL (pgbench)",
    "healthz": "GET /healthz, 1 conn",
    "proofs": "inclusion proof, 1 conn",
}
LAG_SQL = """
SELECT count(*), count(*) FILTER (WHERE e.sequenced_at IS NULL OR e.sequenced_at > last.at),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.sequenced_at - e.at)),
  percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM e.sequenced_at - e.at)),
  extract(epoch FROM max(e.sequenced_at) - last.at)
FROM audit_entry e, (SELECT max(at) AS at FROM audit_entry WHERE id > :first) last
WHERE e.id > :first GROUP BY last.at"""
CONSENT_DETAILS = (  # record_id filled in per entry
    '{"decision":"granted","purpose":"personalization","record_id":%d,'
    '"source":"preference_center","status":"granted","version":"1"}'
)


@dataclass
class Db:
    url: str
    env: dict[str, str]
    port: int
    basic: str  # a service client's Authorization header


def database(postgres: harness.Postgres, work: Path, name: str, scope: str) -> Db:
    url = harness.new_database(postgres, work, name)
    seed_consent.migrate(url)
    port = harness.free_port()
    env = harness.identity_env(port=port, var_dir=work, database_url=url)
    env["PYTHONPYCACHEPREFIX"] = str(work / PYCACHE)  # the bytecode prepare() compiled
    return Db(url, env, port, harness.service_client(env, f"bench-{name}", scope))


# -- writes, and the same transaction in plain SQL ---------------------------------------------


def seed_subjects(args: argparse.Namespace, db: Db, postgres: harness.Postgres) -> Any:
    harness.pin_tree(postgres.pid, "0,1")  # set-up, not measurement: both cores
    try:
        seeding = seed_consent.seed(db.url, args.subjects, upgrade=False)
    finally:
        harness.pin_tree(postgres.pid, LOAD_CORE)
    with seed_consent.connect(db.url) as connection:
        connection.execute(
            "CREATE TABLE bench_subject AS SELECT row_number() OVER (ORDER BY id) AS n, id::text"
            " AS subject FROM user_account; ALTER TABLE bench_subject ADD PRIMARY KEY (n)"
        )
    return seeding


def writes(args: argparse.Namespace, db: Db, postgres: harness.Postgres) -> dict[str, Any]:
    with harness.serving(harness.identity_server(db.env, db.port, workers=2)) as server:
        bearer = harness.access_token(server.url, db.basic, SCOPE)
        target = harness.Target("identity", server, postgres.cpu_seconds, db_on_server_core=False)
        script = ("writes", args.subject_files, bearer, WRITE_PURPOSES)
        kw = {"connections": args.connections, "threads": 2}
        if (warm := target.warm_up(args.warmup, *script, **kw)) is not None:
            warm.check({200})
        harness.wait_idle(server)
        first = harness.sql_scalar(db.url, "SELECT coalesce(max(id), 0) FROM audit_entry")
        result, figures = harness.measure(target, *script, duration=args.duration, **kw)
        result.check({200})
        return figures | sequencing_lag(db, first)


def sequencing_lag(db: Db, first: int) -> dict[str, Any]:
    """The sequencer's figures for the entries after id ``first``, once all are placed."""
    waiting = "SELECT count(*) FROM audit_entry WHERE id > :first AND leaf_index IS NULL"
    deadline = time.monotonic() + 30
    while left := harness.sql_scalar(db.url, waiting, first=first):
        if time.monotonic() > deadline:
            raise BenchError(f"{left} entries of the writes phase unsequenced 30 s after it")
        time.sleep(0.2)
    n, behind, p50, p99, drained = harness.sql_row(db.url, LAG_SQL, first=first)
    return {
        "entries": n,
        "waiting_at_end": behind,  # not yet placed when the phase's last entry was written
        "lag_p50_ms": float(p50) * 1000,
        "lag_p99_ms": float(p99) * 1000,
        "drained_after_s": float(drained),  # from the last entry written to the last placed
    }


def pgbench(args: argparse.Namespace, db: Db, postgres: harness.Postgres, i: int) -> Any:
    def run(seconds: float, name: str) -> dict[str, Any]:
        return harness.measure_pgbench(
            postgres, db.url, PGBENCH_SCRIPT, "-D", f"subjects={args.subjects}",
            "-D", "source=api:pgbench", "-D", "actor=client:pgbench", duration=seconds,
            connections=args.connections, threads=2, log_dir=args.work / name,
        )  # fmt: skip

    if args.warmup > 0:
        run(args.warmup, f"pgbench-{i}-warm-up")
    figures = run(args.duration, f"pgbench-{i}")
    harness.identity_cli(db.env, "audit", "checkpoint")  # place pgbench's entries (set-up)
    return figures


# -- a log of --entries entries ----------------------------------------------------------------


def load_entries(db: Db, n: int) -> float:
    """``n`` unsequenced entries in time order over the last year, with ``COPY``: consent
    records and sign-ins of 10,000 customers. Returns the seconds taken."""
    import psycopg

    started = time.monotonic()
    users = [f"user:{uuid.UUID(int=seed_consent.SEED * 7919 + u)}" for u in range(10_000)]
    first, step = datetime.now(UTC) - timedelta(days=365), timedelta(days=365) / n

    def row(i: int) -> str:
        at, user = (first + i * step).strftime("%Y-%m-%d %H:%M:%S.%f+00"), users[i % 10_000]
        if i % 3:
            return f"{at}\tconsent.recorded\t{user}\t{user}\t{CONSENT_DETAILS % i}\n"
        return f'{at}\tlogin.succeeded\t{user}\t{user}\t{{"ip":"{i:032x}","sid":"{i:064x}"}}\n'

    copying = "COPY audit_entry (at, action, actor, subject, details) FROM STDIN"
    with (
        psycopg.connect(seed_consent.pg_conninfo(db.url)) as connection,
        connection.cursor() as cursor,
        cursor.copy(copying) as copy,
    ):
        for start in range(0, n, 50_000):
            copy.write("".join(map(row, range(start, min(n, start + 50_000)))))
    with seed_consent.connect(db.url) as connection:
        connection.execute("VACUUM (ANALYZE) audit_entry")
    return time.monotonic() - started


def audit_cli(db: Db, *args: str) -> harness.Finished:
    """``identity audit ARGS`` on core 0, measured."""
    return harness.run_measured(identity_command("audit", *args), env=db.env)


def check_one_proof(url: str, bearer: str, index: int) -> None:
    """A proof of leaf ``index`` in the latest checkpoint's tree leads to its root."""
    from identity.audit.merkle import check_record, leaf_hash

    with httpx.Client(base_url=url, headers={"Authorization": bearer}, timeout=30) as client:
        _, size, root = client.get("/v1/audit/checkpoint").text.splitlines()[:3]
        leaf = base64.b64decode(client.get(f"/v1/audit/entries/{index}").json()["leaf"])
        hashes = client.get(f"/v1/audit/proofs/inclusion?index={index}&size={size}").json()
    proof = [base64.b64decode(h) for h in hashes["hashes"]]
    check_record(proof, int(size), base64.b64decode(root), index, leaf_hash(leaf))


def log_round(args: argparse.Namespace, db: Db, postgres: harness.Postgres, i: int) -> Any:
    export, key = args.work / "export.jsonl", args.work / "audit.vkey"
    row: dict[str, Any] = {}
    for name, command in (
        ("export", ("export", "--format", "jsonl", "--output", str(export))),
        ("verify", ("verify",)),
        ("offline", ("verify", "--file", str(export), "--key", str(key))),
    ):
        done = audit_cli(db, *command)
        row[name] = {"seconds": done.seconds, "cpu_s": done.cpu_s, "peak_mib": done.peak_mib}
        print(f"  round {i}: audit {' '.join(command[:2]):18} {done.seconds:6.1f} s, peak RSS "
              f"{done.peak_mib:4.0f} MiB  {done.output.strip()[-60:]}", flush=True)  # fmt: skip
    with harness.serving(harness.identity_server(db.env, db.port)) as server:
        bearer = harness.access_token(server.url, db.basic, "audit:read")
        if i == 1:
            check_one_proof(server.url, bearer, args.entries // 3)
        target = harness.Target("identity", server, postgres.cpu_seconds, db_on_server_core=False)
        scripts = {
            "healthz": ("requests", "GET", "/healthz", '"ok"', "-"),
            "proofs": ("proofs", bearer, str(args.entries)),
        }
        for phase in list(scripts)[:: 1 if i % 2 else -1]:
            if warm := target.warm_up(args.warmup, *scripts[phase], connections=1, threads=1):
                warm.check({200})
            result, row[phase] = harness.measure(
                target, *scripts[phase], duration=args.duration, connections=1, threads=1
            )
            result.check({200})
            print_phase(i, phase, row[phase])
    return row


# -- running and reporting ---------------------------------------------------------------------


def print_phase(i: int, phase: str, f: dict[str, Any]) -> None:
    lag = f"  lag p99 {f['lag_p99_ms']:.0f} ms" if "lag_p99_ms" in f else ""
    print(f"  round {i}: {TITLES[phase]:24} {f['per_s']:8.1f}/s  p50 {f['p50_ms']:6.2f} ms  p99 "
          f"{f['p99_ms']:7.2f} ms  cores 0/1 {harness.core_used(f):3.0f}%/"
          f"{f['load_core_pct']:3.0f}%{lag}", flush=True)  # fmt: skip


def verdict(ok: bool, text: str) -> str:
    print(f"{'PASS' if ok else 'FAIL'}: {text}")
    return "PASS" if ok else "FAIL"


def per_round(rounds: list[Any], phase: str, key: str) -> tuple[float, str]:
    values = [r[phase][key] for r in rounds if phase in r]
    return harness.median(values), ", ".join(f"{v:,.2f}" for v in values)


def report(args: argparse.Namespace, rounds: list[Any], setup: dict[str, Any]) -> None:
    harness.print_rounds(rounds, TITLES)
    m = {p: harness.medians(rounds, p) for p in TITLES}
    ratio = harness.compare(rounds, "writes", "pgbench", "writes/s : pgbench tps", None)
    w, pg = m["writes"], m["pgbench"]
    print(f"CPU per write: server {w['cpu_ms']:.2f} ms + database {w['db_cpu_ms']:.2f} ms; per "
          f"pgbench transaction: client {pg['cpu_ms']:.2f} ms + database {pg['db_cpu_ms']:.2f} "
          f"ms. Cores 0/1 busy (1: PostgreSQL, and wrk): writes {harness.core_used(w):.0f}%/"
          f"{w['load_core_pct']:.0f}%, pgbench {harness.core_used(pg):.0f}%/"
          f"{pg['load_core_pct']:.0f}%\n\nThe sequencer, per writes phase:")  # fmt: skip
    keys = ("entries", "waiting_at_end", "lag_p50_ms", "lag_p99_ms", "drained_after_s")
    heads = ("round", "entries", "waiting at the end", "lag p50 ms", "lag p99 ms", "done after s")
    harness.print_table(heads, [[r["round"], *(r["writes"][k] for k in keys)] for r in rounds])
    print(f"\nsequencing {args.entries:,} loaded entries: {setup['sequencing_s']:.1f} s "
          f"({args.entries / setup['sequencing_s']:,.0f} entries/s), peak RSS "
          f"{setup['sequencing_mib']:.0f} MiB (COPY: {setup['load_s']:.1f} s)")  # fmt: skip
    for phase in ("verify", "offline"):
        (took, each), peak = (
            per_round(rounds, phase, "seconds"),
            per_round(rounds, phase, "peak_mib"),
        )
        print(f"audit {phase}: {took:.1f} s (rounds {each}), peak RSS {peak[0]:.0f} MiB")
    print(f"at {args.entries:,} entries:")
    summary: dict[str, Any] = {"medians": m, "vs_pgbench": ratio}
    for phase, key, op, target, what in TARGETS:
        value, values = per_round(rounds, phase, key)
        ok = value >= target if op == ">=" else value < target
        summary[what] = verdict(ok, f"{what} {value:,.2f} {op} {target:g} (rounds {values})")
    each = ", ".join(f"{x:.3f}" for x in ratio["rounds"])
    summary["vs_pgbench"]["verdict"] = verdict(
        ratio["ratio"] >= TARGET_VS_PGBENCH,
        f"writes/s : pgbench tps {ratio['ratio']:.3f} >= {TARGET_VS_PGBENCH} (rounds {each})",
    )
    harness.print_noise(rounds, TITLES)
    config = {k: v for k, v in vars(args).items() if k not in ("work", "subject_files")}
    payload = {"config": config, "setup": setup, "rounds": rounds, "summary": summary}
    harness.write_result("audit-postgresql", payload)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    add = parser.add_argument
    add("--subjects", type=int, default=100_000, help="seeded customers the writes pick from")
    add("--entries", type=int, default=1_000_000, help="entries of the log to export and prove")
    add("--rounds", type=int, default=3)
    add("--duration", type=float, default=10.0, help="seconds per measurement")
    add("--warmup", type=float, default=2.0, help="warm-up seconds before each measurement")
    add("--connections", type=int, default=16)
    add("--quick", action="store_true", help="small sizes, one short round (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.subjects, args.entries = 5_000, 20_000
        args.rounds, args.duration, args.warmup = 1, 3.0, 1.0
    return args


def prepare(args: argparse.Namespace, postgres: harness.Postgres) -> tuple[Db, Db, Any]:
    """The two databases, seeded, and the set-up figures."""
    # Bytecode, as an installed package and its dependencies have it: the shared environment
    # holds none and identity's writes none, so every command would compile every module it
    # imports (about a second of each `identity audit` command). It goes to a directory of
    # the benchmark's own (PYTHONPYCACHEPREFIX, see database()), not into the environment.
    compiling = [sys.executable, "-m", "compileall", "-q", "src", *site.getsitepackages()]
    prefix = {**os.environ, "PYTHONPYCACHEPREFIX": str(args.work / PYCACHE)}
    subprocess.run(compiling, env=prefix, capture_output=True, check=False)  # some fail: py2
    consents = database(postgres, args.work, "identity_bench_writes", SCOPE)
    setup: dict[str, Any] = {"seeding": seed_subjects(args, consents, postgres)}
    subjects = seed_consent.sample_subjects(consents.url, args.subjects)
    args.subject_files = harness.write_thread_files(args.work, "subjects", subjects, 2)
    log = database(postgres, args.work, "identity_bench_log", "audit:read")
    setup["load_s"] = load_entries(log, args.entries)
    placed = audit_cli(log, "checkpoint")
    (args.work / "audit.vkey").write_text(harness.identity_cli(log.env, "audit", "key"))
    setup.update(sequencing_s=placed.seconds, sequencing_mib=placed.peak_mib)
    print(f"loaded {args.entries:,} entries in {setup['load_s']:.1f} s, sequenced in "
          f"{placed.seconds:.1f} s", flush=True)  # fmt: skip
    return consents, log, setup


def main() -> int:
    args = parse_args()
    print(f"audit benchmark: {args.subjects:,} subjects, {args.entries:,} entries, {args.rounds}"
          f" round(s) x {args.duration:g}s; server and pgbench on core {SERVER_CORE}, "
          f"PostgreSQL and wrk on core {LOAD_CORE}", flush=True)  # fmt: skip
    with contextlib.ExitStack() as stack:
        settings = {"shared_buffers": "2GB"}
        postgres = stack.enter_context(harness.postgres_server(LOAD_CORE, settings))
        args.work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-audit-")))
        consents, log, setup = prepare(args, postgres)
        rounds = []
        for i in range(1, args.rounds + 1):
            row: dict[str, Any] = {"round": i}
            for phase in ("writes", "pgbench")[:: 1 if i % 2 else -1]:
                if phase == "writes":
                    row[phase] = writes(args, consents, postgres)
                else:
                    row[phase] = pgbench(args, consents, postgres, i)
                print_phase(i, phase, row[phase])
            rounds.append(row | log_round(args, log, postgres, i))
        report(args, rounds, setup)
    return 0


if __name__ == "__main__":
    harness.run(main)
