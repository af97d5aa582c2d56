"""The audit log as a transparency log, on PostgreSQL: consent writes, sequencer lag, and a log
of 1,000,000 entries (export, verification, proofs).

Targets (#11; printed PASS/FAIL each):

* consent writes ``PUT /v1/consents/{subject}/{purpose}`` >= 540/s (10x the 54/s measured
  before the redesign) and >= 0.25x pgbench running the same transaction in plain SQL (median of
  the per-round ratios), p99 < 50 ms;
* sequencer lag (``sequenced_at - at``) of the entries written in a writes phase: p99 < 1 s;
* at 1,000,000 entries: ``identity audit export --format jsonl`` < 20 s and < 200 MB peak RSS;
  inclusion proofs ``GET /v1/audit/proofs/inclusion?index=<random>&size=1000000`` p50 < 5 ms.

Sign-in and token figures (that they are not worse) come from ``bench/login.py`` and
``bench/tokens.py``; they are not measured again here.

Set-up: a throwaway cluster pinned to core 1 (``shared_buffers`` 2 GB) with two databases. In
the first, ``bench/seed_consent.py`` seeds ``--subjects`` customers x 5 purposes and
``bench_subject`` numbers them 1..N for pgbench; a ``client_credentials`` client with ``consent:read
consent:write`` gets a token from each round's server. Rounds alternate the order of:

``writes``   ``identity serve --workers 2`` (a fresh process, core 0), wrk on core 1, 16
             connections: ``bench/lua/writes.lua``, random subjects, the two purposes without
             double opt-in, granted and withdrawn in turn; every answer 200. Then, once every
             entry of the phase is sequenced, their lag, how many were still waiting when the
             last was written, and how long after it the sequencer finished.
``pgbench``  ``pgbench -M prepared -c 16 -j 2`` on core 0 in the server's place, running
             ``bench/pgbench/consent_write.sql`` (read the state, insert the record, upsert the
             state, insert the audit entry: what the server does, minus HTTP and Python); its
             entries are then placed by ``identity audit checkpoint`` (not measured).

In the second database ``--entries`` entries are loaded with ``COPY`` (unsequenced) and placed
by ``identity audit checkpoint`` on core 0 (timed). Then per round, each command on core 0 with
its wall time and peak RSS (``wait4()``): ``audit export --format jsonl``, ``audit verify`` (the
database), ``audit verify --file --key`` (the export, offline); and ``identity serve`` on core 0
with one wrk connection (so p50 is a latency): ``GET /healthz`` (reference) and
``bench/lua/proofs.lua`` (one proof is checked against the latest checkpoint first).

    bench/audit.py [--subjects 100000] [--entries 1000000] [--rounds 3] [--duration 10]
        [--warmup 2] [--connections 16] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
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

TARGET_WRITES_S, TARGET_VS_PGBENCH, TARGET_WRITE_P99_MS = 540.0, 0.25, 50.0
TARGET_LAG_P99_S, TARGET_EXPORT_S, TARGET_EXPORT_MIB, TARGET_PROOF_P50_MS = 1.0, 20.0, 200.0, 5.0
PGBENCH_SCRIPT = harness.BENCH_DIR / "pgbench" / "consent_write.sql"
TITLES = {
    "writes": "PUT consent (identity)",
    "pgbench": "same SQL (pgbench)",
    "healthz": "GET /healthz, 1 conn",
    "proofs": "inclusion proof, 1 conn",
}
CONSENT_DETAILS = (
    '{"decision":"granted","purpose":"personalization","record_id":RECORD,'
    '"source":"preference_center","status":"granted","version":"1"}'
)
LAG_SQL = """
SELECT count(*), count(*) FILTER (WHERE e.sequenced_at IS NULL OR e.sequenced_at > last.at),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.sequenced_at - e.at)),
  percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM e.sequenced_at - e.at)),
  extract(epoch FROM max(e.sequenced_at) - last.at)
FROM audit_entry e, (SELECT max(at) AS at FROM audit_entry WHERE id > :first) last
WHERE e.id > :first GROUP BY last.at"""


@dataclass
class Db:
    url: str
    env: dict[str, str]
    port: int
    basic: str  # a client's Authorization header


def database(postgres: harness.Postgres, work: Path, name: str, scope: str) -> Db:
    url = harness.new_database(postgres, work, name)
    seed_consent.migrate(url)
    port = harness.free_port()
    env = harness.identity_env(port=port, var_dir=work, database_url=url)
    return Db(url, env, port, harness.service_client(env, f"bench-{name}", scope))


def max_id(db: Db) -> int:
    return int(harness.sql_scalar(db.url, "SELECT coalesce(max(id), 0) FROM audit_entry"))


# -- writes and their SQL floor --------------------------------------------------------------


def seed_subjects(args: argparse.Namespace, db: Db, postgres: harness.Postgres) -> dict[str, Any]:
    harness.pin_tree(postgres.pid, "0,1")  # set-up, not measurement: both cores
    try:
        seeding = seed_consent.seed(db.url, args.subjects, upgrade=False)
    finally:
        harness.pin_tree(postgres.pid, LOAD_CORE)
    with seed_consent.connect(db.url) as connection:  # pgbench's subjects, numbered
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
        first = max_id(db)
        result, figures = harness.measure(target, *script, duration=args.duration, **kw)
        result.check({200})
        return {**figures, **sequencing_lag(db, first)}


def sequencing_lag(db: Db, first: int) -> dict[str, Any]:
    """The sequencer's figures for the entries after id ``first``, once all are placed."""
    waiting_sql = "SELECT count(*) FROM audit_entry WHERE id > :first AND leaf_index IS NULL"
    deadline = time.monotonic() + 30
    while harness.sql_scalar(db.url, waiting_sql, first=first):
        if time.monotonic() > deadline:
            raise BenchError("entries of the writes phase still unsequenced 30 s after it")
        time.sleep(0.2)
    n, waiting, p50, p99, drained = harness.sql_row(db.url, LAG_SQL, first=first)
    return {
        "entries": n,
        "waiting_at_end": waiting,  # not yet placed when the phase's last entry was written
        "lag_p50_ms": float(p50) * 1000,
        "lag_p99_ms": float(p99) * 1000,
        "drained_after_s": float(drained),  # from the last entry written to the last placed
    }


def pgbench(args: argparse.Namespace, db: Db, postgres: harness.Postgres, i: int) -> Any:
    from sqlalchemy.engine import make_url

    url = make_url(db.url)
    argv = [
        os.path.join(os.environ.get("PGBIN", postgres.bin_dir), "pgbench"), "-h", url.host,
        "-p", str(url.port), "-U", url.username, "-n", "-M", "prepared",
        "-c", str(args.connections), "-j", "2", "-f", str(PGBENCH_SCRIPT),
        "-D", f"subjects={args.subjects}", "-D", "source=api:pgbench", "-D", "actor=client:pgbench",
    ]  # fmt: skip
    if args.warmup > 0:
        harness.run_measured([*argv, "-T", str(round(args.warmup)), url.database])
    logs = args.work / f"pgbench-{i}"
    logs.mkdir()
    db_before = postgres.cpu_seconds()
    ticks, load = harness.core_times(SERVER_CORE), harness.core_times(LOAD_CORE)
    seconds = max(1, round(args.duration))
    done = harness.run_measured(
        [*argv, "-T", str(seconds), "-l", "--log-prefix", str(logs / "tx"), url.database]
    )
    db_s, window = postgres.cpu_seconds() - db_before, done.seconds
    busy = harness.core_busy(ticks, harness.core_times(SERVER_CORE))
    load_busy = harness.core_busy(load, harness.core_times(LOAD_CORE))
    tps = re.search(r"^tps = ([\d.]+)", done.output, re.M)
    failed = re.search(r"^number of failed transactions: (\d+)", done.output, re.M)
    if tps is None or (failed and int(failed[1])):
        raise BenchError(f"pgbench failed:\n{done.output}")
    # Per-transaction log lines: client, transaction, latency (µs), script, epoch s, µs.
    latencies = [int(ln.split()[2]) / 1000 for f in logs.iterdir() for ln in f.open()]
    n = len(latencies)
    harness.identity_cli(db.env, "audit", "checkpoint")  # place pgbench's entries (set-up)
    return {
        "per_s": float(tps[1]),  # pgbench's, without connection set-up
        "units": n,
        "p50_ms": harness.percentile(latencies, 50),
        "p99_ms": harness.percentile(latencies, 99),
        "cpu_ms": done.cpu_s * 1000 / n,
        "db_cpu_ms": db_s * 1000 / n,
        "server_core_pct": 100 * done.cpu_s / window,
        "others_pct": 100 * max(0.0, busy - done.cpu_s / window),
        "load_core_pct": 100 * load_busy,
        "peak_mib": done.peak_mib,
    }


# -- a log of --entries entries --------------------------------------------------------------


def load_entries(db: Db, n: int) -> float:
    """``n`` entries in time order over the last year, unsequenced, with ``COPY``: consent
    records and sign-ins of 10,000 customers. Returns the seconds taken."""
    import psycopg

    started = time.monotonic()
    users = [f"user:{uuid.UUID(int=seed_consent.SEED * 7919 + u)}" for u in range(10_000)]
    first, step = datetime.now(UTC) - timedelta(days=365), timedelta(days=365) / n

    def row(i: int) -> str:
        at = (first + i * step).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        user = users[i % len(users)]
        if i % 3:
            details = CONSENT_DETAILS.replace("RECORD", str(i))
            return f"{at}\tconsent.recorded\t{user}\t{user}\t{details}\n"
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
    """A proof of leaf ``index`` in the latest checkpoint's tree checks against its root."""
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
        print(f"  round {i}: audit {' '.join(command[:2]):16} {done.seconds:7.1f} s, peak "
              f"{done.peak_mib:5.0f} MiB  {done.output.strip()[-70:]}", flush=True)  # fmt: skip
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
            kw: dict[str, Any] = {"connections": 1, "threads": 1}
            if (warm := target.warm_up(args.warmup, *scripts[phase], **kw)) is not None:
                warm.check({200})
            result, row[phase] = harness.measure(
                target, *scripts[phase], duration=args.duration, **kw
            )
            result.check({200})
            print_phase(i, phase, row[phase])
    return row


# -- running and reporting -------------------------------------------------------------------


def print_phase(i: int, phase: str, f: dict[str, Any]) -> None:
    lag = f" lag p99 {f['lag_p99_ms']:.0f} ms" if "lag_p99_ms" in f else ""
    cores = f"cores {harness.core_used(f):3.0f}% {f['load_core_pct']:3.0f}%"
    print(f"  round {i}: {TITLES[phase]:24} {f['per_s']:8.1f}/s  p50 {f['p50_ms']:6.2f} ms  "
          f"p99 {f['p99_ms']:6.2f} ms  {cores}{lag}", flush=True)  # fmt: skip


def verdict(ok: bool, text: str) -> str:
    print(f"{'PASS' if ok else 'FAIL'}: {text}")
    return "PASS" if ok else "FAIL"


def per_round(rounds: list[Any], phase: str, key: str) -> tuple[float, str]:
    values = [r[phase][key] for r in rounds if phase in r]
    return harness.median(values), ", ".join(f"{v:.2f}" for v in values)


def report(args: argparse.Namespace, rounds: list[Any], setup: dict[str, Any]) -> None:
    harness.print_rounds(rounds, TITLES)
    medians = {p: harness.medians(rounds, p) for p in TITLES}
    ratio = harness.compare(rounds, "writes", "pgbench", "writes/s : pgbench tps", None)
    w = medians["writes"]
    print(
        f"writes: server CPU {w['cpu_ms']:.2f} ms + database {w['db_cpu_ms']:.2f} ms per "
        f"write; core 0 {harness.core_used(w):.0f}% busy, core 1 (PostgreSQL + wrk) "
        f"{w['load_core_pct']:.0f}%; pgbench: core 1 {medians['pgbench']['load_core_pct']:.0f}%"
    )
    for key, what in (
        ("entries", "entries per phase"),
        ("waiting_at_end", "waiting at the end"),
        ("lag_p50_ms", "lag p50 ms"),
        ("drained_after_s", "all placed after s"),
    ):
        print(f"sequencer {what}: {per_round(rounds, 'writes', key)[0]:,.2f} "
              f"(rounds {per_round(rounds, 'writes', key)[1]})")  # fmt: skip
    summary: dict[str, Any] = {"medians": medians, "vs_pgbench": ratio}
    checks = [
        ("writes", "per_s", ">=", TARGET_WRITES_S, "consent writes/s"),
        ("writes", "p99_ms", "<", TARGET_WRITE_P99_MS, "consent write p99 ms"),
        ("writes", "lag_p99_ms", "<", TARGET_LAG_P99_S * 1000, "sequencer lag p99 ms"),
        ("export", "seconds", "<", TARGET_EXPORT_S, f"export of {args.entries:,} entries, s"),
        ("export", "peak_mib", "<", TARGET_EXPORT_MIB, "export peak RSS MiB"),
        ("proofs", "p50_ms", "<", TARGET_PROOF_P50_MS, "inclusion proof p50 ms"),
    ]
    for phase, key, op, target, what in checks:
        value, values = per_round(rounds, phase, key)
        ok = value >= target if op == ">=" else value < target
        summary[what] = verdict(ok, f"{what} {value:,.2f} {op} {target:g} (rounds {values})")
    summary["vs pgbench"] = verdict(
        ratio["ratio"] >= TARGET_VS_PGBENCH, f"writes/s : pgbench tps {ratio['ratio']:.3f} >= "
        f"{TARGET_VS_PGBENCH} (rounds {', '.join(f'{x:.3f}' for x in ratio['rounds'])})",
    )  # fmt: skip
    for phase in ("verify", "offline"):
        print(f"audit {phase}: {per_round(rounds, phase, 'seconds')[0]:.1f} s, peak "
              f"{per_round(rounds, phase, 'peak_mib')[0]:.0f} MiB (rounds "
              f"{per_round(rounds, phase, 'seconds')[1]} s)")  # fmt: skip
    print(
        f"sequencing {args.entries:,} loaded entries: {setup['sequencing_s']:.1f} s "
        f"({args.entries / setup['sequencing_s']:,.0f} entries/s), peak "
        f"{setup['sequencing_mib']:.0f} MiB; COPY {setup['load_s']:.1f} s"
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


def main() -> int:
    args = parse_args()
    print(f"audit benchmark: {args.subjects:,} subjects, {args.entries:,} entries, {args.rounds}"
          f" round(s) x {args.duration:g}s; server and pgbench on core {SERVER_CORE}, "
          f"PostgreSQL and wrk on core {LOAD_CORE}", flush=True)  # fmt: skip
    with contextlib.ExitStack() as stack:
        settings = {"shared_buffers": "2GB"}
        postgres = stack.enter_context(harness.postgres_server(LOAD_CORE, settings))
        args.work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-audit-")))
        consents = database(postgres, args.work, "identity_bench_writes", SCOPE)
        setup: dict[str, Any] = {"seeding": seed_subjects(args, consents, postgres)}
        subjects = seed_consent.sample_subjects(consents.url, args.subjects)
        args.subject_files = harness.write_thread_files(args.work, "subjects", subjects, 2)
        entries = database(postgres, args.work, "identity_bench_log", "audit:read")
        setup["load_s"] = load_entries(entries, args.entries)
        placed = audit_cli(entries, "checkpoint")
        (args.work / "audit.vkey").write_text(harness.identity_cli(entries.env, "audit", "key"))
        setup.update(sequencing_s=placed.seconds, sequencing_mib=placed.peak_mib)
        print(f"loaded {args.entries:,} entries in {setup['load_s']:.1f} s, sequenced in "
              f"{placed.seconds:.1f} s", flush=True)  # fmt: skip
        rounds = []
        for i in range(1, args.rounds + 1):
            row: dict[str, Any] = {"round": i}
            for phase in ("writes", "pgbench")[:: 1 if i % 2 else -1]:
                row[phase] = writes(args, consents, postgres) if phase == "writes" else (
                    pgbench(args, consents, postgres, i))  # fmt: skip
                print_phase(i, phase, row[phase])
            rounds.append(row | log_round(args, entries, postgres, i))
        report(args, rounds, setup)
    return 0


if __name__ == "__main__":
    harness.run(main)
