"""Token endpoint throughput: client_credentials, introspection, refresh and whole login flows,
with node-oidc-provider as the peer for client_credentials.

Targets: client_credentials tokens/s >= 1.0 x node-oidc-provider's, and full login flows/s >=
0.8 x bare argon2 ``PasswordHasher.hash`` per second, both measured in the same run. The servers
(ours, node-oidc-provider, and with ``--database postgresql`` the throwaway cluster) are pinned to
core 0, wrk to core 1. Phases:

``cc``          POST /token grant_type=client_credentials, scope ``consent:read`` and resource
                ``https://api.example.com`` (RFC 8707), client_secret_basic; every answer 200
                with an RS256 JWT access token (RFC 9068).
``node``        the same request against node-oidc-provider 9 (``bench/node/server.mjs``,
                configured equivalently). One token of each server is decoded first and must
                say RS256 / at+jwt, with the resource as audience.
``introspect``  POST /introspect of ``--introspect-tokens`` distinct live user access tokens as
                the service client; every answer 200 with ``"active":true``.
``refresh``     POST /token grant_type=refresh_token. Refresh tokens rotate and a reused one
                revokes its grant, so each token is sent once (``bench/lua/refresh.lua``) from a
                pool sized from a warm-up; a run that runs out is void and repeated with a
                larger pool, and any grant revoked for reuse fails the benchmark.
``flow``        GET /authorize -> POST /login (argon2 with the production parameters) -> GET
                /authorize/resume -> POST /token (code + PKCE S256), chained per connection by
                ``bench/lua/flow.lua``, each account on its own connection; compared with bare
                hashing (``bench/baselines/argon2_hashes.py`` on core 0).

Token pools are minted over HTTP, not measured, by a second ``identity serve --workers 2`` on
the same database (unpinned, idle while anything is measured). Rounds alternate the order (node,
ours [cc, introspect, refresh, flow], hashing; then hashing, ours reversed, node), so that each
comparison's two sides are neighbours in time; our server is a fresh process per round.

    .venv/bin/python bench/tokens.py [--rounds 3] [--duration 10] [--warmup 3] [--connections 8]
        [--threads 2] [--flow-connections 4] [--database sqlite|postgresql] [--quick]
        [--only cc,introspect,refresh,flow,node]

node-oidc-provider is installed by ``npm ci`` in bench/node when bench/node/node_modules is
missing.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import harness
import httpx
from harness import BenchError, ServerProcess

TARGET_CC = 1.0  # ours / node-oidc-provider, client_credentials tokens/s
TARGET_FLOW = 0.8  # login flows/s / bare argon2 hashes/s
PHASES = ("cc", "introspect", "refresh", "flow", "node")
TITLES = {
    "cc": "client_credentials (ours)",
    "node": "client_credentials (node-oidc-provider)",
    "introspect": "introspection",
    "refresh": "refresh (rotating)",
    "flow": "login+code+token flow",
    "hash": "bare argon2 hash",
}
SCOPE = "consent:read"
RESOURCE = "https://api.example.com"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the code is read from Location
FLOW_SCOPE = "openid profile"
PASSWORD = "correct horse battery staple 42"
POOL_EMAIL = "bench.tokens.pool@example.com"
NODE_DIR = harness.BENCH_DIR / "node"
FORM = "Content-Type: application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Creds:
    client_id: str
    client_secret: str

    @property
    def basic(self) -> str:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass
class Ours:
    env: dict[str, str]
    database_url: str
    port: int
    svc: Creds  # client_credentials, the resource server's scope
    web: Creds  # first-party web client: authorization code and refresh tokens
    emails: list[str]  # one flow account per flow connection


def pkce_pair() -> str:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier + " " + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def prepare_ours(args: argparse.Namespace, postgres: harness.Postgres | None) -> Ours:
    """A migrated database with the two clients and the verified accounts."""
    database_url = harness.new_database(postgres, args.work, "identity_bench_tokens")
    port = harness.free_port()
    env = harness.identity_env(port=port, var_dir=args.work, database_url=database_url)
    harness.identity_cli(env, "db", "upgrade")

    def client(name: str, *options: str) -> Creds:
        created = harness.identity_cli(env, "clients", "create", "--name", name, *options)
        data = json.loads(created)
        return Creds(data["client_id"], data["client_secret"])

    svc = client("bench-service", "--grant-type", "client_credentials", "--scope", SCOPE,
                 "--resource", RESOURCE)  # fmt: skip
    web = client("bench-web", "--grant-type", "authorization_code", "--grant-type",
                 "refresh_token", "--redirect-uri", REDIRECT_URI, "--first-party", "--scope",
                 FLOW_SCOPE)  # fmt: skip
    emails = [f"bench.tokens.flow{i}@example.com" for i in range(args.flow_connections)]
    harness.create_accounts(env, [POOL_EMAIL, *emails], PASSWORD)
    return Ours(env, database_url, port, svc, web, emails)


def ensure_node_peer() -> str:
    """node, with bench/node/node_modules (``npm ci`` from the committed lock file)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise BenchError("node and npm not found (apt-get install -y nodejs npm)")
    if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        print("  installing node-oidc-provider: npm ci in bench/node", flush=True)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise BenchError(f"npm ci failed:\n{done.stdout}\n{done.stderr}")
    return node


def node_server(node: str, creds: Creds) -> ServerProcess:
    port = harness.free_port()
    env = {**os.environ, "NODE_ENV": "production", "BENCH_PORT": str(port),
           "BENCH_CLIENT_ID": creds.client_id, "BENCH_CLIENT_SECRET": creds.client_secret,
           "BENCH_SCOPE": SCOPE, "BENCH_RESOURCE": RESOURCE}  # fmt: skip
    return ServerProcess(
        [node, "server.mjs"], url=f"http://127.0.0.1:{port}", env=env, cwd=NODE_DIR,
        cores=harness.SERVER_CORE, ready_line="node-oidc-provider",
        health_path="/.well-known/openid-configuration",
    )  # fmt: skip


def cc_body() -> str:
    return urlencode({"grant_type": "client_credentials", "scope": SCOPE, "resource": RESOURCE})


def check_jwt_access_token(base_url: str, creds: Creds) -> dict[str, Any]:
    """One client_credentials token, decoded: an RS256 JWT (RFC 9068) for the resource."""
    headers = {"Authorization": creds.basic, "Content-Type": FORM.partition(": ")[2]}
    answer = httpx.post(base_url + "/token", headers=headers, content=cc_body(), timeout=30)
    parts = answer.json().get("access_token", "").split(".")
    if answer.status_code != 200 or len(parts) != 3:
        raise BenchError(f"{base_url}: no JWT access token: {answer.status_code} {answer.text}")
    header, claims = (json.loads(base64.urlsafe_b64decode(p + "==")) for p in parts[:2])
    if (
        header.get("alg") != "RS256"
        or header.get("typ") not in ("at+jwt", "application/at+jwt")
        or claims.get("aud") not in (RESOURCE, [RESOURCE])
        or claims.get("scope") != SCOPE
    ):
        raise BenchError(f"{base_url}: not the expected access token: {header} {claims}")
    return {"header": header, "claims": sorted(claims)}


# -- minting tokens (set-up over HTTP, not load) -----------------------------------------------


def sign_in(base_url: str, email: str, cookie: str = "identity_session") -> str:
    """A browser signed in (one argon2 verification); returns its ``cookie`` (the session's,
    or the device's a returning browser sends)."""
    csrf_cookie, token = harness.fetch_csrf(base_url)
    answer = httpx.post(
        base_url + "/login",
        data={"csrf_token": token, "email": email, "password": PASSWORD, "next": "/account"},
        headers={"Cookie": csrf_cookie},
        timeout=60,
    )
    found = [f"{k}={v}" for k, v in answer.cookies.items() if k.endswith(cookie)]
    if answer.status_code != 303 or not found:
        raise BenchError(f"sign-in for {email} answered {answer.status_code} without {cookie}")
    return found[0]


def authorize(client: httpx.Client, web: Creds, cookie: str) -> dict[str, Any]:
    """One authorization with its own grant: GET /authorize (signed in, first party: no
    consent asked) -> code -> POST /token. Returns the token response."""
    verifier, challenge = pkce_pair().split()
    state = secrets.token_urlsafe(8)
    query = {"response_type": "code", "client_id": web.client_id, "redirect_uri": REDIRECT_URI,
             "scope": FLOW_SCOPE, "state": state, "code_challenge": challenge,
             "code_challenge_method": "S256"}  # fmt: skip
    answer = client.get("/authorize?" + urlencode(query), headers={"Cookie": cookie})
    location = answer.headers.get("location", "")
    got = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if not location.startswith(REDIRECT_URI) or got.get("state") != state or "code" not in got:
        raise BenchError(f"authorize: {answer.status_code} {location[:200]} {answer.text[:200]}")
    form = {"grant_type": "authorization_code", "code": got["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}  # fmt: skip
    answer = client.post("/token", data=form, auth=(web.client_id, web.client_secret))
    body = answer.json() if answer.status_code == 200 else {}
    if "refresh_token" not in body or "access_token" not in body:
        raise BenchError(f"token: {answer.status_code} {answer.text[:300]}")
    return body


class Minter:
    """Authorizations for the refresh and introspection pools, from a separate ``identity serve
    --workers 2`` on the same database and issuer, not pinned (both cores are free while it
    works; idle, its outbox worker off, while anything is measured). Tokens live in the
    database, so the measured server accepts them as its own."""

    def __init__(self, ours: Ours) -> None:
        self.ours = ours
        self.server: ServerProcess | None = None
        self.cookie = ""

    def tokens(self, kind: str, count: int, workers: int = 6) -> list[str]:
        if self.server is None:
            env = {**self.ours.env, "IDENTITY_OUTBOX_WORKER": "false"}
            server = harness.identity_server(env, harness.free_port(), cores=None, workers=2)
            self.server = server.start()
            self.cookie = sign_in(server.url, POOL_EMAIL)
        out: list[str] = []
        lock = threading.Lock()

        def work(n: int) -> None:
            assert self.server is not None
            with httpx.Client(base_url=self.server.url, timeout=60) as client:
                for _ in range(n):
                    token = authorize(client, self.ours.web, self.cookie)[kind]
                    with lock:
                        out.append(token)

        shares = [count // workers + (i < count % workers) for i in range(workers)]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, shares))  # re-raises the first error
        if len(set(out)) != count:
            raise BenchError(f"{len(set(out))} distinct tokens minted, {count} wanted")
        return out

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


# -- the phases --------------------------------------------------------------------------------


class Phases:
    """Our phases in one round, against one fresh server process."""

    def __init__(self, run: Run, target: harness.Target, work: Path) -> None:
        self.args, self.ours, self.minter, self.work = run.args, run.ours, run.minter, work
        self.target = target

    def measured(self, statuses: set[int], *script: str, **kw: Any) -> Any:
        """A warm-up, then the measured run of ``script``; both checked."""
        kw = {"connections": self.args.connections, "threads": self.args.threads, **kw}
        allowed = kw.pop("allowed", ())
        warm = self.target.warm_up(self.args.warmup, *script, **kw)
        if warm is not None:
            warm.check(statuses, allowed=allowed, allow_empty=True)
        result, out = harness.measure(self.target, *script, duration=self.args.duration, **kw)
        result.check(statuses, allowed=allowed)
        return result, out

    def cc(self) -> dict[str, Any]:
        return client_credentials(self, self.ours.svc, self.work)

    def introspect(self) -> dict[str, Any]:
        # The web client asks about its own tokens: the provider answers a client only for
        # those, or as a resource server registered for a token's audience (RFC 7662 §4).
        tokens = self.minter.tokens("access_token", self.args.introspect_tokens)
        bodies = [urlencode({"token": t, "token_type_hint": "access_token"}) for t in tokens]
        bodies_file = harness.write_lines(self.work / "introspect.txt", bodies)
        return self.measured(
            {200}, "requests", "POST", "/introspect", '"active":true', bodies_file,
            f"Authorization: {self.ours.web.basic}", FORM,
        )[1]  # fmt: skip

    def refresh(self, rate_hint: float) -> dict[str, Any]:
        """A pool sized from the warm-up's rate x ``--refresh-pool-margin``; each token once."""
        a, basic = self.args, self.ours.web.basic
        kw = {"connections": a.connections, "threads": a.threads}

        def pool(name: str, size: int) -> str:
            tokens = self.minter.tokens("refresh_token", size)
            return harness.write_thread_files(self.work, name, tokens, a.threads)

        estimate = rate_hint
        if a.warmup > 0:
            files = pool("refresh-warm", max(100, math.ceil(rate_hint * a.warmup * 1.2)))
            warm = self.target.warm_up(a.warmup, "refresh", files, basic, **kw)
            assert warm is not None
            warm.check({200}, allowed=("exhausted", "rotated"), allow_empty=True)
            estimate = max(rate_until_exhausted(warm), rate_hint * (1.5 if exhausted(warm) else 1))
        for attempt in (1, 2):
            size = (
                math.ceil(estimate * (a.duration + 1) * a.refresh_pool_margin) + 4 * a.connections
            )
            files = pool("refresh", size)
            result, out = harness.measure(
                self.target, "refresh", files, basic, duration=a.duration, after=self.no_reuse, **kw
            )
            if not exhausted(result):
                break
            if attempt == 2:
                raise BenchError(
                    f"refresh pool of {size} ran out twice: raise --refresh-pool-margin"
                )
            # A thread ran out (and stopped: no token was sent twice); the run is void.
            print(f"  refresh pool of {size} ran out: minting a larger one", flush=True)
            estimate = 2 * max(estimate, rate_until_exhausted(result))
        result.check({200}, allowed=("rotated",))
        if result.counters.get("rotated") != result.requests:
            raise BenchError(f"refresh: {result.requests} answers, {result.counters} rotated")
        out.update(pool=size, pool_used_pct=100 * result.requests / size)
        return out

    def no_reuse(self) -> None:
        sql = "SELECT count(*) FROM oauth_grant WHERE revoked_reason = 'refresh_token_reuse'"
        if reused := harness.sql_scalar(self.ours.database_url, sql):
            raise BenchError(f"{reused} grant(s) revoked for refresh token reuse")

    def flow(self) -> dict[str, Any]:
        a, ours, n = self.args, self.ours, self.args.flow_connections
        cookie, csrf = harness.fetch_csrf(self.target.server.url)
        authorize_path = "/authorize?" + urlencode(
            {"response_type": "code", "client_id": ours.web.client_id, "redirect_uri": REDIRECT_URI,
             "scope": FLOW_SCOPE, "code_challenge_method": "S256"}
        )  # fmt: skip
        per_thread = math.ceil((a.duration + a.warmup + 2) * 20) + 20  # 20 flows/s at most
        devices = [
            sign_in(self.target.server.url, email, "identity_device") for email in ours.emails
        ]

        def script(name: str) -> tuple[str, ...]:
            pairs = harness.write_thread_files(
                self.work, name, [pkce_pair() for _ in range(per_thread * n)], n
            )
            return ("flow", pairs, ours.web.basic, authorize_path, REDIRECT_URI, cookie, csrf,
                    PASSWORD, ",".join(ours.emails), ",".join(devices))  # fmt: skip

        warm = self.target.warm_up(a.warmup, *script("pkce-warm"), connections=n, threads=n)
        if warm is not None:
            warm.check({200, 303}, allowed=("flows",), allow_empty=True)
        harness.wait_idle(self.target.server)  # the warm-up's last sign-ins land before the count
        sessions = harness.count_sessions(ours.database_url)
        result, out = harness.measure(
            self.target, *script("pkce"), duration=a.duration, connections=n, threads=n
        )
        result.check({200, 303}, allowed=("flows",))
        flows = result.counters.get("flows", 0)
        flow_ms = [us / 1000 for us in result.samples.get("flow", [])]
        if not flows:
            raise BenchError(f"no login flow completed in {a.duration}s: raise --duration")
        # Flows in flight when wrk stopped still finish: all the CPU until idle per sign-in.
        logins = harness.count_sessions(ours.database_url) - sessions
        legs = {leg: harness.median([us / 1000 for us in result.samples.get(f"leg_{leg}", [])])
                for leg in ("authorize", "login", "resume", "token")}  # fmt: skip
        out.update(
            per_s=flows / result.duration_s, units=flows, p50_ms=harness.percentile(flow_ms, 50),
            p99_ms=harness.percentile(flow_ms, 99), cpu_ms=out["settled_cpu_s"] * 1000 / logins,
            db_cpu_ms=out["settled_db_cpu_s"] * 1000 / logins, legs_p50_ms=legs,
        )  # fmt: skip
        return out


def exhausted(result: harness.WrkResult) -> bool:
    return bool(result.counters.get("exhausted"))


def rate_until_exhausted(result: harness.WrkResult) -> float:
    """Refreshes per second until the first thread ran out of tokens (else over the run)."""
    ran_s = max(result.samples.get("exhausted_after_us", [0.0])) / 1e6 or result.duration_s
    return result.requests / ran_s if ran_s else 0.0


def client_credentials(phases: Phases, creds: Creds, work: Path) -> dict[str, Any]:
    """client_credentials against ours or node's server: the same script and request."""
    body = harness.write_lines(work / f"cc-{creds.client_id}.txt", [cc_body()])
    script = ("requests", "POST", "/token", '"access_token"', body, f"Authorization: {creds.basic}")
    return phases.measured({200}, *script, FORM)[1]


# -- rounds ------------------------------------------------------------------------------------


class Run:
    """What the rounds share: the prepared database, the minter, the peer, what was learnt."""

    def __init__(self, args: argparse.Namespace, ours: Ours, db_cpu: Callable[[], float] | None):
        self.args, self.ours, self.db_cpu = args, ours, db_cpu
        self.minter = Minter(ours)
        self.node = ensure_node_peer() if "node" in args.only else None
        self.node_creds = Creds(secrets.token_urlsafe(12), secrets.token_urlsafe(32))
        self.jwt_checks: dict[str, Any] = {}
        self.refresh_rate = 300.0  # tokens/s, for sizing the first warm-up pool

    def round(self, i: int) -> dict[str, Any]:
        ours = [p for p in ("cc", "introspect", "refresh", "flow") if p in self.args.only]
        steps = ["node"] * bool(self.node) + ["ours"] * bool(ours) + ["hash"] * ("flow" in ours)
        if i % 2 == 0:
            steps, ours = steps[::-1], ours[::-1]
        order = [p for s in steps for p in (ours if s == "ours" else [s])]
        row: dict[str, Any] = {"round": i, "order": "+".join(order)}
        for step in steps:
            started = time.monotonic()
            if step == "hash":
                row["hash"] = harness.measure_hashing(self.args.duration, PASSWORD)
            elif step == "node":
                row["node"] = self.node_cc(self.args.work / f"node-{i}")
            else:
                row.update(self.ours_block(ours, self.args.work / f"round-{i}"))
            print(f"  round {i}: {step} done in {time.monotonic() - started:.1f}s", flush=True)
        return row

    def node_cc(self, work: Path) -> dict[str, Any]:
        assert self.node is not None
        with harness.serving(node_server(self.node, self.node_creds)) as server:
            if "node" not in self.jwt_checks:
                self.jwt_checks["node"] = check_jwt_access_token(server.url, self.node_creds)
            phases = Phases(self, harness.Target("node-oidc-provider", server), work)
            return client_credentials(phases, self.node_creds, work)

    def ours_block(self, block: list[str], work: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with harness.serving(harness.identity_server(self.ours.env, self.ours.port)) as server:
            if "cc" in block and "ours" not in self.jwt_checks:
                self.jwt_checks["ours"] = check_jwt_access_token(server.url, self.ours.svc)
            phases = Phases(self, harness.Target("identity", server, self.db_cpu), work)
            for phase in block:
                started = time.monotonic()
                if phase == "refresh":
                    out[phase] = phases.refresh(self.refresh_rate)
                    self.refresh_rate = out[phase]["per_s"]
                else:
                    out[phase] = getattr(phases, phase)()
                print(f"    {phase} done in {time.monotonic() - started:.1f}s", flush=True)
        return out


def report(args: argparse.Namespace, run: Run, rounds: list[dict[str, Any]]) -> None:
    harness.print_rounds(rounds, TITLES)
    for name, check in run.jwt_checks.items():
        print(f"{name} access token: {check['header']}, claims {','.join(check['claims'])}")
    m = {p: harness.medians(rounds, p) for p in TITLES if any(p in r for r in rounds)}
    cc = harness.compare(rounds, "cc", "node", "client_credentials ours : node", TARGET_CC)
    flow = harness.compare(rounds, "flow", "hash", "login flows : bare hashes", TARGET_FLOW)
    if "flow" in m:
        legs = {k: harness.median([r["flow"]["legs_p50_ms"][k] for r in rounds if "flow" in r])
                for k in ("authorize", "login", "resume", "token")}  # fmt: skip
        text = ", ".join(f"{k} {v:.1f} ms" for k, v in legs.items())
        print(f"flow legs, median latency: {text} ({args.flow_connections} flows in parallel: "
              "the login leg queues for argon2)")  # fmt: skip
    harness.print_noise(rounds, TITLES)

    def rate(p: str, p99: bool = False) -> str:
        if p not in m:
            return "-"
        f = m[p]
        return f"{f['per_s']:,.0f}/s, p50 {f['p50_ms']:.1f} ms" + (
            f", p99 {f['p99_ms']:.1f} ms" if p99 else ""
        )

    cells = [args.database, rate("cc", p99=True)]
    cells.append(f"{m['node']['per_s']:,.0f}/s → **{cc['ratio']:.2f}×**" if cc else "-")
    cells += [rate("introspect"), rate("refresh")]
    cells.append(f"{m['flow']['per_s']:.2f}/s vs {m['hash']['per_s']:.2f} hashes/s → "
                 f"**{flow['ratio']:.2f}×**" if flow else "-")  # fmt: skip
    print("\n| database | client_credentials | vs node-oidc-provider | introspection | refresh "
          "(rotating) | login + code + token flows |\n|---|---|---|---|---|---|")  # fmt: skip
    print("| " + " | ".join(cells) + " |")
    config = {k: v for k, v in vars(args).items() if k != "work"}
    payload = {"config": config, "jwt_checks": run.jwt_checks, "rounds": rounds,
               "summary": {"medians": m, "cc_vs_node": cc, "flow_vs_hash": flow}}  # fmt: skip
    harness.write_result(f"tokens-{args.database}", payload)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    add = parser.add_argument
    add("--rounds", type=int, default=3)
    add("--duration", type=float, default=10.0, help="seconds per measurement")
    add("--warmup", type=float, default=3.0, help="wrk warm-up seconds per phase")
    add("--connections", type=int, default=8, help="for cc, node, introspect and refresh")
    add("--threads", type=int, default=2, help="wrk threads for cc, node, introspect, refresh")
    add("--flow-connections", type=int, default=4, help="flows in parallel, an account each")
    add("--database", choices=["sqlite", "postgresql"], default="sqlite")
    add("--only", default=",".join(PHASES), help="comma-separated phases")
    add("--introspect-tokens", type=int, default=64)
    add(
        "--refresh-pool-margin",
        type=float,
        default=1.5,
        help="refresh pool = warm-up rate x (duration + 1 s) x this",
    )
    add("--quick", action="store_true", help="one short round (smoke test)")
    args = parser.parse_args()  # fmt: skip
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 3.0, 2.0
    args.only = [p for p in args.only.split(",") if p in PHASES]
    args.threads = max(1, min(args.threads, args.connections))
    return args


def main() -> int:
    args = parse_args()
    p = harness.argon2_defaults()
    print(f"token benchmark: {','.join(args.only)}; {args.rounds} round(s) x {args.duration:g}s "
          f"(+{args.warmup:g}s warm-up), {args.connections} connection(s), "
          f"{args.flow_connections} flow connection(s); database {args.database}; argon2id "
          f"t={p['time_cost']} m={p['memory_cost']} KiB p={p['parallelism']}")  # fmt: skip
    with contextlib.ExitStack() as stack:
        postgres = None
        if args.database == "postgresql":
            postgres = stack.enter_context(harness.postgres_server())
        args.work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-tokens-")))
        run = Run(args, prepare_ours(args, postgres), postgres.cpu_seconds if postgres else None)
        stack.callback(run.minter.stop)
        rounds = [run.round(i) for i in range(1, args.rounds + 1)]
    report(args, run, rounds)
    return 0


if __name__ == "__main__":
    harness.run(main)
