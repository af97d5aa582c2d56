"""A throwaway PostgreSQL cluster for the test run: initdb + pg_ctl on a private socket.

Started once per test run by the xdist controller (or the lone process), torn down at the end.
Runs as the ``postgres`` user when we are root, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) for x in p.split("/")[-2].split(".")],
    )
    if candidates:
        return Path(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them "
        "(Debian: apt-get install -y postgresql) or point IDENTITY_TEST_DATABASE_URL at a "
        "server, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    directory: Path
    port: int
    bin_dir: Path
    run_as: str | None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresUnavailable(f"{args[0]} failed:\n{result.stdout}\n{result.stderr}")

    def stop(self) -> None:
        try:
            if (self.directory / "data" / "postmaster.pid").exists():  # else: already gone
                self._run(
                    "pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop"
                )
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_cluster(settings: dict[str, str] | None = None) -> Cluster:
    """A throwaway cluster; ``settings`` are extra server settings (``-c name=value``)."""
    bin_dir = _bin_dir()
    run_as = None
    directory = Path(tempfile.mkdtemp(prefix="identity-pg-"))
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            entry = pwd.getpwnam(run_as)
        except KeyError as exc:
            raise PostgresUnavailable("running as root but there is no 'postgres' user") from exc
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(directory, _free_port(), bin_dir, run_as)
    cluster._run(
        "initdb",
        "-D",
        str(directory / "data"),
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-locale",
        "--no-sync",
    )
    cluster._run(
        "pg_ctl",
        "-D",
        str(directory / "data"),
        "-l",
        str(directory / "server.log"),
        "-w",
        "-o",
        f"-k {directory} -p {cluster.port} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        + "".join(f" -c {name}={value}" for name, value in (settings or {}).items()),
        "start",
    )
    return cluster


def recreate_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` on the server; return its SQLAlchemy URL."""
    conninfo = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server_url.rpartition("/")
    query = ""
    if "?" in server_url:
        query = "?" + server_url.split("?", 1)[1]
        base = server_url.split("?", 1)[0].rpartition("/")[0]
    return f"{base}/{name}{query}"
