"""`make bench`: the API against Django's own floor, under gunicorn, PostgreSQL and Redis.

    python -m benchmarks.run                  # 100 users x 100 projects, 5 rounds of 10 s
    python -m benchmarks.run --scale large    # 1,000,000 projects + one user with 100,000
    python -m benchmarks.run --smoke          # seconds, tiny data, figures not judged

It seeds a database of its own (`apiproject_bench` by default, never a test database) with
`INSERT ... SELECT generate_series`, starts the service under gunicorn (2 sync workers,
DJANGO_DEBUG=0, the repository's gunicorn.conf.py when there is one) with the benchmark's
settings (`benchmarks.settings`: the project's, plus the floor views), and measures every
endpoint with wrk in interleaved rounds: round 1 of every endpoint, then round 2 of every
endpoint, and so on, so that drift in the machine's load hits them all alike. The floor and
the API get the same harness, connections and rounds.

Then a second server, whose settings add a counting middleware, answers a few requests of
each endpoint to report SQL queries and Redis round trips per request.

Figures are only worth comparing on an otherwise idle machine: the load average is printed
before and after.

This module is the order of the steps; each step is a module of its own: `cli` (arguments),
`seed` (data and keys), `endpoints` (what is measured), `servers` (gunicorn), `load` (wrk),
`profiling` (py-spy), `per_request` (queries and round trips), `report`.
"""

import sys

import django
from django.db import connection

from benchmarks.cli import parse_args, scale_of
from benchmarks.endpoints import endpoints, selected
from benchmarks.load import Result, Wrk, ensure_wrk
from benchmarks.per_request import count_per_request
from benchmarks.profiling import profile
from benchmarks.report import load_average, print_conditions, print_report
from benchmarks.seed import ensure_database, flush_redis, issue_keys, seed
from benchmarks.servers import configure_environment, server, worker_peak_memory_mib


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    wrk = Wrk(ensure_wrk(), args.threads, args.connections)
    configure_environment(args.database_url, args.redis_url)
    ensure_database(args.database_url)
    django.setup()
    scale = scale_of(args)
    seed(scale, args.database_url)
    flush_redis(args.redis_url)
    listed = selected(endpoints(scale, issue_keys()), args.only)
    connection.close()  # the servers have the database to themselves

    print_conditions(args)
    results = {endpoint.name: Result(endpoint) for endpoint in listed}
    with server(args.workers) as (base_url, master_pid):
        for endpoint in listed:
            wrk.run(base_url, endpoint, args.warmup)
        for index in range(args.rounds):
            for endpoint in listed:
                results[endpoint.name].rounds.append(wrk.run(base_url, endpoint, args.duration))
            print(f"round {index + 1} of {args.rounds} done, load {load_average()}", flush=True)
        memory = worker_peak_memory_mib(master_pid)
        if args.profile:
            profile(wrk, base_url, master_pid, results[args.profile].endpoint, args.duration)
    print(f"load average after: {load_average()}")
    with server(1, BENCH_COUNT="1") as (base_url, _pid):
        counts = {endpoint.name: count_per_request(base_url, endpoint) for endpoint in listed}
    print_report(results, counts, memory)
    failed = [name for name, result in results.items() if any(r.errors for r in result.rounds)]
    if failed:
        sys.exit(f"answers other than 2xx (or socket errors) from: {', '.join(failed)}")


if __name__ == "__main__":
    main()
