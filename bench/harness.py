"""Shared machinery for the benchmarks in ``bench/``.

The rules every benchmark here follows:

* load comes from ``wrk`` (compiled, keep-alive) pinned to one core with ``taskset``, running a
  script of ``bench/lua/``; servers and baselines are pinned to the other core; there is never
  a Python request loop generating load;
* every figure is compared with a baseline measured on the same machine in the same run, rounds
  alternate between the two, and the medians of the per-round ratios are what get judged, with
  the share of the server's core that other processes took beside them (noise) and the ratio of
  CPU time per request (the comparison with stolen time taken out);
* each run prints throughput, p50/p99 latency and server peak memory, and writes a JSON file to
  ``bench/results/`` (git-ignored).

Servers are started by ``tests/support/server.py``, as the browser tests' are; the throwaway
PostgreSQL cluster comes from ``tests/support/postgres.py``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.server import (  # noqa: E402
    ServerFailed,
    ServerProcess,
    free_port,
    identity_command,
    identity_environment,
    pinned,
    process_tree,
    run_identity,
    tree_cpu_seconds,
)

__all__ = ["ServerProcess", "free_port"]
BENCH_DIR = REPO_ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
LUA_DIR = BENCH_DIR / "lua"
BASELINES_DIR = BENCH_DIR / "baselines"
SERVER_CORE = "0"
LOAD_CORE = "1"
GNU_TIME = "/usr/bin/time"
NOISY_PCT = 10.0  # other processes taking more of the server's core than this: flagged


class BenchError(RuntimeError):
    """The benchmark itself went wrong (not: the target was missed)."""


def run(main: Callable[[], int]) -> None:
    """``sys.exit(main())``, errors printed without a traceback."""
    try:
        sys.exit(main())
    except (BenchError, ServerFailed) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        sys.exit(2)


# -- cores and processes -----------------------------------------------------------------------


def core_times(core: str | int) -> tuple[int, int]:
    """(busy, total) clock ticks of one CPU so far, from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{core} "):
                ticks = [int(x) for x in line.split()[1:9]]  # guest time is inside user
                return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # minus idle and iowait
    raise BenchError(f"no cpu{core} in /proc/stat")


def core_busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Fraction of the interval the core was busy (with anything: ours or other processes)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else float("nan")


def pin_tree(pid: int, cores: str | int) -> None:
    """Move a running process tree to ``cores`` (children forked later inherit it)."""
    cpus = {int(c) for c in str(cores).split(",")}
    for p in process_tree(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.sched_setaffinity(p, cpus)


def wait_idle(server: ServerProcess, *, window: float = 0.3, max_busy: float = 0.03) -> float:
    """Wait until the server burns less than ``max_busy`` CPU-s per ``window`` s: requests in
    flight when wrk stops would otherwise eat into what is measured next. Returns the wait."""
    start = time.monotonic()
    before = server.cpu_seconds()
    while True:
        time.sleep(window)
        now = server.cpu_seconds()
        if now - before < max_busy:
            return time.monotonic() - start
        if time.monotonic() - start > 60:
            raise BenchError("server still busy after 60 s")
        before = now


@contextlib.contextmanager
def serving(server: ServerProcess) -> Iterator[ServerProcess]:
    """``server`` started, always stopped; its last output is added to any error."""
    server.start()
    try:
        yield server
        if not server.alive():
            raise BenchError(f"exited with {server.returncode}")
    except BenchError as exc:
        raise BenchError(f"{exc}\n--- {server.url} output:\n{server.log_tail()}") from exc
    finally:
        server.stop()


def run_baseline(
    name: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600
) -> Any:
    """``bench/baselines/<name>.py ARGS`` pinned to the server's core; its JSON output."""
    argv = pinned(SERVER_CORE, [sys.executable, str(BASELINES_DIR / f"{name}.py"), *args])
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise BenchError(f"{name} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Finished:
    """A command run to completion, with the figures of that process alone."""

    seconds: float  # wall time
    cpu_s: float
    peak_mib: float  # its peak resident set
    output: str


def run_measured(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cores: str | None = SERVER_CORE
) -> Finished:
    """``argv`` pinned to ``cores``, to completion (raises on a non-zero exit). The peak RSS is
    GNU time's (``apt-get install -y time``), not ``wait4()``'s or ``RUSAGE_CHILDREN``'s: Linux
    carries a process's high-water mark across ``exec``, so a child forked from this (large)
    process reports this process's RSS as its own peak; GNU time's own child starts small."""
    if not os.path.exists(GNU_TIME):
        raise BenchError(f"{GNU_TIME} not found (apt-get install -y time)")
    with tempfile.TemporaryFile("w+") as out, tempfile.NamedTemporaryFile("r") as rss:
        started = time.monotonic()
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name, *argv]
        proc = subprocess.Popen(
            pinned(cores, wrapped), env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output, peak_kib = out.read(), rss.read().split()[-1]
    if proc.returncode:
        raise BenchError(f"{' '.join(argv)} exited with {proc.returncode}:\n{output[-3000:]}")
    return Finished(seconds, usage.ru_utime + usage.ru_stime, int(peak_kib) / 1024, output)


# -- wrk ---------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    """A wrk run, from the ``BENCH`` lines that ``bench/lua/common.lua`` prints."""

    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    errors: dict[str, int]  # socket errors and timeouts
    status_errors: int  # answers with a status of 400 or more
    statuses: dict[int, int]
    counters: dict[str, int]  # count(name) totals, all threads
    samples: dict[str, list[float]]  # sample(name, value) values, all threads
    gauges: dict[str, list[float]]  # gauge(name, value): each thread's last value
    output: str

    @property
    def per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def check(
        self, statuses: set[int], *, allowed: Sequence[str] = (), allow_empty: bool = False
    ) -> None:
        """Raise on socket errors, statuses but ``statuses``, a counter (``bad_body``, say)
        not in ``allowed``, or (unless ``allow_empty``) no completed request."""
        problems = [] if self.requests or allow_empty else ["no request completed"]
        if any(self.errors.values()):
            problems.append(f"socket errors {self.errors}")
        unexpected = {s: n for s, n in self.statuses.items() if s not in statuses}
        if unexpected or self.status_errors:
            problems.append(f"statuses {self.statuses}, want {statuses}")
        bad = {k: v for k, v in self.counters.items() if v and k not in allowed}
        if bad:
            problems.append(f"counters {bad}")
        if problems:
            failures = [ln for ln in self.output.splitlines() if " failure " in ln][:5]
            raise BenchError("wrk: " + "; ".join(problems) + "\n" + "\n".join(failures))

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("output", "samples")}


def parse_wrk(output: str) -> WrkResult:
    found: dict[str, Any] = {"statuses": {}, "counters": {}, "samples": {}, "gauges": {}}
    pct: dict[float, float] = {}
    for line in output.splitlines():
        mark, _, rest = line.partition(" ")
        if mark != "BENCH":
            continue
        kind, *parts = rest.split(" ", 3)
        if kind == "status":
            found["statuses"][int(parts[0])] = int(parts[1])
        elif kind == "counter":
            found["counters"][parts[0]] = int(parts[1])
        elif kind in ("sample", "gauge"):
            found[kind + "s"].setdefault(parts[0], []).append(float(parts[1]))
        elif kind == "percentile":
            pct[float(parts[0])] = int(parts[1]) / 1000
        elif kind in ("summary", "latency"):
            found.update(p.split("=") for p in rest.split()[1:])
    if "requests" not in found:
        raise BenchError(f"could not parse wrk's output:\n{output}")
    return WrkResult(
        requests=int(found["requests"]),
        duration_s=int(found["duration_us"]) / 1e6,
        p50_ms=pct[50.0],
        p99_ms=pct[99.0],
        p999_ms=pct[99.9],
        max_ms=int(found["max"]) / 1000,
        errors={k: int(found[k]) for k in ("connect", "read", "write", "timeout")},
        status_errors=int(found["status"]),
        statuses=found["statuses"],
        counters=found["counters"],
        samples=found["samples"],
        gauges=found["gauges"],
        output=output,
    )


def run_wrk(
    url: str,
    script: str,
    *args: str,
    duration: float,
    connections: int,
    threads: int,
    timeout: float = 120.0,
) -> WrkResult:
    """wrk pinned to the load core, running ``bench/lua/<script>.lua`` with ``args``."""
    if shutil.which("wrk") is None:
        raise BenchError("wrk not found (apt-get install -y wrk)")
    threads = max(1, min(threads, connections))
    argv = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
        f"--timeout={round(timeout)}s", "-s", str(LUA_DIR / f"{script}.lua"), url, "--", *args,
    ]  # fmt: skip
    env = {**os.environ, "LUA_PATH": f"{LUA_DIR}/?.lua;;"}
    result = subprocess.run(
        pinned(LOAD_CORE, argv), capture_output=True, text=True, env=env,
        timeout=duration + timeout + 60, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return parse_wrk(result.stdout + result.stderr)


def write_thread_files(directory: Path, name: str, items: Sequence[str], threads: int) -> str:
    """``items`` split round-robin into ``<name>-<thread>.txt`` (threads 1..threads, one item
    a line), so that each wrk thread's init() reads only its share (wrk initialises threads one
    after another while the first already run). Returns the prefix for ``thread_file()``."""
    directory.mkdir(parents=True, exist_ok=True)
    for t in range(threads):
        (directory / f"{name}-{t + 1}.txt").write_text("".join(f"{i}\n" for i in items[t::threads]))
    return str(directory / f"{name}-")


def write_lines(path: Path, items: Sequence[str]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{i}\n" for i in items))
    return str(path)


@dataclass
class Target:
    """A running server to measure, with its database's CPU when that is another process."""

    name: str
    server: ServerProcess
    db_cpu: Callable[[], float] | None = None
    # The database on the server's core: its CPU is part of that core's busy time, not noise.
    db_on_server_core: bool = True

    def warm_up(
        self, seconds: float, script: str, *args: str, connections: int, threads: int
    ) -> WrkResult | None:
        if seconds <= 0:
            return None
        return run_wrk(
            self.server.url, script, *args, duration=seconds, connections=connections,
            threads=threads,
        )  # fmt: skip


def measure(
    target: Target,
    script: str,
    *args: str,
    duration: float,
    connections: int,
    threads: int,
    after: Callable[[], None] | None = None,
) -> tuple[WrkResult, dict[str, Any]]:
    """One measured wrk run and its figures: per second, p50/p99, CPU per request (server,
    database), the server's and others' shares of its core, how busy wrk's core was, peak
    memory. Then, once the server is idle again, ``after`` and the CPU used until then
    (``settled_*``)."""
    server = target.server
    db_cpu = target.db_cpu or (lambda: float("nan"))
    wait_idle(server)
    server.reset_peak_rss()
    db_before, cpu_before = db_cpu(), server.cpu_seconds()
    ticks_before, load_before = core_times(SERVER_CORE), core_times(LOAD_CORE)
    result = run_wrk(
        server.url, script, *args, duration=duration, connections=connections, threads=threads
    )
    cpu_s, db_s = server.cpu_seconds() - cpu_before, db_cpu() - db_before
    busy = core_busy(ticks_before, core_times(SERVER_CORE))
    load_busy = core_busy(load_before, core_times(LOAD_CORE))
    peak_kib = server.peak_rss_kib()
    wait_idle(server)
    if after is not None:
        after()
    if not server.alive():
        raise BenchError(f"{target.name} died")
    window, n = result.duration_s or duration, result.requests
    on_core = cpu_s + (db_s if target.db_cpu and target.db_on_server_core else 0.0)
    return result, {
        "per_s": result.per_s,
        "units": n,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "p999_ms": result.p999_ms,
        "cpu_ms": cpu_s * 1000 / n if n else float("nan"),
        "db_cpu_ms": db_s * 1000 / n if n else float("nan"),
        "server_core_pct": 100 * cpu_s / window,
        "others_pct": 100 * max(0.0, busy - on_core / window),
        "load_core_pct": 100 * load_busy,  # wrk's core (and the database's, if it is there)
        "peak_mib": peak_kib / 1024,
        "settled_cpu_s": server.cpu_seconds() - cpu_before,
        "settled_db_cpu_s": db_cpu() - db_before,
        "wrk": result.summary(),
    }


# -- pgbench -----------------------------------------------------------------------------------


def measure_pgbench(
    postgres: Postgres, database_url: str, script: Path, *options: str, duration: float,
    connections: int, threads: int, log_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    """``pgbench -M prepared`` running ``script`` (and ``options``) on the server's core: a
    database floor, with :func:`measure`'s figures (latencies from its per-transaction log in
    ``log_dir``; no warm-up: run it once before)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    argv = [
        os.path.join(os.environ.get("PGBIN", postgres.bin_dir), "pgbench"), "-h", str(url.host),
        "-p", str(url.port), "-U", str(url.username), "-n", "-M", "prepared", "-f", str(script),
        "-c", str(connections), "-j", str(threads), "-T", str(max(1, round(duration))),
        "-l", "--log-prefix", str(log_dir / "tx"), *options, str(url.database),
    ]  # fmt: skip
    log_dir.mkdir(parents=True)
    db_before, ticks, load = postgres.cpu_seconds(), core_times(SERVER_CORE), core_times(LOAD_CORE)
    done = run_measured(argv)
    db_s, window = postgres.cpu_seconds() - db_before, done.seconds
    busy = core_busy(ticks, core_times(SERVER_CORE))
    load_busy = core_busy(load, core_times(LOAD_CORE))
    tps = re.search(r"^tps = ([\d.]+)", done.output, re.M)
    failed = re.search(r"^number of failed transactions: (\d+)", done.output, re.M)
    if tps is None or (failed and int(failed[1])):
        raise BenchError(f"pgbench failed:\n{done.output}")
    # Log lines: client, transaction, latency (µs), script, epoch s, µs.
    latencies = [int(ln.split()[2]) / 1000 for f in log_dir.iterdir() for ln in f.open()]
    n = len(latencies)
    return {
        "per_s": float(tps[1]),  # pgbench's own, without connection set-up
        "units": n,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "cpu_ms": done.cpu_s * 1000 / n,
        "db_cpu_ms": db_s * 1000 / n,
        "server_core_pct": 100 * done.cpu_s / window,
        "others_pct": 100 * max(0.0, busy - done.cpu_s / window),
        "load_core_pct": 100 * load_busy,
        "peak_mib": done.peak_mib,
    }


# -- the argon2 baseline -----------------------------------------------------------------------


def argon2_defaults() -> dict[str, int]:
    """The production argon2 parameters of ``identity.settings`` (no environment applied)."""
    from identity.settings import Settings

    fields = Settings.model_fields
    return {
        k: int(fields[f"argon2_{k}"].default) for k in ("time_cost", "memory_cost", "parallelism")
    }


def measure_hashing(duration: float, password: str = "bare hash 42") -> dict[str, Any]:
    """Bare ``PasswordHasher.hash`` per second on the server's core, as :func:`measure`'s."""
    p = argon2_defaults()
    data = run_baseline(
        "argon2_hashes", *(str(p[k]) for k in ("time_cost", "memory_cost", "parallelism")),
        str(duration), password,
    )  # fmt: skip
    latencies = [s * 1000 for s in data["latencies_s"]]
    if not latencies:
        raise BenchError(f"no hash completed within {duration}s: raise --duration")
    return {
        "per_s": len(latencies) / data["window_s"],
        "units": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "cpu_ms": data["cpu_s"] * 1000 / len(latencies),
        "db_cpu_ms": float("nan"),
        "server_core_pct": 100 * data["core_share"],
        "others_pct": 100 * data["others_share"],
        "peak_mib": data["peak_rss_kib"] / 1024,
    }


# -- statistics and output ---------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(1, min(len(ordered), int(-(-pct * len(ordered) // 100)))) - 1]


def cpu_with_db(figures: Mapping[str, Any]) -> float:
    db = figures["db_cpu_ms"]
    return float(figures["cpu_ms"] + (db if db == db else 0.0))


def core_used(figures: Mapping[str, Any]) -> float:
    """How busy the server's core was, in percent: the server's share plus everyone else's."""
    return float(figures["server_core_pct"] + figures["others_pct"])


def medians(rounds: Sequence[Mapping[str, Any]], phase: str) -> dict[str, float]:
    """The median over rounds of each number in ``phase``'s figures."""
    present = [r[phase] for r in rounds if phase in r]
    keys = [k for k, v in present[0].items() if isinstance(v, int | float)] if present else []
    return {k: median([f[k] for f in present]) for k in keys}


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """An aligned table: text left, numbers right."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "-" if value != value else f"{value:,.2f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    cells = [[cell(c) for c in row] for row in rows]
    numeric = [all(isinstance(r[i], int | float) for r in rows) for i in range(len(headers))]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    print("\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)]))


FIGURE_COLUMNS = (
    ("per s", "per_s"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"), ("CPU ms", "cpu_ms"),
    ("db CPU ms", "db_cpu_ms"), ("server core%", "server_core_pct"), ("others%", "others_pct"),
    ("peak MiB", "peak_mib"), ("units", "units"),
)  # fmt: skip


def print_rounds(rounds: Sequence[Mapping[str, Any]], titles: Mapping[str, str]) -> None:
    """Each phase of ``titles`` (phase -> title) round by round, then its medians."""
    rows: list[list[Any]] = []
    for phase, title in titles.items():
        present = [r for r in rounds if phase in r]
        for r in present:
            rows.append([r["round"], title, *(r[phase][k] for _, k in FIGURE_COLUMNS)])
        if len(present) > 1:
            med = medians(rounds, phase)
            rows.append(["median", title, *(med[k] for _, k in FIGURE_COLUMNS)])
    print()
    print_table(["round", "phase", *(h for h, _ in FIGURE_COLUMNS)], rows)
    print()


def compare(
    rounds: Sequence[Mapping[str, Any]], num: str, den: str, what: str, target: float | None
) -> dict[str, Any]:
    """The throughput ratio ``num``:``den``, judged (with a ``target``) on the median of the
    per-round ratios, with the quiet rounds' ratio and the CPU-time ratio beside it: other
    processes take the core from one side or the other and throughput ratios swing, while CPU
    time per request moves much less."""
    both = [r for r in rounds if num in r and den in r]
    if not both:
        return {}
    ratios = [ratio(r[num]["per_s"], r[den]["per_s"]) for r in both]
    cpu = [ratio(cpu_with_db(r[den]), cpu_with_db(r[num])) for r in both]
    quiet = [
        x
        for x, r in zip(ratios, both, strict=True)
        if max(r[num]["others_pct"], r[den]["others_pct"]) <= NOISY_PCT
    ]
    out = {"ratio": median(ratios), "rounds": ratios, "cpu_ratio": median(cpu)}
    out["quiet_ratio"] = median(quiet) if quiet else None
    print(
        f"{what}: {out['ratio']:.3f}x (rounds {', '.join(f'{x:.3f}' for x in ratios)}); quiet "
        f"rounds {f'{median(quiet):.3f}x' if quiet else 'none'}; CPU-time ratio "
        f"{out['cpu_ratio']:.3f}x (stolen time taken out)"
    )
    # A side that left the core idle was held back by the load generator, not by itself.
    if idle := [p for p in (num, den) if any(core_used(r[p]) < 90 for r in both)]:
        print(f"  {' and '.join(idle)} left core {SERVER_CORE} idle at times (wrk's limit, not the "
              "server's): the CPU-time ratio is the one to read")  # fmt: skip
    if target is not None:
        verdicts = {out["ratio"] >= target, out["cpu_ratio"] >= target}
        if quiet:
            verdicts.add(median(quiet) >= target)
        out["verdict"] = "PASS" if out["ratio"] >= target else "MISS"
        note = "" if len(verdicts) == 1 else " [UNRELIABLE: the CPU-time or quiet ratio disagrees]"
        print(f"{out['verdict']}: {what} >= {target:.2f}x{note}")
    return out


def print_noise(rounds: Sequence[Mapping[str, Any]], titles: Mapping[str, str]) -> None:
    noisy = [
        f"round {r['round']} {title} ({r[p]['others_pct']:.0f}%)"
        for r in rounds
        for p, title in titles.items()
        if p in r and r[p]["others_pct"] > NOISY_PCT
    ]
    if noisy:
        print(
            f"NOISY: other processes took more than {NOISY_PCT:.0f}% of core {SERVER_CORE} in: "
            f"{'; '.join(noisy)}. Throughput there is unreliable, the CPU-time ratios less so."
        )


def machine_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    return {
        "cpu_model": model.group(1) if model else "",
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git": {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))},
    }


def write_result(name: str, payload: Mapping[str, Any]) -> None:
    """``payload`` as ``bench/results/<name>-<UTC timestamp>.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    document = {"benchmark": name, "finished_at": stamp, "machine": machine_info(), **payload}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"results: {path.relative_to(REPO_ROOT)}")


# -- identity ----------------------------------------------------------------------------------


def identity_env(
    *, port: int, var_dir: Path, database_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A clean environment for ``identity``: production defaults (argon2 parameters and all)
    apply unless ``extra`` (setting name -> value) says otherwise."""
    return identity_environment(
        {
            "env": "development",
            "var_dir": str(var_dir),
            "secret_key": "bench-" + secrets.token_urlsafe(40),
            "issuer": f"http://127.0.0.1:{port}",
            "database_url": database_url,
            **(extra or {}),
        }
    )


def identity_cli(env: Mapping[str, str], *args: str, input: str | None = None) -> str:
    """``identity ARGS`` (unpinned: set-up, not measured); returns its output."""
    try:
        return run_identity(env, *args, input=input, cwd=REPO_ROOT)
    except ServerFailed as exc:
        raise BenchError(str(exc)) from exc


def identity_server(
    env: Mapping[str, str], port: int, *, cores: str | None = SERVER_CORE, workers: int = 1
) -> ServerProcess:
    """``identity serve`` on ``port`` (not started: see :func:`serving`)."""
    argv = identity_command("serve", "--port", str(port), "--workers", str(workers))
    url = f"http://127.0.0.1:{port}"
    return ServerProcess(argv, url=url, env=env, cwd=REPO_ROOT, cores=cores)


def service_client(env: Mapping[str, str], name: str, scope: str) -> str:
    """A new ``client_credentials`` client allowed ``scope``: its Authorization header."""
    options = ("--name", name, "--grant-type", "client_credentials", "--scope", scope)
    created = json.loads(identity_cli(env, "clients", "create", *options))
    credentials = f"{created['client_id']}:{created['client_secret']}".encode()
    return "Basic " + base64.b64encode(credentials).decode()


def access_token(base_url: str, basic: str, scope: str) -> str:
    """A client_credentials access token as an Authorization header (``Bearer ...``)."""
    response = httpx.post(
        base_url + "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers={"Authorization": basic},
        timeout=30,
    )
    if response.status_code != 200:
        raise BenchError(f"client_credentials answered {response.status_code}: {response.text}")
    return "Bearer " + str(response.json()["access_token"])


def fetch_csrf(base_url: str, path: str = "/login") -> tuple[str, str]:
    """GET a form page once; returns ("cookie name=value", csrf_token) for reuse."""
    response = httpx.get(base_url + path, timeout=30)
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', response.text)
    names = [n for n in ("identity_csrf", "__Host-identity_csrf") if n in response.cookies]
    if response.status_code != 200 or not match or not names:
        raise BenchError(f"GET {path}: {response.status_code}, no CSRF cookie and token")
    return f"{names[0]}={response.cookies[names[0]]}", match.group(1)


def create_accounts(env: Mapping[str, str], emails: Sequence[str], password: str) -> None:
    for email in emails:
        identity_cli(
            env, "users", "create", "--email", email, "--password-stdin", "--verified",
            input=password + "\n",
        )  # fmt: skip


def count_sessions(database_url: str) -> int:
    return int(sql_scalar(database_url, "SELECT count(*) FROM browser_session"))


@dataclass(frozen=True)
class Postgres:
    url: str  # the server's URL (database "postgres"); see postgres_database()
    pid: int  # the postmaster
    bin_dir: Path  # its binaries (pgbench, psql)

    def cpu_seconds(self) -> float:
        """CPU time of the whole cluster (postmaster, backends, background workers)."""
        return tree_cpu_seconds(self.pid)


@contextlib.contextmanager
def postgres_server(
    cores: str | None = SERVER_CORE, settings: dict[str, str] | None = None
) -> Iterator[Postgres]:
    """A throwaway cluster pinned to ``cores``: by default the server's, so that the
    database's work is charged to the same one-core budget as the application's (as SQLite's
    is, being in-process). ``settings``: extra server settings (``shared_buffers``, say)."""
    from tests.support.postgres import start_cluster

    cluster = start_cluster(settings)
    try:
        pid = int((cluster.directory / "data" / "postmaster.pid").read_text().split()[0])
        if cores is not None:
            pin_tree(pid, cores)
        yield Postgres(cluster.url, pid, cluster.bin_dir)
    finally:
        cluster.stop()


def new_database(postgres: Postgres | None, var_dir: Path, name: str) -> str:
    """A fresh, empty database: ``name`` on the cluster, or a SQLite file in ``var_dir``."""
    if postgres is None:
        return f"sqlite:///{var_dir / 'identity.db'}"
    from tests.support.postgres import recreate_database

    return recreate_database(postgres.url, name)


def sql_scalar(database_url: str, sql: str, **params: Any) -> Any:
    """One value from the benchmark's database (outside the server; for checks and counts)."""
    row = sql_row(database_url, sql, **params)
    return None if row is None else row[0]


def sql_row(database_url: str, sql: str, **params: Any) -> Any:
    """The first row of ``sql`` (or None) on the benchmark's database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).first()
    finally:
        engine.dispose()
