"""CPU time the service, Redis and PostgreSQL spend on a measured round, read before and after
it and divided by the requests wrk completed in it.

- The service: gunicorn's processes (the master and its workers, every thread), from
  /proc/<pid>/stat's user and system time.
- Redis: its main thread, from `INFO cpu` (the server's own getrusage, to the microsecond);
  on a Redis Cluster (`--scale-out`), the sum over its primaries. The main thread is what
  runs every command: the core a shard cannot share. It needs no pid, so it is right for a
  Redis in a container or on another host too.
- PostgreSQL: every process of the cluster, which are the postmaster's children (backends,
  WAL writer, checkpointer...), from /proc; only when the cluster runs on this machine.

Redis and PostgreSQL serve whoever else uses them: the figures are only the benchmark's on an
otherwise idle machine, as the benchmark's other figures are.
"""

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from benchmarks.endpoints import Endpoint
from benchmarks.load import Round, Wrk

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuReading:
    """Seconds of CPU spent so far; None: not measurable here."""

    service: float
    redis: float
    postgres: float | None


@dataclass(frozen=True)
class CpuPerRequest:
    """Milliseconds of CPU per request over a round; None: not measured."""

    service: float | None
    redis: float | None
    postgres: float | None


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat from its third field (state) on: the command name before it, in
    parentheses, may hold spaces."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _ticks(fields: list[str]) -> int:
    # utime, stime, cutime, cstime (fields 14 to 17): cutime and cstime are the children it
    # waited for, so a process that ended during the round still counts in its parent's.
    return sum(int(value) for value in fields[11:15])


def process_tree_cpu_seconds(pid: int) -> float:
    """User and system CPU of `pid`, of its live children and of those that ended."""
    ticks = 0
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            ticks += _ticks(_stat_fields(int(child)))
        except OSError:
            continue  # it ended: its time is in the parent's cutime, read last
    return (ticks + _ticks(_stat_fields(pid))) / CLOCK_TICKS


def redis_cpu_seconds(client: redis.Redis) -> float:
    info = client.info("cpu")
    if "used_cpu_user_main_thread" in info:  # Redis 6.2 and later
        return info["used_cpu_user_main_thread"] + info["used_cpu_sys_main_thread"]
    return info["used_cpu_user"] + info["used_cpu_sys"]


def local_postmaster_pid(database_url: str) -> int | None:
    """The postmaster of the cluster `database_url` reaches, if it runs on this machine; else
    None. A pid from the server is only this machine's if that process is our connection's
    backend: its title names our client port (its address as the server sees it)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT pg_backend_pid(), inet_client_port()").fetchone()
        if row is None:
            return None
        backend, port = row
        try:
            title = Path(f"/proc/{backend}/cmdline").read_bytes().decode(errors="replace")
            postmaster = int(_stat_fields(backend)[1])
            name = Path(f"/proc/{postmaster}/comm").read_text().strip()
        except (OSError, ValueError):
            return None
    client = "[local]" if port is None else f"({port})"
    if client not in title or name not in ("postgres", "postmaster"):
        return None
    return postmaster


class CpuMeters:
    """Reads the three CPU times (`per_request` divides two readings' difference)."""

    def __init__(
        self, service_pid: int, redis_nodes: list[redis.Redis], postmaster_pid: int | None
    ) -> None:
        self.service_pid = service_pid
        self.redis_nodes = redis_nodes  # one, or every primary of a cluster
        self.postmaster_pid = postmaster_pid

    def read(self) -> CpuReading:
        postgres = None
        if self.postmaster_pid is not None:
            postgres = process_tree_cpu_seconds(self.postmaster_pid)
        return CpuReading(
            service=process_tree_cpu_seconds(self.service_pid),
            redis=sum(redis_cpu_seconds(node) for node in self.redis_nodes),
            postgres=postgres,
        )


def per_request(before: CpuReading, after: CpuReading, requests: int) -> CpuPerRequest:
    def share(start: float | None, end: float | None) -> float | None:
        if start is None or end is None or requests == 0:
            return None
        return (end - start) * 1000 / requests

    return CpuPerRequest(
        service=share(before.service, after.service),
        redis=share(before.redis, after.redis),
        postgres=share(before.postgres, after.postgres),
    )


def measured_round(
    wrk: Wrk, meters: CpuMeters, base_url: str, endpoint: Endpoint, seconds: int
) -> Round:
    """One wrk round, with the CPU each process spent on it per request."""
    before = meters.read()
    measured = wrk.run(base_url, endpoint, seconds)
    cpu = per_request(before, meters.read(), measured.requests)
    return dataclasses.replace(
        measured, service_cpu_ms=cpu.service, redis_cpu_ms=cpu.redis, postgres_cpu_ms=cpu.postgres
    )
