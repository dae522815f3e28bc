"""The command line of `make bench` (BENCH_ARGS), and the data size it asks for."""

import argparse
from pathlib import Path

from benchmarks.measurements import LAST_RUN, LAST_SCALE_OUT_RUN

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/apiproject_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="`make bench`: the API against Django's own floor, under gunicorn, "
        "PostgreSQL and Redis."
    )
    parser.add_argument("--scale", choices=["default", "large"], default="default")
    parser.add_argument("--smoke", action="store_true", help="seconds, tiny data, no figures")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk round")
    parser.add_argument("--warmup", type=int, default=3, help="seconds per endpoint, once")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument(
        "--redis-url", help=f"the one Redis (default: {DEFAULT_REDIS_URL}); not with --scale-out"
    )
    parser.add_argument(
        "--scale-out",
        action="store_true",
        help="the servers through a Redis Cluster of 3 primaries and PgBouncer in transaction "
        "pooling mode, both private, started for the run (benchmarks/setups.py)",
    )
    parser.add_argument("--only", help="endpoint names to measure, separated by ';'")
    parser.add_argument(
        "--output",
        type=Path,
        help=f"the measurements file (default: {LAST_RUN}, which `make capacity` reads; with "
        f"--scale-out, {LAST_SCALE_OUT_RUN}, so that the single-node figures stay)",
    )
    parser.add_argument(
        "--profile",
        metavar="ENDPOINT",
        help="after the rounds, py-spy records the workers while wrk runs this endpoint, and "
        "the functions taking the most time are printed",
    )
    args = parser.parse_args(argv)
    if args.scale_out and args.redis_url:
        parser.error("--redis-url names the single node's Redis: --scale-out starts a cluster")
    args.redis_url = args.redis_url or DEFAULT_REDIS_URL
    args.output = args.output or (LAST_SCALE_OUT_RUN if args.scale_out else LAST_RUN)
    if args.smoke:
        args.rounds, args.duration, args.warmup = 1, 1, 1
        args.connections, args.threads = 2, 1
    return args


def scale_of(args: argparse.Namespace) -> dict[str, int]:
    """Users, projects per user, and the projects of the one big user (0: no paging
    endpoints). A dict, not a dataclass: its JSON marks what the database holds."""
    if args.smoke:
        return {"users": 3, "projects": 5, "big": 0}
    if args.scale == "large":
        return {"users": 10_000, "projects": 100, "big": 100_000}
    return {"users": 100, "projects": 100, "big": 0}
