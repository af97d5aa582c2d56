"""Bare argon2id hashing for ``--duration`` seconds: the baseline of sign-ins and login flows.

Run pinned to the server's core by ``harness.measure_hashing``: one hash after another with the
given parameters; prints one JSON line with the hashes completed inside the window, their
latencies, the CPU time they took and the share of the core that other processes took.

    python bench/baselines/argon2_hashes.py TIME_COST MEMORY_KIB PARALLELISM SECONDS PASSWORD
"""

import json
import os
import resource
import sys
import time

from argon2 import PasswordHasher


def core_ticks(core: int) -> tuple[int, int]:
    """(busy, total) clock ticks of ``core`` so far (see ``harness.core_times``)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{core} "):
                t = [int(x) for x in line.split()[1:9]]
                return sum(t) - t[3] - t[4], sum(t)
    raise SystemExit(f"no cpu{core} in /proc/stat")


def main() -> None:
    time_cost, memory_cost, parallelism = map(int, sys.argv[1:4])
    window, password = float(sys.argv[4]), sys.argv[5]
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    hasher.hash(password)  # warm-up, not counted
    core = min(os.sched_getaffinity(0))
    latencies, cpu_at_last = [], 0.0
    ticks_start, cpu_start, start = core_ticks(core), time.process_time(), time.perf_counter()
    while True:
        t0 = time.perf_counter()
        hasher.hash(password)
        t1 = time.perf_counter()
        if t1 > start + window:
            break
        latencies.append(t1 - t0)
        cpu_at_last = time.process_time()
    share = (time.process_time() - cpu_start) / (time.perf_counter() - start)
    ticks_end = core_ticks(core)
    busy = (ticks_end[0] - ticks_start[0]) / max(1, ticks_end[1] - ticks_start[1])
    result = {
        "hashes": len(latencies),
        "window_s": window,
        "latencies_s": latencies,
        "cpu_s": cpu_at_last - cpu_start if latencies else 0.0,
        "core_share": share,
        "others_share": max(0.0, busy - share),
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(result))


main()
