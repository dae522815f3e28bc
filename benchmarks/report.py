"""What `make bench` prints: the run's conditions, then per round and the medians."""

import argparse
import os
import subprocess
import time

from benchmarks.load import Result
from benchmarks.servers import GUNICORN_CONF, ROOT


def git_commit() -> str:
    result = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def print_conditions(args: argparse.Namespace) -> None:
    """What the figures are worth comparing with: the code, the harness, the machine's load."""
    print(f"commit {git_commit()}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(
        f"wrk -t{args.threads} -c{args.connections}, {args.rounds} rounds of {args.duration} s, "
        f"gunicorn {args.workers} sync workers, "
        f"{'gunicorn.conf.py' if GUNICORN_CONF.exists() else 'no gunicorn.conf.py'}"
        f", DJANGO_DEBUG=0, {os.cpu_count()} CPUs"
    )
    print(f"load average before: {load_average()}", flush=True)


def print_report(results: dict[str, Result], counts: dict[str, str], memory: list[float]) -> None:
    print()
    print("Per round (requests/s, p50 ms, p99 ms; ratio of requests/s to the floor's round):")
    for result in results.values():
        print(f"  {result.endpoint.name}")
        floor = results.get(result.endpoint.floor or "")
        for index, r in enumerate(result.rounds):
            ratio = ""
            if floor is not None:
                ratio = f"  {r.requests_per_second / floor.rounds[index].requests_per_second:.2f}x"
            errors = f"  NON-2XX OR SOCKET ERRORS: {r.errors}" if r.errors else ""
            print(
                f"    round {index + 1}: {r.requests_per_second:9.1f} req/s"
                f"  p50 {r.p50_ms:7.2f}  p99 {r.p99_ms:7.2f}{ratio}{errors}"
            )
    print()
    header = (
        f"{'endpoint':<28}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x floor':>9}{'p99 x':>8}"
        "  per request"
    )
    print(
        "Medians of the rounds (x floor: median requests/s over the floor's median; p99 x: "
        "median p99 over the floor's median p99):"
    )
    print(header)
    for name, result in results.items():
        floor = results.get(result.endpoint.floor or "")
        ratio = p99_ratio = ""
        if floor is not None:
            rate = result.median("requests_per_second") / floor.median("requests_per_second")
            ratio = f"{rate:.2f}"
            p99_ratio = f"{result.median('p99_ms') / floor.median('p99_ms'):.2f}"
        print(
            f"{name:<28}{result.median('requests_per_second'):9.1f}"
            f"{result.median('p50_ms'):9.2f}{result.median('p99_ms'):9.2f}"
            f"{ratio:>9}{p99_ratio:>8}  {counts.get(name, '')}"
        )
    if memory:
        print(f"\nworker peak memory (VmHWM): {', '.join(f'{m:.1f} MiB' for m in memory)}")
