"""The consent decision API under load, on a database of 1,000,000 customers x 5 purposes.

Targets, all measured against the same server in the same run:

* single decisions ``GET /v1/consents/{subject}/{purpose}``: requests/s >= 0.8 x the same
  server's ``GET /healthz`` (median of the per-round ratios);
* their p99 latency < 10 ms at half of the peak decision rate;
* ``POST /v1/consents:decide`` with 1,000 subjects x 1 purpose: p50 latency < 20 ms.

Decisions are also given as a ratio to the HTTP floor: ``bench/baselines/floor_app.py``, a bare
ASGI callable answering a constant body on uvicorn with the server's settings, on the server's
core. ``/healthz`` goes through the web framework while decisions do not (``identity.fastlane``),
which flatters the ratio to it; the floor's is the cost of a decision above HTTP itself.

Set-up: ``bench/seed_consent.py`` seeds ``--subjects`` customers (SQLite: a cached file, copied
per run; PostgreSQL: a throwaway cluster seeded with COPY, ``shared_buffers`` sized for the data
set). PostgreSQL runs on core 0 with the server (``--pg-core server``: one core for application
and database) or on core 1 beside wrk (``--pg-core load``: the database on hardware of its own).
A ``client_credentials`` client gets a token per round from that round's server (``identity
serve``, a fresh process pinned to core 0). wrk (core 1) picks subjects at random among
``--sample`` drawn from the database, and purposes among the five seeded. One request of each
kind is checked by hand first (JSON shape, no unknown subject, agreement with the seeded state).

Phases of a round (floor, healthz and decision reverse their order every other round):

``floor``     GET / on the floor app, ``--connections`` connections;
``healthz``   GET /healthz, the same connections;
``decision``  GET /v1/consents/{subject}/{purpose} with the bearer token: the peak rate;
``paced``     the same at ``--paced-fraction`` x this round's peak (``bench/lua/paced.lua``:
              ``--paced-connections`` threads of one connection, each on a fixed schedule;
              latency from the scheduled send time; the achieved rate is checked);
``batch1``    POST /v1/consents:decide, 1,000 subjects x 1 purpose, ``--batch-connections``;
``batch5``    the same with the five purposes (5,000 answers per call);
``writes``    PUT /v1/consents/{subject}/{purpose} (plain purposes, no double opt-in), granted
              and withdrawn in turn: each a full write (feed head lock, record, state, audit).

Every answer must be 200 with the expected body; anything else stops the benchmark.

    .venv/bin/python bench/consent.py [--database sqlite|postgresql] [--pg-core server|load]
        [--subjects 1000000] [--rounds 3] [--duration 10] [--warmup 2] [--connections 8]
        [--threads 2] [--paced-connections 16] [--paced-fraction 0.5] [--batch-connections 1]
        [--sample 100000] [--only floor,healthz,decision,...] [--rebuild-seed] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
import httpx
import seed_consent
from harness import BenchError

TARGET_RATIO = 0.8  # decisions/s : healthz/s
TARGET_PACED_P99_MS = 10.0
TARGET_BATCH_P50_MS = 20.0
SCOPE = "consent:read consent:write"
WRITE_PURPOSES = "personalization,partner_sharing"  # no double opt-in: plain writes
BATCH_SIZE = 1000
BATCH_BODIES = 64
TITLES = {
    "floor": "GET / (HTTP floor)",
    "healthz": "GET /healthz",
    "decision": "GET decision (peak)",
    "paced": "GET decision (paced)",
    "batch1": "batch 1,000 x 1",
    "batch5": "batch 1,000 x 5",
    "writes": "PUT record",
}


@dataclass
class Setup:
    env: dict[str, str]
    database_url: str
    port: int
    basic: str  # the client's Authorization header
    subjects: list[str]
    batch_files: dict[str, str]  # batch1 / batch5 -> file of request bodies
    work: Path
    seeding: dict[str, Any]


def seed(
    args: argparse.Namespace, work: Path, postgres: harness.Postgres | None
) -> tuple[str, dict[str, Any]]:
    """The seeded database's URL and the seeding figures."""
    if postgres is None:
        return seed_consent.copy_seeded_sqlite(
            args.subjects, work / "identity.db", rebuild=args.rebuild_seed
        )
    url = harness.new_database(postgres, work, "identity_bench_consent")
    harness.pin_tree(postgres.pid, "0,1")  # set-up, not measurement: both cores
    try:
        return url, seed_consent.seed(url, args.subjects)
    finally:
        harness.pin_tree(postgres.pid, args.pg_core)


def prepare(args: argparse.Namespace, work: Path, postgres: harness.Postgres | None) -> Setup:
    database_url, seeding = seed(args, work, postgres)
    cached = " (the cached file)" if seeding.get("cached") else ""
    print(f"seeded {seeding['rows']:,} rows in {seeding['load_s']:.1f}s{cached}", flush=True)
    port = harness.free_port()
    env = harness.identity_env(port=port, var_dir=work, database_url=database_url)
    harness.identity_cli(env, "db", "upgrade")  # a no-op at head: checks the copy is current
    basic = harness.service_client(env, "bench-consent", SCOPE)
    subjects = seed_consent.sample_subjects(database_url, args.sample)
    if len(subjects) < args.sample:
        raise BenchError(f"sampled only {len(subjects)} subjects")
    rng = random.Random(seed_consent.SEED)
    batch_files = {}
    for name, purposes in (("batch1", ["personalization"]), ("batch5", seed_consent.PURPOSES)):
        bodies = [
            json.dumps({"subjects": rng.sample(subjects, BATCH_SIZE), "purposes": list(purposes)})
            for _ in range(BATCH_BODIES)
        ]
        batch_files[name] = harness.write_lines(work / f"{name}.txt", bodies)
    return Setup(env, database_url, port, basic, subjects, batch_files, work, seeding)


def seeded_state(database_url: str, subject: str, purpose: str) -> str | None:
    sql = "SELECT status FROM consent_state WHERE subject = :s AND purpose = :p"
    return harness.sql_scalar(database_url, sql, s=subject, p=purpose)


def sanity_check(base_url: str, setup: Setup, bearer: str) -> None:
    """One request of each kind by hand: the answers agree with the seeded rows."""
    subject = setup.subjects[0]
    with httpx.Client(base_url=base_url, headers={"Authorization": bearer}, timeout=30) as client:
        for purpose in seed_consent.PURPOSES:
            body = client.get(f"/v1/consents/{subject}/{purpose}").json()
            status = seeded_state(setup.database_url, subject, purpose)
            if body.get("status") != status or body.get("subject") != subject:
                raise BenchError(f"decision disagrees with the seeded state {status}: {body}")
        for path in setup.batch_files.values():
            payload = json.loads(Path(path).read_text().splitlines()[0])
            body = client.post("/v1/consents:decide", json=payload).json()
            want = len(payload["subjects"]) * len(payload["purposes"])
            if body.get("unknown_subjects") or len(body.get("decisions", ())) != want:
                raise BenchError(f"batch: want {want} decisions and no unknown subject")


class Round:
    """The phases of one round: a fresh server, and the floor beside it."""

    def __init__(
        self,
        args: argparse.Namespace,
        setup: Setup,
        server: harness.ServerProcess,
        floor: harness.ServerProcess,
    ) -> None:
        self.args, self.setup = args, setup
        db_on_core = args.pg_core == harness.SERVER_CORE
        self.target = harness.Target("identity", server, args.db_cpu, db_on_core)
        self.floor_target = harness.Target("floor", floor)
        self.bearer = harness.access_token(server.url, setup.basic, SCOPE)
        self.purposes = ",".join(seed_consent.PURPOSES)

    def subject_files(self, threads: int) -> str:
        return harness.write_thread_files(
            self.setup.work, f"subjects-{threads}t", self.setup.subjects, threads
        )

    def run(
        self, *script: str, connections: int = 0, threads: int = 0, target: Any = None,
        warm: bool = True,
    ) -> tuple[harness.WrkResult, dict[str, Any]]:  # fmt: skip
        """``script`` with ``--connections`` and ``--threads`` unless told otherwise."""
        target = target or self.target
        kw = {"connections": connections or self.args.connections}
        kw["threads"] = threads or self.args.threads
        if warm and (result := target.warm_up(self.args.warmup, *script, **kw)) is not None:
            result.check({200})
        result, figures = harness.measure(target, *script, duration=self.args.duration, **kw)
        result.check({200}, allowed=("behind_schedule",))
        return result, figures

    def floor(self) -> dict[str, Any]:
        return self.run("requests", "GET", "/", '"ok"', "-", target=self.floor_target)[1]

    def healthz(self) -> dict[str, Any]:
        return self.run("requests", "GET", "/healthz", '"ok"', "-")[1]

    def decision(self) -> dict[str, Any]:
        subjects = self.subject_files(self.args.threads)
        return self.run("decision", subjects, self.bearer, self.purposes)[1]

    def paced(self, peak: float) -> dict[str, Any]:
        rate, n = self.args.paced_fraction * peak, self.args.paced_connections
        interval = f"{n * 1e6 / rate:.3f}"  # between the sends of one connection, in µs
        script = ("paced", self.subject_files(n), self.bearer, self.purposes, interval, str(n))
        r, out = self.run(*script, connections=n, threads=n, warm=False)
        latencies = [v / 1000 for v in r.samples.get("latency_us", [])]
        if len(latencies) < r.requests * 0.99:
            raise BenchError(f"paced: {len(latencies)} latency samples for {r.requests} requests")
        # The schedule's own span (first scheduled send to last send, all threads): wrk's
        # duration starts after its last thread is initialised, the schedules before.
        span_s = (max(r.gauges["last_sent_us"]) - min(r.gauges["first_due_us"])) / 1e6
        out.update(
            target_rate=rate,
            achieved_pct=100 * r.requests / span_s / rate,
            service_p50_ms=r.p50_ms,  # wrk's own: from the actual send
            service_p99_ms=r.p99_ms,
            p50_ms=harness.percentile(latencies, 50),  # from the scheduled send
            p99_ms=harness.percentile(latencies, 99),
        )
        return out

    def batch(self, name: str) -> dict[str, Any]:
        n = self.args.batch_connections
        out = self.run(
            "batch", self.setup.batch_files[name], self.bearer, connections=n, threads=n
        )[1]
        out["answers_per_s"] = out["per_s"] * BATCH_SIZE * (1 if name == "batch1" else 5)
        return out

    def writes(self) -> dict[str, Any]:
        subjects = self.subject_files(self.args.threads)
        return self.run("writes", subjects, self.bearer, WRITE_PURPOSES)[1]


def run_round(args: argparse.Namespace, setup: Setup, index: int) -> dict[str, Any]:
    order = ["floor", "healthz", "decision"][:: 1 if index % 2 else -1]
    order = [p for p in [*order, "paced", "batch1", "batch5", "writes"] if p in args.only]
    floor_port = harness.free_port()
    floor = harness.ServerProcess(
        [sys.executable, str(harness.BASELINES_DIR / "floor_app.py"), str(floor_port)],
        url=f"http://127.0.0.1:{floor_port}", cores=harness.SERVER_CORE, health_path="/",
    )  # fmt: skip
    row: dict[str, Any] = {"round": index, "order": "+".join(order)}
    with (
        harness.serving(harness.identity_server(setup.env, setup.port)) as server,
        harness.serving(floor) if "floor" in order else contextlib.nullcontext(),
    ):
        phases = Round(args, setup, server, floor)
        if index == 1:
            sanity_check(server.url, setup, phases.bearer)
        for phase in order:
            started = time.monotonic()
            if phase == "paced":
                if "decision" not in row:
                    raise BenchError("the paced phase needs this round's decision peak")
                row[phase] = phases.paced(row["decision"]["per_s"])
            elif phase.startswith("batch"):
                row[phase] = phases.batch(phase)
            else:
                row[phase] = getattr(phases, phase)()
            f, took = row[phase], time.monotonic() - started
            print(f"  round {index}: {TITLES[phase]:22} {f['per_s']:9.1f}/s  p50 "
                  f"{f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms  others "
                  f"{f['others_pct']:4.1f}%  ({took:.0f}s)", flush=True)  # fmt: skip
    return row


def readme_rows(args: argparse.Namespace, rounds: list[Any], setup: Setup) -> dict[str, Any]:
    """Prints this database's column of the README's table; returns the medians."""
    m = {p: harness.medians(rounds, p) for p in TITLES if any(p in r for r in rounds)}
    rows = [(TITLES[p], f"{m[p]['per_s']:,.0f}/s") for p in ("floor", "healthz") if p in m]
    if d := m.get("decision"):
        vs = [f"**{d['per_s'] / m[b]['per_s']:.2f}×** {b}" for b in ("healthz", "floor") if b in m]
        db_cpu = f" + {d['db_cpu_ms']:.3f} ms" if args.db_cpu else ""
        rows += [
            ("`GET /v1/consents/{subject}/{purpose}`", f"{d['per_s']:,.0f}/s = {', '.join(vs)}"),
            ("… p50 / p99 at peak", f"{d['p50_ms']:.1f} / {d['p99_ms']:.1f} ms"),
            ("… CPU per decision (+ database's)", f"{d['cpu_ms']:.3f} ms" + db_cpu),
        ]
    if "paced" in m:
        rows.append(("… p99 at half the peak rate", f"**{m['paced']['p99_ms']:.1f} ms**"))
    for name in ("batch1", "batch5"):
        if b := m.get(name):
            answers = f"{b['answers_per_s']:,.0f} answers/s"
            rows.append(
                (TITLES[name], f"p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms, {answers}")
            )
    if w := m.get("writes"):
        rows.append(
            (
                TITLES["writes"],
                f"{w['per_s']:,.0f}/s, p50 {w['p50_ms']:.0f} ms, p99 {w['p99_ms']:.0f} ms",
            )
        )
    rows.append((f"seeding {setup.seeding['rows']:,} rows", f"{setup.seeding['load_s']:.0f} s"))
    peak = max(f["peak_mib"] for r in rounds for p, f in r.items() if p in TITLES and p != "floor")
    rows.append(("server peak RSS", f"{peak:.0f} MiB"))
    where = f" (PostgreSQL on core {args.pg_core})" if args.db_cpu else ""
    print(f"\n| measure | {args.database}{where} |\n|---|---|")
    print("\n".join(f"| {a} | {b} |" for a, b in rows))
    return m


def report(args: argparse.Namespace, setup: Setup, rounds: list[Any]) -> None:
    harness.print_rounds(rounds, TITLES)
    summary: dict[str, Any] = {
        "vs_healthz": harness.compare(
            rounds, "decision", "healthz", "decisions : /healthz", TARGET_RATIO
        ),
        "vs_floor": harness.compare(rounds, "decision", "floor", "decisions : HTTP floor", None),
        "healthz_vs_floor": harness.compare(rounds, "healthz", "floor", "/healthz : floor", None),
    }
    if paced := [r["paced"] for r in rounds if "paced" in r]:
        p99 = harness.median([f["p99_ms"] for f in paced])
        low = [r["round"] for r in rounds if "paced" in r and r["paced"]["achieved_pct"] < 95]
        rate, achieved, wrk_p99 = (
            harness.median([f[k] for f in paced])
            for k in ("target_rate", "achieved_pct", "service_p99_ms")
        )
        print(f"paced: {rate:.0f}/s scheduled, {achieved:.1f}% achieved"
              + (f" (under 95% in rounds {low})" if low else "") + f"; p99 {p99:.2f} ms from "
              f"the scheduled send, {wrk_p99:.2f} ms from the actual send (wrk's)")  # fmt: skip
        summary["paced"] = verdict(p99 < TARGET_PACED_P99_MS, f"decision p99 at half of peak "
                                   f"< {TARGET_PACED_P99_MS:g} ms ({p99:.2f} ms)")  # fmt: skip
    if batch := [r["batch1"] for r in rounds if "batch1" in r]:
        p50 = harness.median([f["p50_ms"] for f in batch])
        summary["batch"] = verdict(p50 < TARGET_BATCH_P50_MS, f"batch of 1,000 x 1 p50 < "
                                   f"{TARGET_BATCH_P50_MS:g} ms ({p50:.2f} ms)")  # fmt: skip
    harness.print_noise(rounds, TITLES)
    summary["medians"] = readme_rows(args, rounds, setup)
    config = {k: v for k, v in vars(args).items() if k not in ("db_cpu", "work")}
    payload = {"config": config, "seeding": setup.seeding, "rounds": rounds, "summary": summary}
    harness.write_result(f"consent-{args.database}", payload)


def verdict(ok: bool, text: str) -> str:
    print(f"{'PASS' if ok else 'MISS'}: {text}")
    return "PASS" if ok else "MISS"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    add = parser.add_argument
    add("--database", choices=["sqlite", "postgresql"], default="sqlite")
    add(
        "--pg-core",
        choices=["server", "load"],
        default="server",
        help="PostgreSQL on the server's core (one core for both) or the load core (its own)",
    )
    add(
        "--pg-shared-buffers",
        default="2GB",
        help="PostgreSQL's buffer cache, sized for the data set (the tables and indexes that "
        "decisions read take about 1.5 GB at 1,000,000 customers)",
    )
    add("--subjects", type=int, default=seed_consent.FULL_SUBJECTS)
    add("--rounds", type=int, default=3)
    add("--duration", type=float, default=10.0, help="seconds per measurement")
    add("--warmup", type=float, default=2.0, help="wrk warm-up seconds per phase")
    add("--connections", type=int, default=8)
    add("--threads", type=int, default=2)
    add("--paced-connections", type=int, default=16)
    add("--paced-fraction", type=float, default=0.5)
    add("--batch-connections", type=int, default=1)
    add("--sample", type=int, default=100_000, help="subjects wrk picks from")
    add("--only", default=",".join(TITLES), help="comma-separated phases")
    add("--rebuild-seed", action="store_true", help="rebuild the cached SQLite file")
    add("--quick", action="store_true", help="50,000 subjects, one short round (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.subjects = seed_consent.QUICK_SUBJECTS
        args.rounds, args.duration, args.warmup = 1, 3.0, 1.0
    args.only = [p for p in args.only.split(",") if p in TITLES]
    args.sample = min(args.sample, args.subjects)
    args.pg_core = harness.SERVER_CORE if args.pg_core == "server" else harness.LOAD_CORE
    if args.sample < BATCH_SIZE:
        parser.error(f"--sample (and --subjects) must be at least {BATCH_SIZE}")
    return args


def main() -> int:
    args = parse_args()
    print(f"consent benchmark: {args.database}, {args.subjects:,} subjects, {args.rounds} "
          f"round(s) x {args.duration:g}s per phase; server on core {harness.SERVER_CORE}, wrk "
          f"on core {harness.LOAD_CORE}, PostgreSQL (if any) on core {args.pg_core}")  # fmt: skip
    with contextlib.ExitStack() as stack:
        postgres = None
        if args.database == "postgresql":
            settings = {"shared_buffers": args.pg_shared_buffers}
            postgres = stack.enter_context(harness.postgres_server(args.pg_core, settings))
        args.db_cpu = postgres.cpu_seconds if postgres else None
        args.work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-consent-")))
        setup = prepare(args, args.work, postgres)
        rounds = [run_round(args, setup, i) for i in range(1, args.rounds + 1)]
        report(args, setup, rounds)
    return 0


if __name__ == "__main__":
    harness.run(main)
