"""What `make bench` prints: the run's conditions, then per round and the medians, and what
it writes for `make capacity` (benchmarks/measurements.py)."""

import argparse
import os
import re
import subprocess
import time
from pathlib import Path

import psycopg

from benchmarks.load import Result
from benchmarks.measurements import EndpointCosts, Measurements
from benchmarks.per_request import Counts
from benchmarks.servers import ROOT, gunicorn_description
from benchmarks.setups import Setup

Conditions = dict[str, str | int | float | bool]


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


def cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def conditions(args: argparse.Namespace, scale: dict[str, int], setup: Setup) -> Conditions:
    """What the figures are worth comparing with: the setup, the code, the harness, the
    machine."""
    with psycopg.connect(args.database_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        postgresql = row[0] if row else "unknown"
    return {
        "setup": setup.description,
        "scale_out": setup.scale_out,
        "smoke": bool(args.smoke),
        "commit": git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": os.cpu_count() or 0,
        "cpu_model": cpu_model(),
        "wrk": f"-t{args.threads} -c{args.connections}",
        "rounds": args.rounds,
        "round_seconds": args.duration,
        "data": f"{scale['users']} users x {scale['projects']} projects"
        + (f", one user with {scale['big']}" if scale["big"] else ""),
        "server": gunicorn_description(args.workers) + ", DJANGO_DEBUG=0",
        "postgresql": postgresql,
        "redis": str(setup.redis_nodes()[0].info("server")["redis_version"]),
        "load_before": load_average(),
    }


def print_conditions(run: Conditions) -> None:
    print(f"setup: {run['setup']}")
    print(f"commit {run['commit']}, {run['date']}")
    print(
        f"wrk {run['wrk']}, {run['rounds']} rounds of {run['round_seconds']} s, {run['server']}, "
        f"{run['cpus']} CPUs ({run['cpu_model']}), PostgreSQL {run['postgresql']}, "
        f"Redis {run['redis']}"
    )
    print(f"load average before: {run['load_before']}", flush=True)


def print_report(
    results: dict[str, Result], counts: dict[str, Counts], memory: list[float], setup: str
) -> None:
    """The figures, each table headed by the setup they were measured in (`setup`), so that
    a table copied alone still says it."""
    print()
    print(
        f"Per round, {setup} (requests/s, p50 ms, p99 ms; ratio of requests/s to the floor's "
        "round):"
    )
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
        f"Medians of the rounds, {setup} (x floor: median requests/s over the floor's median; "
        "p99 x: median p99 over the floor's median p99):"
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
            f"{ratio:>9}{p99_ratio:>8}  {counts[name].label}"
        )
    print_costs(results, counts, setup)
    if memory:
        print(f"\nworker peak memory (VmHWM): {', '.join(f'{m:.1f} MiB' for m in memory)}")


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def print_costs(results: dict[str, Result], counts: dict[str, Counts], setup: str) -> None:
    print(
        f"\nCost per request, {setup}.\n"
        "CPU ms (service: gunicorn's processes; Redis: its main thread, a cluster's summed\n"
        "over its primaries; PostgreSQL: the whole cluster): medians of the rounds, the CPU\n"
        "over each round over the requests wrk completed in it. SQL statements, Redis round\n"
        "trips and DB held ms (the time a database connection is held: statements,\n"
        "transactions to their end): medians of single requests to the counting server."
    )
    print(
        f"{'endpoint':<28}{'service':>9}{'Redis':>9}{'PgSQL':>9}{'SQL':>6}{'Redis':>6}"
        f"{'DB held':>9}"
    )
    for name, result in results.items():
        count = counts[name]
        print(
            f"{name:<28}{_ms(result.median_if_measured('service_cpu_ms')):>9}"
            f"{_ms(result.median_if_measured('redis_cpu_ms')):>9}"
            f"{_ms(result.median_if_measured('postgres_cpu_ms')):>9}"
            f"{count.sql_statements:6g}{count.redis_round_trips:6g}{count.db_held_ms:9.3f}"
        )


def measurements_of(
    run: Conditions, results: dict[str, Result], counts: dict[str, Counts]
) -> Measurements:
    endpoints = {
        name: EndpointCosts(
            requests_per_second=result.median("requests_per_second"),
            p50_ms=result.median("p50_ms"),
            p99_ms=result.median("p99_ms"),
            service_cpu_ms=result.median_if_measured("service_cpu_ms"),
            redis_cpu_ms=result.median_if_measured("redis_cpu_ms"),
            postgres_cpu_ms=result.median_if_measured("postgres_cpu_ms"),
            sql_statements=counts[name].sql_statements,
            redis_round_trips=counts[name].redis_round_trips,
            db_held_ms=counts[name].db_held_ms,
        )
        for name, result in results.items()
    }
    return Measurements(conditions={**run, "load_after": load_average()}, endpoints=endpoints)
