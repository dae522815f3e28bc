"""What the service runs against in `make bench`: the setup.

By default, PostgreSQL and one Redis, directly (single node). With `--scale-out`, a Redis
Cluster of three primaries and a PgBouncer in transaction pooling mode in front of the
benchmark's database, both private (benchmarks/private_servers.py: free loopback ports, a temp
dir), started for the run and stopped at its end. The servers, the API's and the floor's alike,
then run with REDIS_CLUSTER=1 and DATABASE_TRANSACTION_POOLING=1; this process seeds the
database directly (its migrations and VACUUM gain nothing from a pooler) and keys go to the
cluster, as the servers read them.
"""

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from benchmarks.measurements import SINGLE_NODE
from benchmarks.private_servers import (
    CLUSTER_NODES,
    pgbouncer_unavailable_reason,
    private_pgbouncer,
    private_redis_cluster,
    redis_cluster_unavailable_reason,
)

# PgBouncer's server connections: the default_pool_size docs/operations.md suggests, more than
# the threads of the measured gunicorn (2 workers x 8), so no request waits in its queue and the
# figures are the cost of the hop, not of a pool too small.
PGBOUNCER_POOL_SIZE = 20
SCALE_OUT = (
    f"scale-out: a Redis Cluster of {CLUSTER_NODES} primaries, PgBouncer in transaction "
    f"pooling mode (a pool of {PGBOUNCER_POOL_SIZE}) in front of PostgreSQL"
)


@dataclass(frozen=True)
class Setup:
    description: str  # as the report and the measurements file state it
    scale_out: bool
    redis_url: str  # REDIS_URL, of the servers and of this process
    redis_node_urls: list[str]  # each Redis server: the one, or every primary of the cluster
    # The servers' settings beyond this process's (configure_environment): PgBouncer's URL.
    server_environment: dict[str, str] = field(default_factory=dict)

    def redis_nodes(self) -> list[redis.Redis]:
        """A client of each Redis server, for the benchmark's own use (emptying, CPU)."""
        return [redis.Redis.from_url(url) for url in self.redis_node_urls]


@contextmanager
def setup_of(args: argparse.Namespace) -> Iterator[Setup]:
    if not args.scale_out:
        yield Setup(SINGLE_NODE, False, args.redis_url, [args.redis_url])
        return
    if reason := pgbouncer_unavailable_reason() or redis_cluster_unavailable_reason():
        sys.exit(f"--scale-out {reason}")
    with (
        private_redis_cluster() as cluster,
        private_pgbouncer(args.database_url, pool_size=PGBOUNCER_POOL_SIZE) as bouncer,
    ):
        print(
            f"started a Redis Cluster on ports {', '.join(map(str, cluster.ports))} and "
            f"PgBouncer on port {bouncer.port}; both stop at the end",
            flush=True,
        )
        yield Setup(
            SCALE_OUT,
            True,
            cluster.url,
            cluster.node_urls,
            {
                "DATABASE_URL": bouncer.url(args.database_url),
                "DATABASE_TRANSACTION_POOLING": "1",
            },
        )
