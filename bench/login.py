"""Logins per second through the app vs bare ``PasswordHasher.hash`` per second.

Target: logins/s >= 0.8 x hashes/s, measured on the same machine in the same run (the argon2 hash
should be the only real cost of a login). Per round, in alternating order:

(a) bare hashing: a fresh interpreter pinned to core 0 hashes with the production-default
    argon2 parameters, one hash after another, and counts the hashes completed in a fixed window
    of ``--duration`` seconds;
(b) logins: ``identity serve`` pinned to core 0 (fresh process per round), wrk pinned to core 1
    posting ``/login`` with a valid CSRF cookie+token pair for ``--duration`` seconds over
    ``--connections`` keep-alive connections; every answer must be ``303``.

Both sides therefore get the same one-core budget (with ``--database postgresql`` the throwaway
cluster is pinned to core 0 as well, so the database's work is charged to the same budget, as
SQLite's is). PASS/MISS is judged on the median of the per-round ratios logins/s : hashes/s.

Noise: other processes on the machine also run on core 0. Each round therefore reports the share
of core 0 the measured process got ("hash core%", "server core%") and the share other processes
took ("others%"), and the CPU time the server spends per login (counted from the sessions
created, database included) is compared with the CPU time of one bare hash ("CPU ratio"): that
comparison takes the stolen time out, though not the slow-down other processes cause through
shared caches and memory bandwidth (argon2 with 64 MiB is memory-bound).

    .venv/bin/python bench/login.py [--rounds 3] [--duration 10] [--connections 4] [--accounts 1]
                                    [--database sqlite|postgresql] [--quick]

Exit status 0 when the benchmark ran (PASS or MISS is printed), non-zero on any error.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import harness
from harness import BenchError, HttpRequest

TARGET = 0.8
NOISY_PCT = 10.0  # warn when other processes took more of core 0 than this during a phase
EMAIL = "bench.login@example.com"  # the first account; --accounts adds bench.login1@... and so on
PASSWORD = "correct horse battery staple 42"
NEXT = "/account"
HASH_BASELINE = r"""
import json, resource, sys, time
from argon2 import PasswordHasher

time_cost, memory_cost, parallelism = map(int, sys.argv[1:4])
window, password = float(sys.argv[4]), sys.argv[5]
hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
hasher.hash(password)  # warm-up, not counted
core = sorted(__import__("os").sched_getaffinity(0))[0]

def core_ticks():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{core} "):
                t = [int(x) for x in line.split()[1:9]]
                return sum(t) - t[3] - t[4], sum(t)

latencies, cpu_at_last = [], 0.0
ticks_start = core_ticks()
cpu_start = time.process_time()
start = time.perf_counter()
deadline = start + window
while True:
    t0 = time.perf_counter()
    hasher.hash(password)
    t1 = time.perf_counter()
    if t1 > deadline:
        break
    latencies.append(t1 - t0)
    cpu_at_last = time.process_time()
core_share = (time.process_time() - cpu_start) / (time.perf_counter() - start)
ticks_end = core_ticks()
core_busy = (ticks_end[0] - ticks_start[0]) / max(1, ticks_end[1] - ticks_start[1])
print(json.dumps({
    "core_share": core_share,
    "core_busy": core_busy,
    "hashes": len(latencies),
    "window_s": window,
    "latencies_s": latencies,
    "cpu_s": (cpu_at_last - cpu_start) if latencies else 0.0,
    "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
"""


def account_email(i: int) -> str:
    return EMAIL if i == 0 else f"bench.login{i}@example.com"


def argon2_defaults() -> dict[str, int]:
    """The production defaults from ``identity.settings`` (no environment applied)."""
    from identity.settings import Settings

    fields = Settings.model_fields
    return {
        "time_cost": int(fields["argon2_time_cost"].default),
        "memory_cost": int(fields["argon2_memory_cost"].default),
        "parallelism": int(fields["argon2_parallelism"].default),
    }


def check_stored_hash(database_url: str, params: dict[str, int]) -> None:
    """The account's stored hash must carry exactly the baseline's parameters."""
    from argon2 import extract_parameters

    stored = harness.sql_scalar(
        database_url, "SELECT password_hash FROM user_account WHERE email = :e", e=EMAIL
    )
    if not stored:
        raise BenchError(f"benchmark account {EMAIL} not found")
    p = extract_parameters(stored)
    got = {"time_cost": p.time_cost, "memory_cost": p.memory_cost, "parallelism": p.parallelism}
    if got != params:
        raise BenchError(f"stored hash parameters {got} differ from the baseline's {params}")


def count_sessions(database_url: str) -> int:
    return int(harness.sql_scalar(database_url, "SELECT count(*) FROM browser_session"))


def measure_hashing(params: dict[str, int], duration: float) -> dict[str, Any]:
    data = harness.run_pinned_python(
        HASH_BASELINE,
        core=harness.SERVER_CORE,
        args=[
            str(params["time_cost"]),
            str(params["memory_cost"]),
            str(params["parallelism"]),
            str(duration),
            PASSWORD,
        ],
    )
    latencies_ms = [s * 1000 for s in data["latencies_s"]]
    if not latencies_ms:
        raise BenchError(f"no hash completed within {duration}s: raise --duration")
    return {
        "hashes": data["hashes"],
        "hashes_per_s": data["hashes"] / data["window_s"],
        "p50_ms": harness.percentile(latencies_ms, 50),
        "p99_ms": harness.percentile(latencies_ms, 99),
        "cpu_ms_per_hash": data["cpu_s"] * 1000 / data["hashes"],
        "core_share": data["core_share"],
        # Share of core 0 taken by other processes while hashing (noise).
        "others_share": max(0.0, data["core_busy"] - data["core_share"]),
        "peak_rss_kib": data["peak_rss_kib"],
    }


def measure_logins(
    env: dict[str, str],
    database_url: str,
    *,
    duration: float,
    warmup: float,
    connections: int,
    emails: list[str],
    db_cpu: Callable[[], float] | None,
    log_path: Path,
) -> dict[str, Any]:
    port = int(env["IDENTITY_ISSUER"].rsplit(":", 1)[1])
    server = harness.start_identity(env, port=port, cores=harness.SERVER_CORE, log_path=log_path)
    try:
        cookie_name, cookie_value, token = harness.fetch_csrf(server.base_url)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"{cookie_name}={cookie_value}",
        }
        requests = [  # wrk cycles through the accounts request by request
            HttpRequest(
                "POST",
                "/login",
                headers,
                urlencode(
                    {"csrf_token": token, "email": email, "password": PASSWORD, "next": NEXT}
                ),
            )
            for email in emails
        ]
        wrk = {"connections": connections, "core": harness.LOAD_CORE, "timeout": 120.0}
        if warmup > 0:
            warm = harness.run_wrk(server.base_url, requests, duration=warmup, **wrk)
            warm.check({303}, allow_empty=True)
        server.wait_idle()  # let the warm-up's in-flight logins finish first
        sessions_before = count_sessions(database_url)
        db_before = db_cpu() if db_cpu else 0.0
        cpu_before = server.cpu_seconds()
        ticks_before = harness.core_times(harness.SERVER_CORE)
        result = harness.run_wrk(server.base_url, requests, duration=duration, **wrk)
        cpu_during_run = server.cpu_seconds() - cpu_before
        busy = harness.core_busy(ticks_before, harness.core_times(harness.SERVER_CORE))
        db_during_run = (db_cpu() - db_before) if db_cpu else 0.0
        result.check({303})
        server.wait_idle()  # logins in flight when wrk stopped still complete (and cost CPU)
        cpu_used = server.cpu_seconds() - cpu_before
        db_used = (db_cpu() - db_before) if db_cpu else float("nan")
        logins_done = count_sessions(database_url) - sessions_before
        peak = server.peak_rss()
        if not server.alive():
            raise BenchError("server died")
    except BenchError as exc:
        raise BenchError(f"{exc}\n--- server log (last lines):\n{server.log_tail(60)}") from exc
    finally:
        server.stop()

    def per_login(seconds: float) -> float:
        return seconds * 1000 / logins_done if logins_done else float("nan")

    return {
        "logins": result.requests,
        "logins_per_s": result.rps,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "max_ms": result.max_ms,
        "statuses": {str(k): v for k, v in result.statuses.items()},
        "server_logins_counted": logins_done,
        "cpu_ms_per_login": per_login(cpu_used),
        "db_cpu_ms_per_login": per_login(db_used),
        # Share of core 0 the server got while wrk ran (the rest: idle or other processes).
        "server_core_share": cpu_during_run / result.duration_s,
        # Share of core 0 taken by other processes while wrk ran (noise; the database's
        # own work is not counted as noise).
        "others_share": max(0.0, busy - (cpu_during_run + db_during_run) / result.duration_s),
        "server_peak_rss_kib": peak["total_kib"],
        "server_peak_rss": peak,
        "wrk": result.summary(),
        "wrk_output": result.output,
    }


def prepare(
    var_dir: Path,
    postgres: harness.Postgres | None,
    name: str,
    emails: list[str],
    extra: dict[str, str] | None = None,
) -> tuple[dict[str, str], str]:
    """A migrated database with the verified benchmark accounts; returns (server env, URL)."""
    var_dir.mkdir(parents=True)
    if postgres is not None:
        database_url = harness.postgres_database(postgres.url, name)
    else:
        database_url = f"sqlite:///{var_dir / 'identity.db'}"
    port = harness.free_port()
    env = harness.identity_env(port=port, var_dir=var_dir, database_url=database_url, extra=extra)
    harness.identity_cli(env, "db", "upgrade")
    for email in emails:
        harness.identity_cli(
            env, "users", "create", "--email", email, "--password-stdin", "--verified",
            input=PASSWORD + "\n",
        )  # fmt: skip
    return env, database_url


def mib(kib: float) -> float:
    return kib / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="wrk warm-up seconds per round")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--accounts",
        type=int,
        default=1,
        help="accounts to log in as, in turn (more than "
        "IDENTITY_LOGIN_MAX_FAILURES_PER_ACCOUNT=5 concurrent logins of one account are "
        "throttled by design: attempts are charged before the password check)",
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra IDENTITY_* setting for the server (repeatable), e.g. "
        "IDENTITY_PASSWORD_HASH_CONCURRENCY=1; argon2 parameters must stay the defaults",
    )
    parser.add_argument("--quick", action="store_true", help="one short round (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 3.0, 2.0
    if min(args.rounds, args.duration, args.connections, args.accounts) < 1:
        parser.error("--rounds, --duration, --connections and --accounts must be at least 1")
    emails = [account_email(i) for i in range(args.accounts)]
    extra_env = dict(item.split("=", 1) for item in args.env if "=" in item)
    if len(extra_env) != len(args.env) or any(k.startswith("IDENTITY_ARGON2") for k in extra_env):
        parser.error("--env takes NAME=VALUE and may not change the argon2 parameters")

    params = argon2_defaults()
    print(
        f"login benchmark: {args.rounds} round(s) x {args.duration:g}s, "
        f"{args.connections} connection(s), {args.accounts} account(s), "
        f"database {args.database}; "
        f"argon2id t={params['time_cost']} m={params['memory_cost']} KiB "
        f"p={params['parallelism']}; server and hashing on core {harness.SERVER_CORE}, "
        f"wrk on core {harness.LOAD_CORE}" + (f"; server env {extra_env}" if extra_env else ""),
        flush=True,
    )

    rounds: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        postgres = (
            stack.enter_context(harness.postgres_server(harness.SERVER_CORE))
            if args.database == "postgresql"
            else None
        )
        db_cpu = postgres.cpu_seconds if postgres else None  # SQLite works inside the server
        var_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-login-")))
        env, database_url = prepare(var_dir / "main", postgres, "identity_bench", emails, extra_env)
        check_stored_hash(database_url, params)

        for i in range(args.rounds):
            order = ("hash", "login") if i % 2 == 0 else ("login", "hash")
            row: dict[str, Any] = {"round": i + 1, "order": "+".join(order)}
            for phase in order:
                started = time.monotonic()
                if phase == "hash":
                    row["hash"] = measure_hashing(params, args.duration)
                else:
                    row["login"] = measure_logins(
                        env,
                        database_url,
                        duration=args.duration,
                        warmup=args.warmup,
                        connections=args.connections,
                        emails=emails,
                        db_cpu=db_cpu,
                        log_path=var_dir / f"server-round{i + 1}.log",
                    )
                print(
                    f"  round {i + 1}: {phase} done in {time.monotonic() - started:.1f}s",
                    flush=True,
                )
            row["ratio"] = harness.ratio(row["login"]["logins_per_s"], row["hash"]["hashes_per_s"])
            rounds.append(row)

    columns = [
        # (header, key in a round's flat figures)
        ("hashes/s", "hashes_per_s"),
        ("hash p50 ms", "hash_p50_ms"),
        ("logins/s", "logins_per_s"),
        ("login p50 ms", "login_p50_ms"),
        ("login p99 ms", "login_p99_ms"),
        ("ratio", "ratio"),
        ("CPU ms/hash", "cpu_ms_per_hash"),
        ("CPU ms/login", "cpu_ms_per_login"),
        ("DB CPU ms/login", "db_cpu_ms_per_login"),
        ("hash core%", "hash_core_pct"),
        ("server core%", "server_core_pct"),
        ("others% hash", "others_hash_pct"),
        ("others% login", "others_login_pct"),
        ("server peak MiB", "server_peak_mib"),
        ("logins", "logins"),
    ]
    flat = [
        {
            "hashes_per_s": r["hash"]["hashes_per_s"],
            "hash_p50_ms": r["hash"]["p50_ms"],
            "logins_per_s": r["login"]["logins_per_s"],
            "login_p50_ms": r["login"]["p50_ms"],
            "login_p99_ms": r["login"]["p99_ms"],
            "ratio": r["ratio"],
            "cpu_ms_per_hash": r["hash"]["cpu_ms_per_hash"],
            "cpu_ms_per_login": r["login"]["cpu_ms_per_login"],
            "db_cpu_ms_per_login": r["login"]["db_cpu_ms_per_login"],
            "hash_core_pct": 100 * r["hash"]["core_share"],
            "server_core_pct": 100 * r["login"]["server_core_share"],
            "others_hash_pct": 100 * r["hash"]["others_share"],
            "others_login_pct": 100 * r["login"]["others_share"],
            "server_peak_mib": mib(r["login"]["server_peak_rss_kib"]),
            "logins": float(r["login"]["logins"]),
        }
        for r in rounds
    ]
    medians = {k: harness.median([f[k] for f in flat]) for k in flat[0]}
    ratio_of_medians = harness.ratio(medians["logins_per_s"], medians["hashes_per_s"])
    median_ratio = medians["ratio"]
    db_ms = medians["db_cpu_ms_per_login"]
    login_cpu_ms = medians["cpu_ms_per_login"] + (db_ms if db_ms == db_ms else 0.0)
    overhead_ms = login_cpu_ms - medians["cpu_ms_per_hash"]
    cpu_ratio = harness.ratio(medians["cpu_ms_per_hash"], login_cpu_ms)
    hash_peak_mib = harness.median([mib(r["hash"]["peak_rss_kib"]) for r in rounds])
    verdict = "PASS" if median_ratio >= TARGET else "MISS"

    print()
    table = [
        [r["round"], r["order"], *(f[k] for _, k in columns)]
        for r, f in zip(rounds, flat, strict=True)
    ]
    table.append(["median", "", *(medians[k] for _, k in columns)])
    harness.print_table(["round", "order", *(h for h, _ in columns)], table)
    db_note = (
        f" (server {medians['cpu_ms_per_login']:.1f} + database {db_ms:.1f})"
        if db_ms == db_ms
        else ""
    )
    print()
    print(f"logins/s (median)          {medians['logins_per_s']:10.3f}")
    print(f"hashes/s (median)          {medians['hashes_per_s']:10.3f}")
    print(f"login p50 / p99 (median)   {medians['login_p50_ms']:10.1f} / "
          f"{medians['login_p99_ms']:.1f} ms")  # fmt: skip
    print(f"hash  p50 (median)         {medians['hash_p50_ms']:10.1f} ms")
    print(f"server peak RSS (median)   {medians['server_peak_mib']:10.1f} MiB "
          f"(bare hashing process: {hash_peak_mib:.1f} MiB)")  # fmt: skip
    print(f"CPU per login vs per hash  {login_cpu_ms:10.1f} vs "
          f"{medians['cpu_ms_per_hash']:.1f} ms{db_note}: {overhead_ms:+.1f} ms on top of "
          f"the hash")  # fmt: skip
    print(f"CPU ratio hash/login       {cpu_ratio:10.3f}x (throughput ratio with the noise of "
          f"other processes taken out)")  # fmt: skip
    print(f"ratio logins/hashes        {median_ratio:10.3f}x median of per-round ratios "
          f"({ratio_of_medians:.3f}x ratio of medians)")  # fmt: skip
    print(f"{verdict}: target >= {TARGET:.2f}x (median of per-round ratios)")
    noisiest = max(max(f["others_hash_pct"], f["others_login_pct"]) for f in flat)
    if noisiest > NOISY_PCT:
        print(f"NOISY: other processes took up to {noisiest:.0f}% of core "
              f"{harness.SERVER_CORE} during a measurement; the throughput ratio is unreliable "
              f"there, the CPU ratio less so (more --rounds, a quieter machine)")  # fmt: skip
    path = harness.write_result(
        f"login-{args.database}",
        {
            "config": {
                "rounds": args.rounds,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "connections": args.connections,
                "accounts": args.accounts,
                "server_env": extra_env,
                "database": args.database,
                "argon2": params,
                "server_core": harness.SERVER_CORE,
                "load_core": harness.LOAD_CORE,
                "quick": args.quick,
            },
            "rounds": rounds,
            "medians": medians,
            "ratio_median_of_rounds": median_ratio,
            "ratio_of_medians": ratio_of_medians,
            "cpu_ms_per_login_incl_database": login_cpu_ms,
            "cpu_overhead_ms_per_login": overhead_ms,
            "cpu_ratio_hash_to_login": cpu_ratio,
            "target": TARGET,
            "verdict": verdict,
        },
    )
    print(f"results: {path.relative_to(harness.REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(2)
