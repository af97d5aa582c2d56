"""Shared machinery for the benchmarks in ``bench/``.

The rules every benchmark here follows:

* load comes from ``wrk`` (compiled, keep-alive), pinned to one core with ``taskset``; the server
  is pinned to the other core; there is never a Python request loop generating load;
* every figure is compared with a baseline measured on the same machine in the same run, rounds
  alternate between the two, and the medians (and per-round ratios) are what get reported;
* each run prints throughput, p50/p99 latency and server peak memory, and writes a JSON file to
  ``bench/results/`` (git-ignored).

Generic parts: :class:`ServerProcess` (start, wait for health, idle detection, CPU time, peak RSS,
stop), :func:`run_wrk` with :class:`HttpRequest` (a Lua script is generated; wrk's text output
and a machine-readable summary from the script's ``done()`` are parsed), :func:`run_pinned_python`
for baselines, statistics and table helpers, and :func:`write_result`.

identity-specific parts: :func:`identity_env`, :func:`identity_cli`, :func:`start_identity`,
:func:`fetch_csrf` and :func:`postgres_server` (a throwaway cluster, via ``tests/support``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CORE = "0"
LOAD_CORE = "1"


class BenchError(RuntimeError):
    """The benchmark itself went wrong (not: the target was missed)."""


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cores: str | int | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run under ``taskset -c cores`` (taskset execs, so the pid is the command's)."""
    if cores is None:
        return list(argv)
    if shutil.which("taskset") is None:
        raise BenchError("taskset not found (apt-get install -y util-linux)")
    return ["taskset", "-c", str(cores), *argv]


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU time of a process (all its threads, including finished ones); with
    ``reaped``, plus that of its children that have exited and been waited for."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # After the command name: state is fields[0]; utime, stime, cutime, cstime are stat
    # fields 14 to 17.
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def core_times(core: str | int) -> tuple[int, int]:
    """(busy, total) clock ticks of one CPU so far, from /proc/stat; see :func:`core_busy`."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{core} "):
                ticks = [int(x) for x in line.split()[1:]]
                idle = ticks[3] + ticks[4]  # idle + iowait
                return sum(ticks[:8]) - idle, sum(ticks[:8])  # guest time is inside user
    raise BenchError(f"no cpu{core} in /proc/stat")


def core_busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Fraction of the interval the core was busy (with anything: ours or other processes)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else float("nan")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and all its descendants, live or exited (and reaped)."""
    return sum(cpu_seconds(p, reaped=True) for p in process_tree(pid))


def pin_tree(pid: int, cores: str | int) -> None:
    """Move a running process tree to ``cores`` (children forked later inherit it)."""
    cpus = {int(c) for c in str(cores).split(",")}
    for p in process_tree(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.sched_setaffinity(p, cpus)


class ServerProcess:
    """A server pinned to ``cores``; a context manager that starts it and always stops it."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        base_url: str,
        env: Mapping[str, str] | None = None,
        cores: str | int | None = SERVER_CORE,
        health_path: str = "/healthz",
        log_path: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = pinned(cores, argv)
        self.base_url = base_url.rstrip("/")
        self.env = dict(env) if env is not None else dict(os.environ)
        self.health_path = health_path
        self.cwd = cwd
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="bench-server-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    # lifecycle
    def start(self, *, ready_timeout: float = 60.0) -> ServerProcess:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = self.base_url + self.health_path
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"server not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def wait_idle(
        self, *, window: float = 0.3, max_busy: float = 0.03, timeout: float = 60.0
    ) -> float:
        """Wait until the server tree burns less than ``max_busy`` CPU-s per ``window`` s.

        Use after a wrk run: requests still in flight when wrk stops keep the server busy
        and would otherwise eat into whatever is measured next. Returns the seconds waited.
        """
        start = time.monotonic()
        before = self.cpu_seconds()
        while True:
            time.sleep(window)
            now = self.cpu_seconds()
            if now - before < max_busy:
                return time.monotonic() - start
            before = now
            if time.monotonic() - start > timeout:
                raise BenchError(f"server still busy after {timeout}s")

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # measurements
    @property
    def pid(self) -> int:
        if self.proc is None:
            raise BenchError("server not started")
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        return process_tree(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time of the server and its children (workers), live or exited."""
        return tree_cpu_seconds(self.pid)

    def peak_rss(self) -> dict[str, Any]:
        """VmHWM (peak resident set) of the server and each child, in KiB; read before stop()."""
        per_process = {p: _status_kib(p, "VmHWM") for p in self.pids()}
        return {
            "total_kib": sum(per_process.values()),
            "max_kib": max(per_process.values(), default=0),
            "processes": {str(p): kib for p, kib in per_process.items()},
        }

    def reset_peak_rss(self) -> None:
        """Restart VmHWM from the current RSS (``echo 5 > /proc/pid/clear_refs``)."""
        for p in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")

    def log_tail(self, lines: int = 40) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def run_pinned_python(
    code: str,
    *,
    core: str | int | None = SERVER_CORE,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
) -> Any:
    """Run ``code`` in a fresh interpreter pinned to ``core``; it must print one JSON document
    as its last stdout line, which is returned decoded. For baselines (e.g. bare hashing)."""
    result = subprocess.run(
        pinned(core, [PYTHON, "-c", code, *args]),
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"baseline failed ({result.returncode}):\n{result.stderr[-3000:]}")
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise BenchError(f"baseline printed nothing:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


# -- wrk ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    """One request for wrk to send; a run cycles through a list of them per connection thread."""

    method: str = "GET"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | bytes | None = None


def lua_string(value: str | bytes) -> str:
    """A Lua (5.1 / LuaJIT) string literal for arbitrary bytes."""
    data = value.encode() if isinstance(value, str) else value
    out = []
    for byte in data:
        ch = chr(byte)
        if ch in '"\\' or not (0x20 <= byte < 0x7F):
            out.append(f"\\{byte:03d}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


WRK_MARK = "BENCH"
REPORTED_PERCENTILES = (50, 75, 90, 99, 99.9)

# Shared by every generated script. Per thread (each wrk thread has its own Lua state):
# ``statuses`` (counted by ``count_status``), ``counters`` (``count(name)``), ``gauges`` (the
# last value set by ``gauge(name, value)``, one per thread), ``lines`` (free text lines for
# done() to print, e.g. ``sample(name, value)``), ``thread_id`` (1..threads, set by setup()
# before the thread's init()) and ``now_us()`` (CLOCK_MONOTONIC, via LuaJIT's FFI).
# Only flat tables are used: Debian's wrk cannot copy nested tables between Lua states.
WRK_LUA_PRELUDE = """-- generated by bench/harness.py
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local bench_ts = ffi.new("bench_timespec")
function now_us()
  ffi.C.clock_gettime(1, bench_ts)  -- CLOCK_MONOTONIC
  return tonumber(bench_ts.tv_sec) * 1000000 + tonumber(bench_ts.tv_nsec) / 1000
end

statuses = {}
counters = {}
gauges = {}
lines = {}
thread_id = thread_id or 0

function count_status(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function count(name, n)
  counters[name] = (counters[name] or 0) + (n or 1)
end

function sample(name, value)
  lines[#lines + 1] = string.format("sample %s %.3f", name, value)
end

function gauge(name, value)
  gauges[name] = value
end

function read_lines(path)
  local f = assert(io.open(path, "r"))
  local out = {}
  for line in f:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  f:close()
  return out
end

local bench_threads = {}
function setup(thread)
  table.insert(bench_threads, thread)
  thread:set("thread_id", #bench_threads)
end
"""

WRK_LUA_DONE = (
    f"local bench_mark = {lua_string(WRK_MARK)}\n"
    f"local bench_percentiles = {{ {', '.join(str(p) for p in REPORTED_PERCENTILES)} }}\n"
    """
function done(summary, latency, requests)
  local all, totals = {}, {}
  for _, t in ipairs(bench_threads) do
    for status, n in pairs(t:get("statuses") or {}) do
      all[status] = (all[status] or 0) + n
    end
    for name, n in pairs(t:get("counters") or {}) do
      totals[name] = (totals[name] or 0) + n
    end
    for _, line in ipairs(t:get("lines") or {}) do
      io.write(bench_mark .. " " .. line .. "\\n")
    end
    for name, value in pairs(t:get("gauges") or {}) do
      io.write(string.format("%s gauge %s %.3f\\n", bench_mark, name, value))
    end
  end
  for status, n in pairs(all) do
    io.write(string.format("%s status %d %d\\n", bench_mark, status, n))
  end
  for name, n in pairs(totals) do
    io.write(string.format("%s counter %s %d\\n", bench_mark, name, n))
  end
  local e = summary.errors
  io.write(string.format(
    "%s summary requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d "
    .. "status=%d timeout=%d\\n",
    bench_mark, summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout))
  io.write(string.format("%s latency min=%d max=%d mean=%f stdev=%f\\n",
    bench_mark, latency.min, latency.max, latency.mean, latency.stdev))
  for _, p in ipairs(bench_percentiles) do
    io.write(string.format("%s percentile %s %d\\n", bench_mark, tostring(p),
      latency:percentile(p)))
  end
end
"""
)


def wrk_custom_script(body: str) -> str:
    """A wrk script around ``body`` (which defines init/request/response as it needs, using the
    prelude's helpers); status counts, counters, lines and wrk's figures are printed by done().
    A ``response()`` in ``body`` must call ``count_status(status)`` itself."""
    return WRK_LUA_PRELUDE + "\n" + body + "\n" + WRK_LUA_DONE


def wrk_script(
    requests: Sequence[HttpRequest], *, extra_lua: str = "", expect_body: str | None = None
) -> str:
    """A wrk Lua script: cycles through ``requests``, counts response statuses per thread and
    prints a machine-readable summary (``BENCH ...`` lines) from ``done()``. With
    ``expect_body``, answers whose body lacks that text are counted (counter ``bad_body``)."""
    if not requests:
        raise BenchError("wrk_script needs at least one request")
    specs = []
    for r in requests:
        headers = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in r.headers.items())
        body = lua_string(r.body) if r.body is not None else "nil"
        specs.append(
            f"  {{ method = {lua_string(r.method)}, path = {lua_string(r.path)}, "
            f"headers = {{ {headers} }}, body = {body} }},"
        )
    check = (
        f"  if not string.find(body, {lua_string(expect_body)}, 1, true) then "
        'count("bad_body") end\n'
        if expect_body is not None
        else ""
    )
    return wrk_custom_script(f"""local specs = {{
{chr(10).join(specs)}
}}
local built = {{}}
local cursor = 0

function init(args)
  for i, s in ipairs(specs) do
    built[i] = wrk.format(s.method, s.path, s.headers, s.body)
  end
end

function request()
  cursor = cursor % #built + 1
  return built[cursor]
end

function response(status, headers, body)
  count_status(status)
{check}end
{extra_lua}""")


def write_thread_files(directory: Path, name: str, items: Sequence[str], threads: int) -> str:
    """Split ``items`` round-robin into ``directory/name-<thread>.txt`` (threads 1..threads,
    one item a line) for a script's ``read_lines``; returns the Lua expression of the current
    thread's file name."""
    directory.mkdir(parents=True, exist_ok=True)
    for t in range(threads):
        part = items[t::threads]
        (directory / f"{name}-{t + 1}.txt").write_text("".join(f"{i}\n" for i in part))
    prefix = lua_string(str(directory / f"{name}-"))
    return f'{prefix} .. thread_id .. ".txt"'


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk_time_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise BenchError(f"cannot parse wrk time {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk_output(text: str) -> dict[str, Any]:
    """Parse wrk's human output (with ``--latency``) and the ``BENCH`` lines of our script."""
    out: dict[str, Any] = {
        "percentiles_ms": {},
        "statuses": {},
        "errors": {},
        "counters": {},
        "samples": {},
        "gauges": {},
    }
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", text)
    if m:
        out["requests"] = int(m.group(1))
        out["duration_s"] = parse_wrk_time_ms(m.group(2)) / 1000
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"^\s+Latency\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)", text, re.M)
    if m:
        out["latency_mean_ms"] = parse_wrk_time_ms(m.group(1))
        out["latency_max_ms"] = parse_wrk_time_ms(m.group(3))
    dist = text.split("Latency Distribution", 1)
    if len(dist) == 2:
        for pct, value in re.findall(r"^\s+([\d.]+)%\s+([\d.]+\w+)\s*$", dist[1], re.M):
            out["percentiles_ms"][float(pct)] = parse_wrk_time_ms(value)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["errors"] = dict(
            zip(("connect", "read", "write", "timeout"), map(int, m.groups()), strict=True)
        )
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx_3xx"] = int(m.group(1)) if m else 0

    # The script's exact figures (microsecond latencies) replace the rounded human ones.
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0] != WRK_MARK:
            continue
        if parts[1] == "status":
            out["statuses"][int(parts[2])] = int(parts[3])
        elif parts[1] == "counter":
            out["counters"][parts[2]] = int(parts[3])
        elif parts[1] == "sample":
            out["samples"].setdefault(parts[2], []).append(float(parts[3]))
        elif parts[1] == "gauge":
            out["gauges"].setdefault(parts[2], []).append(float(parts[3]))
        elif parts[1] == "summary":
            kv = dict(p.split("=") for p in parts[2:])
            out["requests"] = int(kv["requests"])
            out["duration_s"] = int(kv["duration_us"]) / 1e6
            out["rps"] = out["requests"] / out["duration_s"] if out["duration_s"] else 0.0
            out["errors"] = {k: int(kv[k]) for k in ("connect", "read", "write", "timeout")}
            out["status_errors"] = int(kv["status"])
        elif parts[1] == "latency":
            kv = dict(p.split("=") for p in parts[2:])
            out["latency_min_ms"] = float(kv["min"]) / 1000
            out["latency_max_ms"] = float(kv["max"]) / 1000
            out["latency_mean_ms"] = float(kv["mean"]) / 1000
            out["latency_stdev_ms"] = float(kv["stdev"]) / 1000
        elif parts[1] == "percentile":
            out["percentiles_ms"][float(parts[2])] = float(parts[3]) / 1000
    if "requests" not in out:
        raise BenchError(f"could not parse wrk output:\n{text}")
    return out


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    errors: dict[str, int]
    non_2xx_3xx: int
    statuses: dict[int, int]
    percentiles_ms: dict[float, float]
    command: list[str]
    output: str
    # From the script: ``count(name)`` totals and ``sample(name, value)`` values, all threads.
    counters: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    # ``gauge(name, value)``: each thread's last value (one entry per thread that set it).
    gauges: dict[str, list[float]] = field(default_factory=dict)

    @property
    def socket_errors(self) -> int:
        return sum(self.errors.values())

    def check(
        self, expected_statuses: set[int] | None = None, *, allow_empty: bool = False
    ) -> None:
        """Raise :class:`BenchError` on socket errors, timeouts, non-2xx/3xx answers, statuses
        other than ``expected_statuses``, or (unless ``allow_empty``) no completed request."""
        problems = []
        if self.requests == 0 and not allow_empty:
            problems.append("no request completed")
        if self.socket_errors:
            problems.append(f"socket errors {self.errors}")
        if self.non_2xx_3xx:
            problems.append(f"{self.non_2xx_3xx} non-2xx/3xx responses")
        if expected_statuses is not None:
            unexpected = {s: n for s, n in self.statuses.items() if s not in expected_statuses}
            if unexpected:
                problems.append(f"unexpected statuses {unexpected} (want {expected_statuses})")
        if problems:
            raise BenchError("wrk run failed: " + "; ".join(problems) + "\n" + self.output)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data["percentiles_ms"] = {str(k): v for k, v in self.percentiles_ms.items()}
        data["statuses"] = {str(k): v for k, v in self.statuses.items()}
        del data["output"]
        del data["samples"]  # raw values: callers summarise what they need
        return data


def run_wrk(
    base_url: str,
    requests: Sequence[HttpRequest],
    *,
    duration: float,
    connections: int,
    threads: int = 1,
    core: str | int | None = LOAD_CORE,
    timeout: float = 60.0,
    extra_lua: str = "",
    expect_body: str | None = None,
) -> WrkResult:
    """Run wrk pinned to ``core`` against ``base_url``, cycling through ``requests``."""
    return run_wrk_script(
        base_url,
        wrk_script(requests, extra_lua=extra_lua, expect_body=expect_body),
        path=requests[0].path,
        duration=duration,
        connections=connections,
        threads=threads,
        core=core,
        timeout=timeout,
    )


def run_wrk_script(
    base_url: str,
    script_text: str,
    *,
    path: str = "/",
    duration: float,
    connections: int,
    threads: int = 1,
    core: str | int | None = LOAD_CORE,
    timeout: float = 60.0,
) -> WrkResult:
    """Run wrk pinned to ``core`` with a complete Lua script (see :func:`wrk_custom_script`)."""
    if shutil.which("wrk") is None:
        raise BenchError("wrk not found (apt-get install -y wrk)")
    threads = max(1, min(threads, connections))
    with tempfile.NamedTemporaryFile("w", prefix="bench-", suffix=".lua", delete=False) as f:
        f.write(script_text)
        script = f.name
    command = pinned(
        core,
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={max(1, round(timeout))}s",
            "--latency",
            "-s",
            script,
            base_url.rstrip("/") + path,
        ],
    )
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + timeout + 60, check=False
        )
    finally:
        os.unlink(script)
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    parsed = parse_wrk_output(result.stdout)
    pct = parsed["percentiles_ms"]
    return WrkResult(
        requests=parsed["requests"],
        duration_s=parsed["duration_s"],
        rps=parsed.get("rps", 0.0),
        p50_ms=pct.get(50.0, float("nan")),
        p99_ms=pct.get(99.0, float("nan")),
        max_ms=parsed.get("latency_max_ms", float("nan")),
        mean_ms=parsed.get("latency_mean_ms", float("nan")),
        errors=parsed["errors"],
        non_2xx_3xx=parsed["non_2xx_3xx"],
        statuses=parsed["statuses"],
        percentiles_ms=pct,
        command=command,
        output=result.stdout + result.stderr,
        counters=parsed["counters"],
        samples=parsed["samples"],
        gauges=parsed["gauges"],
    )


@dataclass
class Target:
    """A running server to measure, with its database's CPU when that is a separate process."""

    name: str
    server: ServerProcess
    db_cpu: Callable[[], float] | None = None
    # Whether the database runs on the server's core: its CPU is then part of that core's busy
    # time and not counted as other processes' noise.
    db_on_server_core: bool = True


def measure(
    target: Target,
    script: str,
    *,
    path: str,
    duration: float,
    connections: int,
    threads: int,
    after: Callable[[], None] | None = None,
) -> tuple[WrkResult, dict[str, Any]]:
    """One measured wrk run with the server's CPU, the core's noise and peak memory.

    ``after`` runs once the server is checked alive, before the figures are computed."""
    server = target.server
    server.wait_idle()
    server.reset_peak_rss()
    db_before = target.db_cpu() if target.db_cpu else 0.0
    cpu_before = server.cpu_seconds()
    ticks_before = core_times(SERVER_CORE)
    result = run_wrk_script(
        server.base_url, script, path=path, duration=duration, connections=connections,
        threads=threads, timeout=120.0,
    )  # fmt: skip
    cpu_run = server.cpu_seconds() - cpu_before
    busy = core_busy(ticks_before, core_times(SERVER_CORE))
    db_run = (target.db_cpu() - db_before) if target.db_cpu else 0.0
    peak = server.peak_rss()
    if not server.alive():
        raise BenchError(f"{target.name} server died:\n{server.log_tail()}")
    if after is not None:
        after()
    window = result.duration_s or duration
    on_core = cpu_run + (db_run if target.db_on_server_core else 0.0)
    return result, {
        "server_cpu_s": cpu_run,
        "db_cpu_s": db_run if target.db_cpu else float("nan"),
        "server_core_share": cpu_run / window,
        "others_share": max(0.0, busy - on_core / window),
        "server_peak_rss_kib": peak["total_kib"],
    }


# -- statistics and output ---------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the same definition for baselines as for small samples)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:,.{digits}f}"
    return str(value)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, digits: int = 2, file: Any = None
) -> str:
    """Print an aligned table (text left, numbers right); returns the text too."""
    cells = [[fmt(c, digits) for c in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) for row in rows if row[i] != "") if rows else False
        for i in range(len(headers))
    ]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    text = "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])
    print(text, file=file or sys.stdout, flush=True)
    return text


def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git": git_revision(),
        "wrk": shutil.which("wrk"),
    }


def write_result(name: str, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as ``bench/results/<name>-<UTC timestamp>.json``; returns the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    document = {"benchmark": name, "finished_at": stamp, "machine": machine_info(), **payload}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


# -- identity-specific helpers -----------------------------------------------------------------


def identity_env(
    *,
    port: int,
    var_dir: Path,
    database_url: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A clean environment for ``identity``: inherited ``IDENTITY_*`` variables are dropped so
    that production defaults (argon2 parameters and all) apply unless ``extra`` says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_")}
    env.update(
        {
            "IDENTITY_ENV": "development",
            "IDENTITY_VAR_DIR": str(var_dir),
            "IDENTITY_SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
            "IDENTITY_ISSUER": f"http://127.0.0.1:{port}",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if database_url:
        env["IDENTITY_DATABASE_URL"] = database_url
    env.update(extra or {})
    return env


def identity_cli(env: Mapping[str, str], *args: str, input: str | None = None) -> str:
    """Run ``python -m identity ARGS`` (unpinned: set-up, not measured); returns stdout."""
    result = subprocess.run(
        [PYTHON, "-m", "identity", *args],
        env=dict(env),
        input=input,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(
            f"identity {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def start_identity(
    env: Mapping[str, str],
    *,
    port: int,
    cores: str | int | None = SERVER_CORE,
    workers: int = 1,
    log_path: Path | None = None,
) -> ServerProcess:
    """``identity serve`` pinned to ``cores``, started and answering ``/healthz``."""
    argv = [
        PYTHON,
        "-m",
        "identity",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    server = ServerProcess(
        argv,
        base_url=f"http://127.0.0.1:{port}",
        env=env,
        cores=cores,
        log_path=log_path,
        cwd=REPO_ROOT,
    )
    return server.start()


def fetch_csrf(base_url: str, path: str = "/login") -> tuple[str, str, str]:
    """GET a form page once; returns (cookie name, cookie value, csrf_token) for reuse."""
    response = httpx.get(base_url.rstrip("/") + path, timeout=30)
    if response.status_code != 200:
        raise BenchError(f"GET {path} answered {response.status_code}")
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', response.text)
    if not match:
        raise BenchError(f"no csrf_token field on {path}")
    for name in ("identity_csrf", "__Host-identity_csrf"):
        if name in response.cookies:
            return name, response.cookies[name], match.group(1)
    raise BenchError(f"no CSRF cookie set by {path}: {dict(response.cookies)}")


@dataclass(frozen=True)
class Postgres:
    url: str  # the server's URL (database "postgres"); see postgres_database()
    pid: int  # the postmaster

    def cpu_seconds(self) -> float:
        """CPU time of the whole cluster (postmaster, backends, background workers)."""
        return tree_cpu_seconds(self.pid)


@contextlib.contextmanager
def postgres_server(
    cores: str | int | None = SERVER_CORE, settings: dict[str, str] | None = None
) -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster (tests/support/postgres.py), pinned to ``cores``.

    Pinned to the server's core by default, so that the database's work is charged to the same
    one-core budget as the application's (as SQLite's is, being in-process). ``settings``: extra
    server settings, e.g. a ``shared_buffers`` sized for the data set."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tests.support.postgres import start_cluster

    cluster = start_cluster(settings)
    try:
        pid = int((cluster.directory / "data" / "postmaster.pid").read_text().split()[0])
        if cores is not None:
            pin_tree(pid, cores)
        yield Postgres(cluster.url, pid)
    finally:
        cluster.stop()


def postgres_database(server_url: str, name: str) -> str:
    """A fresh database ``name`` on the server at ``server_url``; returns its URL."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tests.support.postgres import recreate_database

    return recreate_database(server_url, name)


def sql_scalar(database_url: str, sql: str, **params: Any) -> Any:
    """One value from the benchmark's database (outside the server; for checks and counts)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()
    finally:
        engine.dispose()
