"""A server in its own process, for the browser tests and the benchmarks: one way to start it.

:class:`ServerProcess` starts a command (``identity serve``, ``identity demo rp``, the benchmark
peers), optionally pinned to CPU cores with ``taskset``, drains its output on a thread (a full
pipe would stall it), waits until it says it listens and its health URL answers 200, and stops
it with SIGTERM (SIGKILL when it hangs). For the benchmarks it also reads the CPU time and peak
memory of its process tree from ``/proc``. :func:`start_on_free_port` picks a free port and
tries another when someone took it meanwhile.

It lives in ``tests/support`` (with the throwaway PostgreSQL of ``postgres.py``) because the
tests are its first user; ``bench/`` puts the repository root on ``sys.path`` to import it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Self

import httpx

# uvicorn logs "Application startup complete" *before* it binds the port (a port taken meanwhile
# fails after that line); "Uvicorn running on" comes once it listens.
UVICORN_READY = "Uvicorn running on"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerFailed(RuntimeError):
    """The server did not start, or not in time; the message carries its output."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cores: str | int | None, argv: Sequence[str]) -> list[str]:
    """``argv`` under ``taskset -c cores`` (taskset execs: the pid is the command's)."""
    return list(argv) if cores is None else ["taskset", "-c", str(cores), *argv]


def identity_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "identity", *args]


def identity_environment(values: Mapping[str, str]) -> dict[str, str]:
    """The environment for ``identity`` with ``values`` as its settings (``{"issuer": ...}`` is
    ``IDENTITY_ISSUER``); inherited ``IDENTITY_*`` variables are dropped, so defaults apply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_")}
    env.update({f"IDENTITY_{name.upper()}": value for name, value in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_identity(
    env: Mapping[str, str], *args: str, input: str | None = None, cwd: Path | None = None
) -> str:
    """``identity ARGS`` to completion; returns its output, raises :class:`ServerFailed`."""
    result = subprocess.run(
        identity_command(*args), env=dict(env), input=input, capture_output=True, text=True,
        cwd=cwd, timeout=300, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise ServerFailed(f"identity {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


class ServerLog:
    """The process's output, line by line; ``settled`` is set once ``ready_line`` appeared or
    the output ended."""

    def __init__(self, stream: IO[str], ready_line: str | None) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.ready_line = ready_line
        self.ready = False
        self.settled = threading.Event()
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                with self._lock:
                    self._lines.append(line.rstrip("\n"))
                if self.ready_line is not None and self.ready_line in line:
                    self.ready = True
                    self.settled.set()
        finally:
            self.settled.set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._lines)

    def text(self, since: int = 0) -> str:
        with self._lock:
            return "\n".join(self._lines[since:])

    def tail(self, lines: int = 60) -> str:
        with self._lock:
            return "\n".join(self._lines[-lines:])

    def join(self) -> None:
        self._thread.join(timeout=10)


class ServerProcess:
    """``argv`` serving ``url``: started by :meth:`start` (or ``with``), always stopped."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        url: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        cores: str | int | None = None,
        ready_line: str | None = UVICORN_READY,
        health_path: str = "/healthz",
    ) -> None:
        self.argv = pinned(cores, argv)
        self.url = url.rstrip("/")
        self.env = dict(env if env is not None else os.environ)
        self.cwd = cwd
        self.ready_line = ready_line
        self.health_path = health_path
        self.proc: subprocess.Popen[str] | None = None
        self.log: ServerLog | None = None

    def start(self, timeout: float = 60.0) -> Self:
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.log = ServerLog(self.proc.stdout, self.ready_line)
        try:
            self._wait_ready(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, deadline: float) -> None:
        assert self.log is not None
        if self.ready_line is not None and not (
            self.log.settled.wait(max(0.0, deadline - time.monotonic())) and self.log.ready
        ):
            raise ServerFailed(f"{self.argv[0]} did not start:\n{self.log.text()}")
        while True:
            if not self.alive():
                raise ServerFailed(f"exited with {self.returncode}:\n{self.log.text()}")
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(self.url + self.health_path, timeout=5)
                if answer.status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise ServerFailed(f"{self.url}{self.health_path} not ready:\n{self.log.text()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # uvicorn shuts down gracefully on SIGTERM
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.log is not None:
            self.log.join()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self, since: int = 0) -> str:
        """What the process printed, from line ``since`` on."""
        return self.log.text(since) if self.log is not None else ""

    def output_lines(self) -> int:
        return len(self.log) if self.log is not None else 0

    def log_tail(self, lines: int = 60) -> str:
        return self.log.tail(lines) if self.log is not None else ""

    # -- measurements (benchmarks): the process and its children, from /proc --

    def pids(self) -> list[int]:
        return process_tree(self.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the tree, threads and reaped children included."""
        return tree_cpu_seconds(self.pid)

    def peak_rss_kib(self) -> int:
        """The sum of the tree's VmHWM (peak resident set); read before :meth:`stop`."""
        return sum(_status_kib(p, "VmHWM") for p in self.pids())

    def reset_peak_rss(self) -> None:
        """Restart VmHWM from the current RSS (``echo 5 > /proc/<pid>/clear_refs``)."""
        for p in self.pids():
            with contextlib.suppress(OSError), open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")


def start_on_free_port(make: Callable[[int], ServerProcess], attempts: int = 3) -> ServerProcess:
    """``make(port)`` started on a free port; another port when this one was taken between
    choosing and binding it."""
    for attempt in range(1, attempts + 1):
        server = make(free_port())
        try:
            return server.start()
        except ServerFailed as exc:
            if "address already in use" not in str(exc).lower() or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rpartition(")")[2].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
            total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return total / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0
