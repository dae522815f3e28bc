"""Servers of our own on free loopback ports, each in a temp dir and gone at the end: a
PgBouncer in transaction pooling mode and a Redis Cluster of three primaries.

`make bench BENCH_ARGS=--scale-out` runs the service through them (benchmarks/setups.py), and
the tests start them too (tests/servers.py adds the rule that skips a test, or fails it in CI,
when a binary is missing). How operators run real ones: docs/operations.md, "Through PgBouncer"
and "Redis Cluster"."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster

from apiproject.api.rediscluster import NODE_REST_SECONDS
from benchmarks.servers import HOST, free_port

PGBOUNCER = Path(os.environ.get("PGBOUNCER_PATH", "/usr/sbin/pgbouncer"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
CLUSTER_NODES = 3
# How long the other nodes wait for a stopped one before they mark it failed (and, with no
# replica to promote, the whole cluster down): longer than any test stops one.
CLUSTER_NODE_TIMEOUT_MS = 30_000
CLUSTER_START_TIMEOUT = 30.0


def pgbouncer_unavailable_reason() -> str | None:
    if not PGBOUNCER.exists():
        return f"needs {PGBOUNCER} (apt-get install -y pgbouncer)"
    return None


def redis_cluster_unavailable_reason() -> str | None:
    missing = [tool for tool in (REDIS_SERVER, REDIS_CLI) if not Path(tool).exists()]
    if missing:
        return f"needs {' and '.join(missing)} (apt-get install -y redis-server)"
    return None


@dataclass
class PrivatePgBouncer:
    """A PgBouncer of our own in transaction pooling mode, in front of one PostgreSQL server."""

    directory: Path
    port: int
    pool_size: int
    process: subprocess.Popen

    def url(self, database_url: str) -> str:
        """`database_url` (a postgres:// URL of the server behind it) through this PgBouncer."""
        parts = urlsplit(database_url)
        credentials = parts.netloc.rpartition("@")[0]
        return urlunsplit(parts._replace(netloc=f"{credentials}@{HOST}:{self.port}"))

    def log(self) -> str:
        log = self.directory / "pgbouncer.log"
        return log.read_text(errors="replace") if log.exists() else "(no log)"


@contextmanager
def private_pgbouncer(database_url: str, *, pool_size: int = 8) -> Iterator[PrivatePgBouncer]:
    """PgBouncer on a free loopback port, pooling transactions for every database of the
    server `database_url` names, as its user; config, auth file and log in a temp dir.
    Clients log in without a password (loopback only); PgBouncer logs in to the server with
    the URL's password, if any."""
    server = urlsplit(database_url)
    directory = Path(tempfile.mkdtemp(prefix="apiproject-pgbouncer-"))
    port = free_port()
    credentials = f'"{unquote(server.username or "")}" "{unquote(server.password or "")}"'
    (directory / "userlist.txt").write_text(credentials + "\n")
    (directory / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.hostname} port={server.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = {HOST}\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {directory / 'userlist.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 200\n"
        f"logfile = {directory / 'pgbouncer.log'}\n"
    )
    # PgBouncer refuses to run as root.
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        shutil.chown(directory, user)
    process = subprocess.Popen(
        [str(PGBOUNCER), str(directory / "pgbouncer.ini")],
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bouncer = PrivatePgBouncer(directory, port, pool_size, process)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PgBouncer did not start:\n{bouncer.log()}") from None
                time.sleep(0.05)  # starting up, bounded by the deadline
        yield bouncer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class PrivateRedisCluster:
    """A Redis Cluster of our own: CLUSTER_NODES primaries without replicas, each a
    redis-server on free loopback ports (its own and its cluster bus's) in `directory`; a test
    may stop a node (SIGSTOP), and must resume it."""

    directory: Path
    ports: list[int]
    processes: dict[int, subprocess.Popen] = field(default_factory=dict)

    @property
    def node_urls(self) -> list[str]:
        """A URL for each node, every one a primary."""
        return [f"redis://{HOST}:{port}/0" for port in self.ports]

    @property
    def url(self) -> str:
        """REDIS_URL for the service: every node, as seeds."""
        return ",".join(self.node_urls)

    def client(self) -> RedisCluster:
        """A cluster client of our own, patient (not the service's)."""
        return RedisCluster(host=HOST, port=self.ports[0], socket_timeout=5)

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host=HOST, port=port, socket_timeout=5)

    def port_of(self, key: str) -> int:
        """The port of the node that holds `key`'s slot."""
        return self.client().get_node_from_key(key).port

    def start(self) -> None:
        for port in self.ports:
            bus_port = free_port()
            # Snapshots never; nodes.conf, logs in the directory.
            self.processes[port] = subprocess.Popen(
                [REDIS_SERVER, "--bind", HOST, "--port", str(port), "--cluster-enabled", "yes",
                 "--cluster-port", str(bus_port), "--cluster-config-file", f"nodes-{port}.conf",
                 "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS), "--save", "",
                 "--appendonly", "no", "--dir", str(self.directory),
                 "--logfile", f"redis-{port}.log"],
            )  # fmt: skip
        for port in self.ports:
            self._wait(lambda port=port: self.node(port).ping())
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *(f"{HOST}:{port}" for port in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=CLUSTER_START_TIMEOUT,
        )  # fmt: skip
        self.wait_until_ok()

    def wait_until_ok(self) -> None:
        """Until every node says cluster_state:ok (and so knows every slot's node)."""
        self._wait(lambda: all(self.node(port).cluster("info")["cluster_state"] == "ok"
                               for port in self.ports))  # fmt: skip

    @contextmanager
    def stopped(self, port: int) -> Iterator[None]:
        """The node on `port` stopped (SIGSTOP: its kernel still accepts connections, nothing
        answers) meanwhile; then resumed, the cluster whole again, and as long past as the
        service's clients let a node that did not answer rest (docs/operations.md, "Redis
        Cluster": counting resumes within that bound)."""
        os.kill(self.processes[port].pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.processes[port].pid, signal.SIGCONT)
        resumed = time.monotonic()
        self.wait_until_ok()
        time.sleep(max(0.0, NODE_REST_SECONDS - (time.monotonic() - resumed)))

    def close(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGCONT)
            process.kill()
        for process in self.processes.values():
            process.wait()

    @staticmethod
    def _wait(ready: Callable[[], object]) -> None:
        deadline = time.monotonic() + CLUSTER_START_TIMEOUT
        while True:
            try:
                if ready():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the private Redis Cluster did not come up")
            time.sleep(0.1)  # starting up, bounded by the deadline


@contextmanager
def private_redis_cluster() -> Iterator[PrivateRedisCluster]:
    cluster = PrivateRedisCluster(
        Path(tempfile.mkdtemp(prefix="apiproject-cluster-")),
        [free_port() for _ in range(CLUSTER_NODES)],
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
        shutil.rmtree(cluster.directory, ignore_errors=True)
