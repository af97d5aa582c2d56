"""The consent decision API under load, on a database of 1,000,000 customers x 5 purposes.

Targets (issue "bench/consent.py"), all measured against the same server in the same run:

* single decisions ``GET /v1/consents/{subject}/{purpose}``: requests/s >= 0.8 x the same
  server's ``GET /healthz`` requests/s (median of the per-round ratios);
* their p99 latency < 10 ms at half of the peak decision rate;
* ``POST /v1/consents:decide`` with 1,000 subjects x 1 purpose: p50 latency < 20 ms.

Also reported, without a target: the same batch with 1,000 subjects x 5 purposes, and recorded
writes ``PUT /v1/consents/{subject}/{purpose}``.

Set-up: the database is seeded by ``bench/seed_consent.py`` (``--subjects``, 1,000,000 by
default; SQLite: a cached seeded file, copied per run; PostgreSQL: a throwaway cluster pinned to
core 0 like the server, seeded with COPY each run, ``shared_buffers`` sized for the data set as
on a database server: ``--pg-shared-buffers``, 2 GB). ``--pg-core load`` puts PostgreSQL on core
1 beside wrk instead: the database on hardware of its own, as deployed, so the server's core
does only the server's work (the default, ``server``, charges both to one core). A
``client_credentials`` service client with ``consent:read consent:write`` is created with
``identity clients create``; each round's server (``identity serve``, one process, pinned to
core 0; a fresh process per round) issues the access token the round uses. ``--sample`` subjects
are drawn at random from the accounts in the database; wrk (pinned to core 1) picks among them
with ``math.random`` per request, and the purpose at random among the five seeded ones (mail
purposes carry a signed unsubscribe link in the answer, the others do not). One request of each
kind is checked by hand first (JSON shape, no unknown subjects, the answer agrees with the
seeded state).

Phases of a round (healthz and decision alternate their order between rounds):

``healthz``   GET /healthz, ``--connections`` connections: the baseline.
``decision``  GET /v1/consents/{random subject}/{random purpose} with the bearer token, same
              connections: the peak rate, p50/p99 at peak.
``paced``     the same requests at a fixed rate of ``--paced-fraction`` (0.5) x this round's
              peak decision rate. Debian has no wrk2 (``apt-cache policy wrk2``: no such
              package), so wrk paces itself: ``--paced-connections`` wrk threads with one
              connection each; each thread has its own schedule (rate / connections, start
              staggered across threads), and wrk's ``delay()`` hook waits until the next
              scheduled send. A response that comes late delays the next send of its
              connection, so latency is measured from the scheduled time, not from the late
              send (``now - min(scheduled, sent)``: the coordinated-omission correction wrk2
              makes); wrk's own figures (from the actual send) are shown beside them. The
              achieved rate is checked against the schedule.
``batch1``    POST /v1/consents:decide, 1,000 random subjects x 1 purpose (personalization),
              ``--batch-connections`` (1) connection, closed loop: latency and batches/s.
``batch5``    the same with the five purposes (5,000 answers per call).
``writes``    PUT /v1/consents/{random subject}/{personalization|partner_sharing} (no double
              opt-in: plain writes) with ``{"decision": ...}`` alternating granted / withdrawn
              per wrk thread, ``--connections`` connections: writes/s, p50/p99. Each is a full
              write transaction (feed head lock, record, state upsert, audit entry).

Every answer must be 200 with the expected body (``"allowed":`` / ``"unknown_subjects":[]`` /
``"record"``); anything else, or any socket error, stops the benchmark. Each phase reports the
server's CPU per request (plus PostgreSQL's, whose cluster is pinned to core 0 too), peak RSS
(VmHWM, reset before each phase), and the share of core 0 that other processes took ("others%",
flagged NOISY above 10%); a CPU-time ratio healthz/decision is printed beside the throughput
ratio (it takes stolen time out).

    .venv/bin/python bench/consent.py [--database sqlite|postgresql] [--subjects 1000000]
        [--rounds 3] [--duration 10] [--warmup 2] [--connections 8] [--threads 2]
        [--paced-connections 16] [--paced-fraction 0.5] [--batch-connections 1]
        [--sample 100000] [--only healthz,decision,paced,batch1,batch5,writes]
        [--quick] [--rebuild-seed]

``--quick``: 50,000 subjects, one short round. Exit status 0 when the benchmark ran (PASS or
MISS printed), non-zero on any error.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
import httpx
import seed_consent
from harness import BenchError, HttpRequest, lua_string

TARGET_RATIO = 0.8  # decisions/s : healthz/s
TARGET_PACED_P99_MS = 10.0
TARGET_BATCH_P50_MS = 20.0
NOISY_PCT = 10.0
SCOPE = "consent:read consent:write"
READ_PURPOSES = seed_consent.PURPOSES
BATCH1_PURPOSES = ("personalization",)
WRITE_PURPOSES = ("personalization", "partner_sharing")  # no double opt-in: plain writes
BATCH_SIZE = 1000
BATCH_BODIES = 64
PHASES = ("healthz", "decision", "paced", "batch1", "batch5", "writes")
PHASE_TITLES = {
    "healthz": "GET /healthz",
    "decision": "GET decision (peak)",
    "paced": "GET decision (paced)",
    "batch1": "batch 1,000 x 1",
    "batch5": "batch 1,000 x 5",
    "writes": "PUT record",
}
JSON_TYPE = "application/json"


def mib(kib: float) -> float:
    return kib / 1024


# -- set-up ------------------------------------------------------------------------------------


@dataclass
class Setup:
    env: dict[str, str]
    database_url: str
    port: int
    client_id: str
    client_secret: str
    subjects_file: Path
    subjects: list[str]
    batch1_file: Path
    batch5_file: Path
    seeding: dict[str, Any]

    @property
    def basic(self) -> str:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def prepare(args: argparse.Namespace, var_dir: Path, postgres: harness.Postgres | None) -> Setup:
    var_dir.mkdir(parents=True, exist_ok=True)
    if postgres is None:
        print(f"seeding: SQLite, {args.subjects:,} subjects (cached file, copied)", flush=True)
        database_url, seeding = seed_consent.copy_seeded_sqlite(
            args.subjects, var_dir / "identity.db", rebuild=args.rebuild_seed
        )
        state = "reused the cached file" if seeding["cached"] else "built the cache"
        print(
            f"  {state}: {seeding['rows']:,} rows loaded at {seeding['rows_per_s']:,.0f} rows/s "
            f"in {seeding['load_s']:.1f}s when built (total with migration and check "
            f"{seeding['total_s']:.1f}s); copy {seeding['copy_s']:.1f}s",
            flush=True,
        )
    else:
        print(f"seeding: PostgreSQL, {args.subjects:,} subjects with COPY", flush=True)
        database_url = harness.postgres_database(postgres.url, "identity_bench_consent")
        # Set-up, not measurement: the cluster may use both cores while it loads.
        harness.pin_tree(postgres.pid, "0,1")
        try:
            seeding = seed_consent.seed(database_url, args.subjects)
        finally:
            harness.pin_tree(postgres.pid, pg_core(args))
        seeding["cached"] = False
    port = harness.free_port()
    env = harness.identity_env(port=port, var_dir=var_dir, database_url=database_url)
    harness.identity_cli(env, "db", "upgrade")  # a no-op at head: checks the copy is current
    client_args = ["--name", "bench-consent", "--grant-type", "client_credentials"]
    created = json.loads(
        harness.identity_cli(env, "clients", "create", *client_args, "--scope", SCOPE)
    )
    started = time.monotonic()
    subjects = seed_consent.sample_subjects(database_url, args.sample)
    if len(subjects) < min(args.sample, args.subjects):
        raise BenchError(f"sampled only {len(subjects)} subjects")
    subjects_file = var_dir / "subjects.txt"
    subjects_file.write_text("".join(f"{s}\n" for s in subjects))
    rng = random.Random(seed_consent.SEED)
    batch1_file, batch5_file = var_dir / "batch1.txt", var_dir / "batch5.txt"
    for path, purposes in ((batch1_file, BATCH1_PURPOSES), (batch5_file, READ_PURPOSES)):
        lines = [
            json.dumps(
                {"subjects": rng.sample(subjects, BATCH_SIZE), "purposes": list(purposes)},
                separators=(",", ":"),
            )
            for _ in range(BATCH_BODIES)
        ]
        path.write_text("".join(f"{line}\n" for line in lines))
    print(
        f"  {len(subjects):,} subjects sampled from the database and {2 * BATCH_BODIES} batch "
        f"bodies written in {time.monotonic() - started:.1f}s",
        flush=True,
    )
    return Setup(
        env=env,
        database_url=database_url,
        port=port,
        client_id=created["client_id"],
        client_secret=created["client_secret"],
        subjects_file=subjects_file,
        subjects=subjects,
        batch1_file=batch1_file,
        batch5_file=batch5_file,
        seeding=seeding,
    )


def access_token(base_url: str, setup: Setup) -> str:
    response = httpx.post(
        base_url + "/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        headers={"Authorization": setup.basic},
        timeout=30,
    )
    if response.status_code != 200:
        raise BenchError(f"client_credentials answered {response.status_code}: {response.text}")
    return str(response.json()["access_token"])


def seeded_state(database_url: str, subject: str, purpose: str) -> str | None:
    sql = "SELECT status FROM consent_state WHERE subject = ? AND purpose = ?"
    if seed_consent.dialect_of(database_url) != "sqlite":
        sql = sql.replace("?", "%s")
    with seed_consent.connect(database_url) as connection:
        cursor = connection.cursor()
        cursor.execute(sql, (subject, purpose))
        row = cursor.fetchone()
        cursor.close()
    return row[0] if row else None


def sanity_check(base_url: str, setup: Setup, bearer: str) -> dict[str, Any]:
    """One request of each kind by hand: the answers agree with the seeded rows."""
    headers = {"Authorization": bearer}
    subject = setup.subjects[0]
    seen: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for purpose in READ_PURPOSES:
            r = client.get(f"/v1/consents/{subject}/{purpose}")
            if r.status_code != 200:
                raise BenchError(f"decision answered {r.status_code}: {r.text[:500]}")
            body = r.json()
            status = seeded_state(setup.database_url, subject, purpose)
            if body.get("status") != status or body.get("subject") != subject:
                raise BenchError(f"decision disagrees with the seeded state {status}: {body}")
            seen[purpose] = (body["allowed"], body["reason"])
        for name, path in (("batch1", setup.batch1_file), ("batch5", setup.batch5_file)):
            payload = json.loads(path.read_text().splitlines()[0])
            r = client.post("/v1/consents:decide", json=payload)
            if r.status_code != 200:
                raise BenchError(f"batch answered {r.status_code}: {r.text[:500]}")
            body = r.json()
            want = len(payload["subjects"]) * len(payload["purposes"])
            if body["unknown_subjects"] or len(body["decisions"]) != want:
                raise BenchError(
                    f"{name}: {len(body['decisions'])} decisions (want {want}), "
                    f"{len(body['unknown_subjects'])} unknown subjects"
                )
            seen[name] = {"decisions": want, "bytes": len(r.content)}
    return seen


# -- Lua scripts -------------------------------------------------------------------------------


def _lua_list(items: tuple[str, ...]) -> str:
    return "{ " + ", ".join(lua_string(i) for i in items) + " }"


def subject_files(setup: Setup, threads: int) -> str:
    """The sampled subjects split across ``threads`` files (one per wrk thread), so that each
    thread's init() reads only its share: wrk initialises threads one after the other while the
    first ones already run, and every millisecond of that skew is load outside the measured
    window. Returns the Lua expression of the current thread's file."""
    return harness.write_thread_files(
        setup.subjects_file.parent, f"subjects-{threads}t", setup.subjects, threads
    )


def decision_script(
    setup: Setup,
    bearer: str,
    *,
    threads: int,
    paced_interval_us: float | None = None,
) -> str:
    """GET a random (subject, purpose); with ``paced_interval_us``, each of the ``threads`` wrk
    threads (one connection each) sends on a fixed schedule, its first send staggered by its
    share of the interval, and samples schedule-corrected latencies."""
    pacing = ""
    if paced_interval_us is not None:
        pacing = f"""
local interval_us = {paced_interval_us:.3f}
local threads_total = {threads}
local next_due = nil

function delay()
  local now = now_us()
  if next_due == nil then
    next_due = now + interval_us * (thread_id - 1) / threads_total
    gauge("first_due_us", next_due)
  end
  due = next_due
  next_due = next_due + interval_us
  local wait_ms = (due - now) / 1000
  if wait_ms < 0 then
    count("behind_schedule")
    return 0
  end
  return math.floor(wait_ms)
end
"""
    return harness.wrk_custom_script(f"""
local subjects = {{}}
local purposes = {_lua_list(READ_PURPOSES)}
local auth = {lua_string(bearer)}
local paced = {"true" if paced_interval_us is not None else "false"}
local due, sent = 0, 0
{pacing}
function init(args)
  subjects = read_lines({subject_files(setup, threads)})
  math.randomseed(thread_id * 7919 + os.time())
end

function request()
  if paced then
    sent = now_us()
    gauge("last_sent_us", sent)
  end
  local s = subjects[math.random(#subjects)]
  local p = purposes[math.random(#purposes)]
  return wrk.format("GET", "/v1/consents/" .. s .. "/" .. p, {{ ["Authorization"] = auth }})
end

function response(status, headers, body)
  count_status(status)
  if paced then
    local start = sent
    if due < start then start = due end
    sample("latency_us", now_us() - start)
  end
  if status == 200 and not string.find(body, '"allowed":', 1, true) then count("bad_body") end
end
""")


def batch_script(body_file: Path, bearer: str) -> str:
    return harness.wrk_custom_script(f"""
local bodies = {{}}
local n = 0
local auth = {lua_string(bearer)}

function init(args)
  bodies = read_lines({lua_string(str(body_file))})
  n = thread_id
end

function request()
  n = n % #bodies + 1
  return wrk.format("POST", "/v1/consents:decide",
    {{ ["Authorization"] = auth, ["Content-Type"] = "{JSON_TYPE}" }}, bodies[n])
end

function response(status, headers, body)
  count_status(status)
  if status == 200 and not string.find(body, '"unknown_subjects":[]', 1, true) then
    count("bad_body")
  end
end
""")


def writes_script(setup: Setup, bearer: str, *, threads: int) -> str:
    return harness.wrk_custom_script(f"""
local subjects = {{}}
local purposes = {_lua_list(WRITE_PURPOSES)}
local decisions = {{ "granted", "withdrawn" }}
local auth = {lua_string(bearer)}
local n = 0

function init(args)
  subjects = read_lines({subject_files(setup, threads)})
  math.randomseed(thread_id * 104729 + os.time())
end

function request()
  n = n + 1
  local s = subjects[math.random(#subjects)]
  local p = purposes[math.random(#purposes)]
  return wrk.format("PUT", "/v1/consents/" .. s .. "/" .. p,
    {{ ["Authorization"] = auth, ["Content-Type"] = "{JSON_TYPE}" }},
    '{{"decision":"' .. decisions[n % 2 + 1] .. '"}}')
end

function response(status, headers, body)
  count_status(status)
  if status == 200 and not string.find(body, '"record":', 1, true) then count("bad_body") end
end
""")


def healthz_script() -> str:
    return harness.wrk_script([HttpRequest("GET", "/healthz")], expect_body='"ok"')


# -- measurement -------------------------------------------------------------------------------


def strict(result: harness.WrkResult, what: str) -> None:
    """Every answer 200 with the expected body, no socket error: else stop, loudly."""
    result.check({200})
    bad = {k: v for k, v in result.counters.items() if v and k not in ("behind_schedule",)}
    if bad:
        raise BenchError(f"{what}: {bad} (answers without the expected body)\n{result.output}")


def figures(result: harness.WrkResult, extra: dict[str, Any]) -> dict[str, Any]:
    n = result.requests
    per = (lambda s: s * 1000 / n) if n else (lambda s: float("nan"))
    pct = result.percentiles_ms
    return {
        "per_s": n / result.duration_s if result.duration_s else 0.0,
        "requests": n,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "p999_ms": pct.get(99.9, float("nan")),
        "max_ms": result.max_ms,
        "cpu_ms": per(extra["server_cpu_s"]),
        "db_cpu_ms": per(extra["db_cpu_s"]),
        "server_core_pct": 100 * extra["server_core_share"],
        "others_pct": 100 * extra["others_share"],
        "peak_mib": mib(extra["server_peak_rss_kib"]),
        "statuses": {str(k): v for k, v in result.statuses.items()},
        "wrk": result.summary(),
    }


def cpu_with_db(f: dict[str, Any]) -> float:
    db = f["db_cpu_ms"]
    return float(f["cpu_ms"] + (db if db == db else 0.0))


class Round:
    """The phases against one fresh server process."""

    def __init__(self, args: argparse.Namespace, setup: Setup, target: harness.Target) -> None:
        self.args = args
        self.setup = setup
        self.target = target
        self.base_url = target.server.base_url
        self.bearer = "Bearer " + access_token(self.base_url, setup)

    def _run(
        self, name: str, script: str, path: str, *, connections: int, threads: int,
        warmup: bool = True,
    ) -> tuple[harness.WrkResult, dict[str, Any]]:  # fmt: skip
        a = self.args
        if warmup and a.warmup > 0:
            warm = harness.run_wrk_script(
                self.base_url, script, path=path, duration=a.warmup, connections=connections,
                threads=threads, timeout=120.0,
            )  # fmt: skip
            strict(warm, f"{name} warm-up")
        result, extra = harness.measure(
            self.target, script, path=path, duration=a.duration, connections=connections,
            threads=threads,
        )  # fmt: skip
        strict(result, name)
        return result, extra

    def healthz(self) -> dict[str, Any]:
        a = self.args
        r, e = self._run(
            "healthz", healthz_script(), "/healthz", connections=a.connections, threads=a.threads
        )
        return figures(r, e)

    def decision(self) -> dict[str, Any]:
        a = self.args
        r, e = self._run(
            "decision", decision_script(self.setup, self.bearer, threads=a.threads), "/v1/consents",
            connections=a.connections, threads=a.threads,
        )  # fmt: skip
        return figures(r, e)

    def paced(self, peak: float) -> dict[str, Any]:
        a = self.args
        rate = a.paced_fraction * peak
        conns = a.paced_connections
        interval_us = conns * 1e6 / rate
        script = decision_script(
            self.setup, self.bearer, threads=conns, paced_interval_us=interval_us
        )
        r, e = self._run(
            "paced decisions", script, "/v1/consents", connections=conns, threads=conns,
            warmup=False,
        )  # fmt: skip
        out = figures(r, e)
        lat_ms = [v / 1000 for v in r.samples.get("latency_us", [])]
        if len(lat_ms) < r.requests * 0.99:
            raise BenchError(f"paced: {len(lat_ms)} latency samples for {r.requests} requests")
        # The schedule's own span (first scheduled send to last send, all threads): wrk's
        # duration starts after its last thread is initialised, the schedules before.
        firsts, lasts = r.gauges.get("first_due_us", []), r.gauges.get("last_sent_us", [])
        span_s = (max(lasts) - min(firsts)) / 1e6 if firsts and lasts else float("nan")
        achieved = r.requests / span_s if span_s > 0 else float("nan")
        out.update(
            {
                "target_rate": rate,
                "peak_rate": peak,
                "schedule_span_s": span_s,
                "achieved_rate": achieved,
                "achieved_pct": 100 * achieved / rate if rate else float("nan"),
                "behind_schedule": r.counters.get("behind_schedule", 0),
                "service_p50_ms": r.p50_ms,  # wrk's own: from the actual send
                "service_p99_ms": r.p99_ms,
                "p50_ms": harness.percentile(lat_ms, 50),  # schedule-corrected
                "p99_ms": harness.percentile(lat_ms, 99),
                "p999_ms": harness.percentile(lat_ms, 99.9),
                "max_ms": max(lat_ms) if lat_ms else float("nan"),
            }
        )
        return out

    def batch(self, which: str) -> dict[str, Any]:
        a = self.args
        path = self.setup.batch1_file if which == "batch1" else self.setup.batch5_file
        r, e = self._run(
            which, batch_script(path, self.bearer), "/v1/consents:decide",
            connections=a.batch_connections, threads=a.batch_connections,
        )  # fmt: skip
        out = figures(r, e)
        per_batch = BATCH_SIZE * (len(BATCH1_PURPOSES) if which == "batch1" else 5)
        out["decisions_per_s"] = out["per_s"] * per_batch
        return out

    def writes(self) -> dict[str, Any]:
        a = self.args
        r, e = self._run(
            "writes", writes_script(self.setup, self.bearer, threads=a.threads), "/v1/consents",
            connections=a.connections, threads=a.threads,
        )  # fmt: skip
        return figures(r, e)


def run_round(
    args: argparse.Namespace,
    setup: Setup,
    index: int,
    var_dir: Path,
    db_cpu: Callable[[], float] | None,
    phases: list[str],
) -> dict[str, Any]:
    server = harness.start_identity(
        setup.env, port=setup.port, log_path=var_dir / f"server-round{index}.log"
    )
    row: dict[str, Any] = {"round": index}
    try:
        rnd = Round(
            args,
            setup,
            harness.Target(
                "identity", server, db_cpu, db_on_server_core=pg_core(args) == harness.SERVER_CORE
            ),
        )
        if index == 1:
            row["sanity"] = sanity_check(server.base_url, setup, rnd.bearer)
        order = ["healthz", "decision"] if index % 2 else ["decision", "healthz"]
        order += ["paced", "batch1", "batch5", "writes"]
        order = [p for p in order if p in phases]
        row["order"] = "+".join(order)
        for phase in order:
            started = time.monotonic()
            if phase == "healthz":
                row[phase] = rnd.healthz()
            elif phase == "decision":
                row[phase] = rnd.decision()
            elif phase == "paced":
                if "decision" not in row:
                    raise BenchError("the paced phase needs this round's decision peak")
                row[phase] = rnd.paced(row["decision"]["per_s"])
            elif phase in ("batch1", "batch5"):
                row[phase] = rnd.batch(phase)
            else:
                row[phase] = rnd.writes()
            print(
                f"  round {index}: {PHASE_TITLES[phase]:22} {row[phase]['per_s']:9.1f}/s  "
                f"p50 {row[phase]['p50_ms']:7.2f} ms  p99 {row[phase]['p99_ms']:7.2f} ms  "
                f"others {row[phase]['others_pct']:4.1f}%  ({time.monotonic() - started:.0f}s)",
                flush=True,
            )
        if "healthz" in row and "decision" in row:
            row["ratio"] = harness.ratio(row["decision"]["per_s"], row["healthz"]["per_s"])
            row["cpu_ratio"] = harness.ratio(row["healthz"]["cpu_ms"], cpu_with_db(row["decision"]))
    except BenchError as exc:
        raise BenchError(f"{exc}\n--- server log (last lines):\n{server.log_tail(60)}") from exc
    finally:
        server.stop()
    return row


# -- report ------------------------------------------------------------------------------------


def print_rounds(rounds: list[dict[str, Any]], phases: list[str]) -> None:
    rows = []
    for r in rounds:
        for p in phases:
            if p not in r:
                continue
            f = r[p]
            rows.append(
                [
                    r["round"], PHASE_TITLES[p], f["per_s"], f["p50_ms"], f["p99_ms"],
                    f["cpu_ms"], f["db_cpu_ms"], f["server_core_pct"], f["others_pct"],
                    f["peak_mib"],
                ]
            )  # fmt: skip
    harness.print_table(
        ["round", "phase", "per s", "p50 ms", "p99 ms", "CPU ms", "db CPU ms", "server core%",
         "others%", "peak MiB"],
        rows,
    )  # fmt: skip


def verdict_line(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'MISS'}: {text}"


def report(
    args: argparse.Namespace,
    setup: Setup,
    phases: list[str],
    rounds: list[dict[str, Any]],
) -> int:
    print()
    print_rounds(rounds, phases)
    print()

    def med(phase: str, key: str) -> float:
        return harness.median([r[phase][key] for r in rounds if phase in r])

    db = args.database
    verdicts: dict[str, str] = {}
    summary: dict[str, Any] = {}
    seeding = setup.seeding
    print(
        f"database: {db}, {args.subjects:,} subjects x {len(READ_PURPOSES)} purposes "
        f"({seeding['rows']:,} rows seeded at {seeding['rows_per_s']:,.0f} rows/s, "
        f"{seeding['load_s']:.1f}s"
        + (", cached file" if seeding.get("cached") else "")
        + f"); {len(setup.subjects):,} subjects sampled for the load"
    )
    for phase in phases:
        if not any(phase in r for r in rounds):
            continue
        cpu = f"CPU {med(phase, 'cpu_ms'):.3f} ms" + (
            f" + db {med(phase, 'db_cpu_ms'):.3f} ms" if db == "postgresql" else ""
        )
        extra = ""
        if phase in ("batch1", "batch5"):
            extra = f"  ({med(phase, 'decisions_per_s'):,.0f} decisions/s)"
        print(
            f"{PHASE_TITLES[phase]:22} {med(phase, 'per_s'):9.1f}/s  "
            f"p50 {med(phase, 'p50_ms'):6.2f} ms  p99 {med(phase, 'p99_ms'):6.2f} ms  "
            f"{cpu} per request  peak "
            f"{med(phase, 'peak_mib'):.0f} MiB{extra}"
        )
        summary[phase] = {
            k: med(phase, k)
            for k in ("per_s", "p50_ms", "p99_ms", "p999_ms", "cpu_ms", "db_cpu_ms", "peak_mib")
        }
    both = [r for r in rounds if "ratio" in r]
    if both:
        ratios = [r["ratio"] for r in both]
        cpu_ratios = [r["cpu_ratio"] for r in both]
        quiet = [
            r["ratio"]
            for r in both
            if max(r["healthz"]["others_pct"], r["decision"]["others_pct"]) <= NOISY_PCT
        ]
        ratio, cpu_ratio = harness.median(ratios), harness.median(cpu_ratios)
        summary["ratio"], summary["cpu_ratio"] = ratio, cpu_ratio
        summary["quiet_ratio"] = harness.median(quiet) if quiet else None
        print(
            f"decision/healthz throughput ratio {ratio:.3f}x (per round "
            f"{[round(x, 3) for x in ratios]}); CPU-time ratio healthz/decision {cpu_ratio:.3f}x "
            f"{[round(x, 3) for x in cpu_ratios]}"
            + (f"; quiet rounds {summary['quiet_ratio']:.3f}x" if quiet else "; no quiet round")
        )
        verdicts["ratio"] = verdict_line(
            ratio >= TARGET_RATIO,
            f"single decisions >= {TARGET_RATIO}x /healthz rps ({ratio:.3f}x)",
        )
    if any("paced" in r for r in rounds):
        p99 = med("paced", "p99_ms")
        summary["paced"].update(
            {
                k: med("paced", k)
                for k in ("target_rate", "achieved_pct", "service_p50_ms", "service_p99_ms")
            }
        )
        print(
            f"paced at {args.paced_fraction:g} x peak: {med('paced', 'target_rate'):.0f}/s "
            f"scheduled, {med('paced', 'achieved_pct'):.1f}% achieved; schedule-corrected p50 "
            f"{med('paced', 'p50_ms'):.2f} ms p99 {p99:.2f} ms p99.9 {med('paced', 'p999_ms'):.2f}"
            f" ms; from the actual send (wrk) p50 {med('paced', 'service_p50_ms'):.2f} ms p99 "
            f"{med('paced', 'service_p99_ms'):.2f} ms. Method: {args.paced_connections} wrk "
            "threads x 1 connection, each on a fixed schedule via wrk's delay() (Debian has no "
            "wrk2); latency from the scheduled send time when a send was late."
        )
        low = [r["round"] for r in rounds if "paced" in r and r["paced"]["achieved_pct"] < 95]
        if low:
            print(f"  WARNING: the schedule was not kept (< 95% of the rate) in rounds {low}")
        verdicts["paced"] = verdict_line(
            p99 < TARGET_PACED_P99_MS,
            f"decision p99 < {TARGET_PACED_P99_MS:g} ms at half of peak ({p99:.2f} ms)",
        )
    if any("batch1" in r for r in rounds):
        p50 = med("batch1", "p50_ms")
        verdicts["batch"] = verdict_line(
            p50 < TARGET_BATCH_P50_MS,
            f"batch of 1,000 subjects x 1 purpose p50 < {TARGET_BATCH_P50_MS:g} ms ({p50:.2f} ms)",
        )
    peak = max((r[p]["peak_mib"] for r in rounds for p in phases if p in r), default=0.0)
    summary["server_peak_mib"] = peak
    print(f"server peak RSS (VmHWM, max over phases): {peak:.0f} MiB")
    noisy = [
        f"round {r['round']} {PHASE_TITLES[p]} ({r[p]['others_pct']:.0f}%)"
        for r in rounds
        for p in phases
        if p in r and r[p]["others_pct"] > NOISY_PCT
    ]
    if noisy:
        print(
            f"NOISY: other processes took more than {NOISY_PCT:.0f}% of core "
            f"{harness.SERVER_CORE} in: {'; '.join(noisy)}"
        )
    else:
        print(f"noise: other processes took at most {NOISY_PCT:.0f}% of core 0 in every phase")
    for v in verdicts.values():
        print(v)
    print()
    print(markdown_rows(args, summary, setup))
    path = harness.write_result(
        f"consent-{db}",
        {
            "config": vars(args) | {"phases": phases},
            "seeding": seeding,
            "rounds": rounds,
            "summary": summary,
            "targets": {
                "decision_vs_healthz": TARGET_RATIO,
                "paced_p99_ms": TARGET_PACED_P99_MS,
                "batch_p50_ms": TARGET_BATCH_P50_MS,
            },
            "verdicts": verdicts,
        },
    )
    print(f"results: {path.relative_to(harness.REPO_ROOT)}")
    return 0


def pg_core(args: argparse.Namespace) -> str:
    return harness.SERVER_CORE if args.pg_core == "server" else harness.LOAD_CORE


def markdown_rows(args: argparse.Namespace, s: dict[str, Any], setup: Setup) -> str:
    """README rows for this database (the header once; paste the rows of both databases)."""
    db = "SQLite" if args.database == "sqlite" else "PostgreSQL"
    if args.database == "postgresql":
        db += " (own core)" if args.pg_core == "load" else " (server's core)"
    lines = [
        "| database | measure | result | target |",
        "|---|---|---|---|",
    ]

    def add(measure: str, result: str, target: str = "") -> None:
        lines.append(f"| {db} | {measure} | {result} | {target} |")

    if "healthz" in s and "decision" in s:
        add("`GET /healthz` (baseline)", f"{s['healthz']['per_s']:,.0f} req/s")
        add(
            "`GET /v1/consents/{subject}/{purpose}`",
            f"{s['decision']['per_s']:,.0f} req/s = **{s['ratio']:.2f}x** healthz; p50 "
            f"{s['decision']['p50_ms']:.1f} ms, p99 {s['decision']['p99_ms']:.1f} ms at peak",
            f">= {TARGET_RATIO}x",
        )
    if "paced" in s:
        add(
            f"decision p99 at {args.paced_fraction:g} x peak ({s['paced']['target_rate']:,.0f}/s)",
            f"**{s['paced']['p99_ms']:.1f} ms** (p50 {s['paced']['p50_ms']:.1f} ms)",
            f"< {TARGET_PACED_P99_MS:g} ms",
        )
    if "batch1" in s:
        add(
            "`POST /v1/consents:decide` 1,000 subjects x 1 purpose",
            f"p50 **{s['batch1']['p50_ms']:.1f} ms**, p99 {s['batch1']['p99_ms']:.1f} ms; "
            f"{s['batch1']['per_s']:.0f} batches/s",
            f"p50 < {TARGET_BATCH_P50_MS:g} ms",
        )
    if "batch5" in s:
        add(
            "`POST /v1/consents:decide` 1,000 subjects x 5 purposes",
            f"p50 {s['batch5']['p50_ms']:.1f} ms, p99 {s['batch5']['p99_ms']:.1f} ms; "
            f"{s['batch5']['per_s']:.0f} batches/s",
        )
    if "writes" in s:
        add(
            "`PUT /v1/consents/{subject}/{purpose}` (record)",
            f"{s['writes']['per_s']:,.0f} writes/s; p50 {s['writes']['p50_ms']:.1f} ms, p99 "
            f"{s['writes']['p99_ms']:.1f} ms",
        )
    seeding = setup.seeding
    add(
        f"seeding {args.subjects:,} x 5 ({seeding['rows']:,} rows)",
        f"{seeding['load_s']:.0f} s ({seeding['rows_per_s']:,.0f} rows/s)",
    )
    add("server peak RSS", f"{s['server_peak_mib']:.0f} MiB")
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg-core",
        choices=["server", "load"],
        default="server",
        help="where PostgreSQL runs: 'server' (core 0 with the server: one core for application "
        "and database, the strict budget) or 'load' (core 1, beside wrk: the database on "
        "hardware of its own, as in a deployment, with the server's core to itself)",
    )
    parser.add_argument(
        "--pg-shared-buffers",
        default="2GB",
        help="PostgreSQL's buffer cache, sized as for a server holding this data set (the "
        "1,000,000-customer tables and indexes read by decisions take about 1.5 GB; the "
        "128 MB default would send most lookups through the kernel's page cache)",
    )
    parser.add_argument("--subjects", type=int, default=seed_consent.FULL_SUBJECTS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="wrk warm-up seconds per phase")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--paced-connections", type=int, default=16)
    parser.add_argument("--paced-fraction", type=float, default=0.5)
    parser.add_argument("--batch-connections", type=int, default=1)
    parser.add_argument("--sample", type=int, default=100_000, help="subjects wrk picks from")
    parser.add_argument("--only", default=",".join(PHASES), help="comma-separated phases")
    parser.add_argument("--rebuild-seed", action="store_true", help="rebuild the cached SQLite")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{seed_consent.QUICK_SUBJECTS:,} subjects, one short round (smoke test)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.subjects, args.rounds, args.duration, args.warmup = (
            seed_consent.QUICK_SUBJECTS, 1, 3.0, 1.0,
        )  # fmt: skip
    phases = [p for p in PHASES if p in args.only.split(",")]
    if min(args.rounds, args.duration, args.connections, args.subjects) < 1:
        parser.error("--rounds, --duration, --connections and --subjects must be at least 1")
    args.sample = min(args.sample, args.subjects)
    if args.sample < BATCH_SIZE:
        parser.error(f"--sample (and --subjects) must be at least {BATCH_SIZE}")
    print(
        f"consent benchmark: {args.database}, {args.subjects:,} subjects, {args.rounds} round(s) "
        f"x {args.duration:g}s per phase, {args.connections} connections ({args.threads} wrk "
        f"threads), paced {args.paced_fraction:g} x peak over {args.paced_connections} "
        f"connections, batches over {args.batch_connections}; server on core "
        f"{harness.SERVER_CORE}, wrk on core {harness.LOAD_CORE}"
        + (f", PostgreSQL on core {pg_core(args)}" if args.database == "postgresql" else ""),
        flush=True,
    )
    rounds: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        postgres = (
            stack.enter_context(
                harness.postgres_server(pg_core(args), {"shared_buffers": args.pg_shared_buffers})
            )
            if args.database == "postgresql"
            else None
        )
        db_cpu = postgres.cpu_seconds if postgres else None
        var_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-consent-")))
        setup = prepare(args, var_dir / "main", postgres)
        for i in range(1, args.rounds + 1):
            rounds.append(run_round(args, setup, i, var_dir, db_cpu, phases))
        return report(args, setup, phases, rounds)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(2)
