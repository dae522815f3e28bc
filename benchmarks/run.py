"""`make bench`: the API against Django's own floor, under gunicorn, PostgreSQL and Redis.

    python -m benchmarks.run                  # 100 users x 100 projects, 5 rounds of 10 s
    python -m benchmarks.run --scale large    # 1,000,000 projects + one user with 100,000
    python -m benchmarks.run --smoke          # seconds, tiny data, figures not judged
    python -m benchmarks.run --scale-out      # through a Redis Cluster and PgBouncer

It seeds a database of its own (`apiproject_bench` by default, never a test database) with
`INSERT ... SELECT generate_series`, starts the service under gunicorn (2 workers,
DJANGO_DEBUG=0, the repository's gunicorn.conf.py when there is one) with the benchmark's
settings (`benchmarks.settings`: the project's, plus the floor views), and measures every
endpoint with wrk in interleaved rounds: round 1 of every endpoint, then round 2 of every
endpoint, and so on, so that drift in the machine's load hits them all alike. The floor and
the API get the same harness, connections and rounds.

Each round also reads the CPU time of gunicorn's processes, of Redis's main thread and of
PostgreSQL's processes before and after it, for the CPU each spends per request.

Then a second server, whose settings add a counting middleware, answers some requests of
each endpoint to report SQL statements, Redis round trips and the time a database connection
is held, per request. What each endpoint costs is written to benchmarks/last-run.json (or
`--output`), from which `make capacity` (benchmarks/capacity.py) derives what a given rate
needs.

With `--scale-out` (`make bench BENCH_ARGS="--scale-out"`), the run starts a Redis Cluster of
its own (three `redis-server --cluster-enabled yes` on free loopback ports, joined by
`redis-cli --cluster create`, in a temp dir) and a PgBouncer of its own in transaction pooling
mode in front of the benchmark's database, and both gunicorns (the measured one, which serves
the floor views and the API alike, and the counting one) run through them (REDIS_CLUSTER=1,
DATABASE_TRANSACTION_POOLING=1); the seeding goes to PostgreSQL directly. Both stop at the
end. Redis's CPU is then the sum over the primaries. The report and the measurements file
state the setup (single node or scale-out), and a scale-out run writes
benchmarks/last-run-scale-out.json, leaving last-run.json, which `make capacity` reads, to the
single-node figures. The figure to set beside a single-node run's is the ratio to the floor:
the floor runs through the same setup.

Figures are only worth comparing on an otherwise idle machine: the load average is printed
before and after.

This module is the order of the steps; each step is a module of its own: `cli` (arguments),
`setups` (single node or scale-out, the latter on `private_servers`: the Redis Cluster and
PgBouncer, which the tests start too), `seed` (data and keys), `endpoints` (what is
measured), `servers` (gunicorn), `load` (wrk), `cpu` (CPU per request), `profiling` (py-spy),
`per_request` (statements, round trips and the database hold), `report` (and `measurements`,
the file it writes).
"""

import argparse
import sys

import django
from django.db import connection

from benchmarks.cli import parse_args, scale_of
from benchmarks.cpu import CpuMeters, local_postmaster_pid, measured_round
from benchmarks.endpoints import endpoints, selected
from benchmarks.load import Result, Wrk, ensure_wrk
from benchmarks.measurements import LAST_RUN
from benchmarks.per_request import count_per_request
from benchmarks.profiling import profile
from benchmarks.report import (
    conditions,
    load_average,
    measurements_of,
    print_conditions,
    print_report,
)
from benchmarks.seed import ensure_database, flush_redis, issue_keys, seed
from benchmarks.servers import configure_environment, server, worker_peak_memory_mib
from benchmarks.setups import Setup, setup_of


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with setup_of(args) as setup:
        measure(args, setup)


def measure(args: argparse.Namespace, setup: Setup) -> None:
    wrk = Wrk(ensure_wrk(), args.threads, args.connections)
    configure_environment(args.database_url, setup.redis_url, redis_cluster=setup.scale_out)
    ensure_database(args.database_url)
    django.setup()
    scale = scale_of(args)
    seed(scale, args.database_url)
    flush_redis(setup.redis_nodes())
    listed = selected(endpoints(scale, issue_keys()), args.only)
    connection.close()  # the servers have the database to themselves

    run = conditions(args, scale, setup)
    print_conditions(run)
    postmaster = local_postmaster_pid(args.database_url)
    if postmaster is None:
        print("PostgreSQL does not run on this machine: its CPU per request is not measured")
    results = {endpoint.name: Result(endpoint) for endpoint in listed}
    with server(args.workers, **setup.server_environment) as (base_url, master_pid):
        meters = CpuMeters(master_pid, setup.redis_nodes(), postmaster)
        for endpoint in listed:
            wrk.run(base_url, endpoint, args.warmup)
        for index in range(args.rounds):
            for endpoint in listed:
                results[endpoint.name].rounds.append(
                    measured_round(wrk, meters, base_url, endpoint, args.duration)
                )
            print(f"round {index + 1} of {args.rounds} done, load {load_average()}", flush=True)
        memory = worker_peak_memory_mib(master_pid)
        if args.profile:
            profile(wrk, base_url, master_pid, results[args.profile].endpoint, args.duration)
    print(f"load average after: {load_average()}")
    with server(1, BENCH_COUNT="1", **setup.server_environment) as (base_url, _pid):
        counts = {endpoint.name: count_per_request(base_url, endpoint) for endpoint in listed}
    print_report(results, counts, memory, setup.description)
    measurements_of(run, results, counts).write(args.output)
    reader = (
        "make capacity"
        if args.output == LAST_RUN
        else (f"make capacity CAPACITY_ARGS='--measurements {args.output}'")
    )
    print(f"\nmeasurements written to {args.output} (`{reader}` reads them)")
    failed = [name for name, result in results.items() if any(r.errors for r in result.rounds)]
    if failed:
        sys.exit(f"answers other than 2xx (or socket errors) from: {', '.join(failed)}")


if __name__ == "__main__":
    main()
