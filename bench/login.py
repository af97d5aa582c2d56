"""Sign-ins per second through the app vs bare ``PasswordHasher.hash`` per second.

Target: logins/s >= 0.8 x hashes/s, measured on the same machine in the same run (the argon2 hash
should be the only real cost of a login). Per round, in alternating order:

(a) bare hashing: ``bench/baselines/argon2_hashes.py`` pinned to core 0 hashes with the
    production argon2 parameters, one hash after another, for ``--duration`` seconds;
(b) logins: ``identity serve`` pinned to core 0 (a fresh process per round), wrk pinned to core 1
    posting ``/login`` with a valid CSRF cookie and token for ``--duration`` seconds over
    ``--connections`` keep-alive connections; every answer must be ``303``.

Both sides get the same one-core budget (with ``--database postgresql`` the throwaway cluster is
pinned to core 0 as well, so the database's work is charged to it, as SQLite's is). PASS/MISS is
judged on the median of the per-round ratios. The CPU time the server spends per login (until it
is idle again, divided by the sessions created; database included) is compared with that of one
bare hash: the comparison with the time other processes stole taken out.

Passkeys, in the same server after (b): sign-ins one at a time, alternating a password
sign-in (``POST /login``) and a passkey sign-in (``POST /login/passkey/options`` and ``POST
/login/passkey``, the assertion made between them by the tests' software authenticator,
``tests/support/webauthn.py``, and not counted). Reported: each one's median wall time on the
loopback (the server's time, the request overhead included) and their ratio. A passkey
sign-in needs no argon2 hash, only an ECDSA P-256 verification and three short transactions
(store, consume the challenge, open the session), so it should cost a small fraction of a
password's. Not a PASS/MISS target: informative.

    .venv/bin/python bench/login.py [--rounds 3] [--duration 10] [--connections 4] [--accounts 1]
                                    [--database sqlite|postgresql] [--passkeys 50] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import harness
import httpx
from harness import BenchError
from tests.support.webauthn import SoftwareAuthenticator

TARGET = 0.8
PASSWORD = "correct horse battery staple 42"
TITLES = {"hash": "bare argon2 hash", "login": "POST /login"}


def account_email(i: int) -> str:
    return f"bench.login{i}@example.com"


def check_stored_hash(database_url: str, email: str) -> None:
    """The account's stored hash must carry exactly the baseline's parameters."""
    from argon2 import extract_parameters

    stored = harness.sql_scalar(
        database_url, "SELECT password_hash FROM user_account WHERE email = :e", e=email
    )
    p = extract_parameters(stored)
    got = {"time_cost": p.time_cost, "memory_cost": p.memory_cost, "parallelism": p.parallelism}
    if got != harness.argon2_defaults():
        raise BenchError(f"stored hash parameters {got} differ from the baseline's")


def measure_logins(args: argparse.Namespace, env: dict[str, str], database_url: str) -> Any:
    port = int(env["IDENTITY_ISSUER"].rpartition(":")[2])
    with harness.serving(harness.identity_server(env, port)) as server:
        cookie, token = harness.fetch_csrf(server.url)
        bodies = [  # wrk cycles through the accounts request by request
            urlencode({"csrf_token": token, "email": e, "password": PASSWORD, "next": "/account"})
            for e in map(account_email, range(args.accounts))
        ]
        bodies_file = harness.write_lines(args.work / "bodies.txt", bodies)
        form = "Content-Type: application/x-www-form-urlencoded"
        script = ("requests", "POST", "/login", "-", bodies_file, form, f"Cookie: {cookie}")
        target = harness.Target("identity", server, args.db_cpu)
        warm = target.warm_up(args.warmup, *script, connections=args.connections, threads=1)
        if warm is not None:
            warm.check({303}, allow_empty=True)
        harness.wait_idle(server)  # the warm-up's sign-ins land before the count
        sessions = harness.count_sessions(database_url)
        result, f = harness.measure(
            target, *script, duration=args.duration, connections=args.connections, threads=1
        )
        result.check({303})
        # Logins in flight when wrk stopped still complete: all the CPU until idle, per session.
        logins = harness.count_sessions(database_url) - sessions
        f["cpu_ms"] = f["settled_cpu_s"] * 1000 / logins
        f["db_cpu_ms"] = f["settled_db_cpu_s"] * 1000 / logins
        f["sequential"] = sign_ins_one_at_a_time(server.url, args.passkeys)
        return f


def _token(browser: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', browser.get(path).text)
    if not match:
        raise BenchError(f"no CSRF token on {path}")
    return match.group(1)


def _expect(response: httpx.Response, what: str, status: int = 303) -> httpx.Response:
    if response.status_code != status:
        raise BenchError(f"{what} answered {response.status_code}: {response.text[:300]}")
    return response


def sign_ins_one_at_a_time(url: str, count: int) -> dict[str, float]:
    """Median wall time of a password sign-in and of a passkey sign-in (its two requests;
    the authenticator's signature in between is not counted), alternating, ``count`` each."""
    phone = SoftwareAuthenticator(origin=url)
    email = account_email(0)
    with httpx.Client(base_url=url, timeout=30) as browser:  # add the passkey, signed in
        data = {"email": email, "password": PASSWORD, "next": "/account"}
        _expect(
            browser.post("/login", data={"csrf_token": _token(browser, "/login"), **data}), "login"
        )
        token = _token(browser, "/account/passkeys")
        options = _expect(
            browser.post("/account/passkeys/options", data={"csrf_token": token}), "options", 200
        )
        credential = phone.create(options.text)
        _expect(
            browser.post("/account/passkeys", data={"csrf_token": token, "credential": credential}),
            "register",
        )
    password_ms, passkey_ms = [], []
    with httpx.Client(base_url=url, timeout=30) as browser:
        token = _token(browser, "/login")
        login = {"csrf_token": token, **data}
        for _ in range(count):
            browser.cookies.delete("identity_session")
            started = time.perf_counter()
            _expect(browser.post("/login", data=login), "login")
            password_ms.append((time.perf_counter() - started) * 1000)
            browser.cookies.delete("identity_session")
            started = time.perf_counter()
            options = _expect(
                browser.post("/login/passkey/options", data={"csrf_token": token}), "options", 200
            )
            asked = time.perf_counter() - started
            answer = phone.get(options.text)
            started = time.perf_counter()
            signed = {"csrf_token": token, "credential": answer, "next": "/account"}
            _expect(browser.post("/login/passkey", data=signed), "passkey sign-in")
            passkey_ms.append((asked + time.perf_counter() - started) * 1000)
    password, passkey = harness.median(password_ms), harness.median(passkey_ms)
    return {"password_p50_ms": password, "passkey_p50_ms": passkey, "ratio": passkey / password}


def run_rounds(args: argparse.Namespace, env: dict[str, str], database_url: str) -> list[Any]:
    rounds = []
    for i in range(1, args.rounds + 1):
        row: dict[str, Any] = {"round": i}
        for phase in ("hash", "login") if i % 2 else ("login", "hash"):
            started = time.monotonic()
            if phase == "hash":
                row[phase] = harness.measure_hashing(args.duration, PASSWORD)
            else:
                row[phase] = measure_logins(args, env, database_url)
            print(f"  round {i}: {phase} done in {time.monotonic() - started:.1f}s", flush=True)
        rounds.append(row)
    return rounds


def report(args: argparse.Namespace, rounds: list[Any]) -> None:
    harness.print_rounds(rounds, TITLES)
    login, hashing = harness.medians(rounds, "login"), harness.medians(rounds, "hash")
    cpu_login = harness.cpu_with_db(login)
    print(
        f"logins/s {login['per_s']:.3f}, p50 {login['p50_ms']:.1f} ms, p99 "
        f"{login['p99_ms']:.1f} ms, server peak RSS {login['peak_mib']:.1f} MiB (medians)"
    )
    print(f"hashes/s {hashing['per_s']:.3f}, p50 {hashing['p50_ms']:.1f} ms")
    print(f"CPU per login {cpu_login:.1f} ms vs per hash {hashing['cpu_ms']:.1f} ms: "
          f"{cpu_login - hashing['cpu_ms']:+.1f} ms on top of the hash")  # fmt: skip
    ratio = harness.compare(rounds, "login", "hash", "logins/s : hashes/s", TARGET)
    harness.print_noise(rounds, TITLES)
    for row in rounds:
        row["sequential"] = row["login"].pop("sequential")
    one = harness.medians(rounds, "sequential")
    print(f"one at a time ({args.passkeys} each, medians of the rounds' medians): password "
          f"sign-in {one['password_p50_ms']:.1f} ms, passkey sign-in {one['passkey_p50_ms']:.1f} "
          f"ms (options + assertion): passkey : password {one['ratio']:.3f}")  # fmt: skip
    config = {k: v for k, v in vars(args).items() if k not in ("db_cpu", "work")}
    summary = {"login": login, "hash": hashing, "ratio": ratio, "one_at_a_time": one}
    harness.write_result(f"login-{args.database}", {"config": config, "rounds": rounds, **summary})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="wrk warm-up seconds per round")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--accounts", type=int, default=1,
        help="accounts to sign in as, in turn (more than 5 concurrent logins of one account "
        "are throttled by design: attempts are charged before the password check)",
    )  # fmt: skip
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--passkeys", type=int, default=50, help="passkey and password sign-ins one at a time"
    )
    parser.add_argument("--quick", action="store_true", help="one short round (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration, args.warmup, args.passkeys = 1, 3.0, 2.0, 15
    p = harness.argon2_defaults()
    print(f"login benchmark: {args.rounds} round(s) x {args.duration:g}s, {args.connections} "
          f"connection(s), database {args.database}; argon2id t={p['time_cost']} "
          f"m={p['memory_cost']} KiB p={p['parallelism']}", flush=True)  # fmt: skip
    with contextlib.ExitStack() as stack:
        postgres = None
        if args.database == "postgresql":
            postgres = stack.enter_context(harness.postgres_server())
        args.db_cpu = postgres.cpu_seconds if postgres else None  # SQLite works in the server
        args.work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-login-")))
        database_url = harness.new_database(postgres, args.work, "identity_bench_login")
        env = harness.identity_env(
            port=harness.free_port(), var_dir=args.work, database_url=database_url
        )
        harness.identity_cli(env, "db", "upgrade")
        harness.create_accounts(env, [account_email(i) for i in range(args.accounts)], PASSWORD)
        check_stored_hash(database_url, account_email(0))
        report(args, run_rounds(args, env, database_url))
    return 0


if __name__ == "__main__":
    harness.run(main)
