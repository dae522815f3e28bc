"""The cache on a Redis Cluster (docs/operations.md, "Redis Cluster"): django-redis's cache on
redis-py's cluster client, and the few cluster-aware helpers our own Redis code needs.

django-redis has no cluster client, so this is a small one of our own, plugged in through its
documented extension points: CLIENT_CLASS (RedisClusterClient) and CONNECTION_FACTORY
(RedisClusterConnectionFactory); `get_redis_connection("default")` returns the cluster client
itself. Not a package: those that add a cluster to django-redis (django-redis-cluster,
django-cluster-redis, dj-rcc) were last released in 2015-2018, on the retired redis-py-cluster,
and django-cachex, maintained, is a cache backend of its own in place of django-redis (another
BACKEND, which django-ratelimit's checks do not know, and no `get_redis_connection`); redis-py,
which we use already, has spoken Redis Cluster itself since 4.1.

A node that cannot be reached is a cache fault like any other (apiproject.api.cache). Nothing is
retried, because a retry would wait out another socket timeout; a node that did not answer in
time rests a moment (CacheCluster), so a request waits out one timeout at most. redis-py
refreshes its slot map after every failure (from another node first), so a failover is followed
by the next command, and a node that answers again is simply used again.
"""

import socket
import threading
import time
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django_redis import get_redis_connection
from django_redis.client import DefaultClient
from django_redis.exceptions import ConnectionInterrupted
from django_redis.pool import ConnectionFactory
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import REDIS_CLUSTER_HASH_SLOTS
from redis.exceptions import (
    ClusterDownError,
    MovedError,
    RedisClusterException,
    RedisError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

CLIENT_CLASS = "apiproject.api.rediscluster.RedisClusterClient"
CONNECTION_FACTORY = "apiproject.api.rediscluster.RedisClusterConnectionFactory"
DEFAULT_PORT = 6379
# How long a node that did not answer in time is not asked again by this process: twice the
# default socket timeout, so that a node stopped for a moment fails open that long at most.
NODE_REST_SECONDS = 0.5


class ClusterUnreachable(RedisConnectionError):
    """No node answered for the slot map, or the map it gave left slots without a node. redis-py
    says so with a RedisClusterException, which is no RedisError; here it is a ConnectionError,
    a cache fault like a refused connection. (A script or command whose keys span slots still
    raises redis-py's RedisClusterException: a bug, never a fault.)"""


class NodeResting(RedisConnectionError):
    """A command for a node that did not answer in time a moment ago, refused without asking."""


class CacheCluster(RedisCluster):
    """redis-py's cluster client, whose failures to read the slot map are ClusterUnreachable,
    and which lets a node that did not answer in time rest: for NODE_REST_SECONDS this process
    does not ask it again, and its commands fail at once (NodeResting). A request then waits
    out one socket timeout at most, however many commands it has for a stopped node (its
    process's sync with the table of key changes asks every primary, and then its key's);
    counting on that node resumes NODE_REST_SECONDS at most after it answers again."""

    def __init__(self, **kwargs: Any) -> None:
        self.clock = time.monotonic
        self._resting_until: dict[str, float] = {}
        try:
            super().__init__(**kwargs)  # reads the slot map
        except RedisClusterException as exc:
            raise ClusterUnreachable(str(exc)) from exc
        # Every later refresh, the client's and its pipelines', goes through its nodes manager.
        refresh = self.nodes_manager.initialize

        def initialize(*args: Any, **options: Any) -> None:
            try:
                refresh(*args, **options)
            except RedisClusterException as exc:
                raise ClusterUnreachable(str(exc)) from exc

        self.nodes_manager.initialize = initialize

    def _execute_command(self, target_node: ClusterNode, *args: Any, **kwargs: Any) -> Any:
        # redis-py's one way to send a command to a node (its retries and redirections call
        # it again). A refused connection is not rested on: it costs nothing, and redis-py's
        # refresh of the slot map after it is what finds a replica promoted in its place.
        self.check_awake(target_node)
        try:
            return super()._execute_command(target_node, *args, **kwargs)
        except (RedisTimeoutError, ClusterDownError):
            self.rest(target_node)
            raise
        except ClusterUnreachable:
            # The refresh of the slot map that followed its failure found no node answering.
            for node in self.get_nodes():
                self.rest(node)
            raise

    def check_awake(self, node: ClusterNode) -> None:
        """NodeResting if `node` is resting."""
        left = self._resting_until.get(node.name, 0.0) - self.clock()
        if left > 0:
            raise NodeResting(f"{node.name} did not answer in time; asked again in {left:.2f} s")

    def rest(self, node: ClusterNode) -> None:
        """`node` did not answer in time (or answered that the cluster is down)."""
        self._resting_until[node.name] = self.clock() + NODE_REST_SECONDS


def cluster_client(location: str, options: dict[str, Any]) -> CacheCluster:
    """A cluster client for `location`, seed URLs comma-separated (all of one scheme and
    credentials: apiproject.settings checks them), with django-redis's connection options."""
    seeds = location.split(",")
    nodes = [
        ClusterNode(parts.hostname, parts.port or DEFAULT_PORT) for parts in map(urlsplit, seeds)
    ]
    connection = {
        name: options[name]
        for name in ("username", "password", "socket_timeout", "socket_connect_timeout")
        if options.get(name) is not None
    }
    # The first seed's URL gives the scheme (rediss: TLS) and credentials; every seed is a
    # node to read the slot map from. No retries: a node that does not answer would cost a
    # socket timeout per try, and a request must cost at most one.
    return CacheCluster(
        url=seeds[0], startup_nodes=nodes, retry=Retry(NoBackoff(), 0), **connection
    )


class RedisClusterConnectionFactory(ConnectionFactory):
    """One cluster client per process and location, shared by every thread's cache as
    django-redis shares its connection pools: one slot map, one connection pool per node."""

    _clusters: dict[str, CacheCluster] = {}
    _unreachable_until: dict[str, float] = {}
    # Making one reads the slot map and redis-py's table of commands (COMMAND, a large reply):
    # once per process, not once per thread that starts at the same moment.
    _making = threading.Lock()

    def get_connection(self, params: dict[str, Any]) -> CacheCluster:
        location = params["url"]
        cluster = self._clusters.get(location)
        if cluster is not None:
            return cluster
        with self._making:
            cluster = self._clusters.get(location)
            if cluster is not None:
                return cluster
            # A cluster that no seed answered rests like a node (CacheCluster): the threads
            # that waited meanwhile fail at once, and the next try is NODE_REST_SECONDS later.
            if time.monotonic() < self._unreachable_until.get(location, 0.0):
                raise ClusterUnreachable("no seed node answered a moment ago")
            try:
                cluster = self._clusters[location] = cluster_client(location, params)
            except ClusterUnreachable:
                self._unreachable_until[location] = time.monotonic() + NODE_REST_SECONDS
                raise
            return cluster

    def disconnect(self, connection: CacheCluster) -> None:
        connection.disconnect_connection_pools()


# What django-redis's own client turns into ConnectionInterrupted.
_CACHE_FAILURES = (RedisError, socket.timeout)


class RedisClusterClient(DefaultClient):
    """django-redis's client on one Redis Cluster, however many seeds LOCATION names
    (django-redis would read several as a primary and its replicas; the cluster client finds
    those itself). get_many reads each slot's keys with one MGET (one MGET across slots is
    refused)."""

    def __init__(self, server: Any, params: dict[str, Any], backend: Any) -> None:
        super().__init__(server, params, backend)
        self._server = [",".join(self._server)]
        self._clients = [None]

    def get_many(
        self, keys: Collection[str], version: int | None = None, client: Any = None
    ) -> dict:
        if client is None:
            client = self.get_client(write=False)
        if not keys:
            return {}
        names = {self.make_key(key, version=version): key for key in keys}
        by_slot: dict[int, list[Any]] = {}
        for name in names:
            by_slot.setdefault(client.keyslot(name), []).append(name)
        try:
            replies = pipelined(client, [("MGET", *slot_names) for slot_names in by_slot.values()])
        except _CACHE_FAILURES as exc:
            raise ConnectionInterrupted(connection=client) from exc
        found = {}
        for slot_names, values in zip(by_slot.values(), replies, strict=True):
            for name, value in zip(slot_names, values, strict=True):
                if value is not None:
                    found[names[name]] = self.decode(value)
        return found


def default_cluster() -> RedisCluster | None:
    """The default cache's cluster client when the cache is a Redis Cluster, else None."""
    if settings.CACHES["default"].get("OPTIONS", {}).get("CLIENT_CLASS") != CLIENT_CLASS:
        return None
    return get_redis_connection("default")


def pipelined(client: Any, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """The replies to `commands`, each a command whose keys share one slot, its first key
    second (`("HGETALL", key)`), sent in one round trip per node, in order on each node.

    On a cluster, one pipeline per node on that node's own connection, the nodes one after the
    other; the first that fails ends the batch with its error (a MOVED reply also refreshes the
    slot map for the next batch). A node that does not answer so costs one socket timeout,
    where redis-py's cluster pipeline would send each of its commands again on its own, one
    timeout each (seconds, measured with a stopped node). Not atomic across nodes."""
    if not isinstance(client, RedisCluster):
        pipeline = client.pipeline(transaction=False)
        for command in commands:
            pipeline.execute_command(*command)
        return pipeline.execute()
    by_node: dict[str, tuple[ClusterNode, list[int]]] = {}
    for position, command in enumerate(commands):
        node = client.get_node_from_key(command[1])
        by_node.setdefault(node.name, (node, []))[1].append(position)
    replies: list[Any] = [None] * len(commands)
    resting = isinstance(client, CacheCluster)
    for node, positions in by_node.values():
        if resting:
            client.check_awake(node)
        pipeline = client.get_redis_connection(node).pipeline(transaction=False)
        for position in positions:
            pipeline.execute_command(*commands[position])
        try:
            answered = pipeline.execute()
        except MovedError:
            client.nodes_manager.initialize()  # slots moved since the map was read
            raise
        except (RedisTimeoutError, ClusterDownError):
            if resting:
                client.rest(node)
            raise
        for position, reply in zip(positions, answered, strict=True):
            replies[position] = reply
    return replies


def run_ids(client: Any) -> frozenset[str]:
    """The run id of the Redis server, or of every primary of a cluster: a server that
    restarted, or a replica promoted in its place, has a new one."""
    if not isinstance(client, RedisCluster):
        return frozenset({client.info("server")["run_id"]})
    return frozenset(
        client.info("server", target_nodes=node)["run_id"] for node in client.get_primaries()
    )


def primary_tags(client: RedisCluster) -> list[str]:
    """A hash tag for each primary of the cluster: a key holding `{<tag>}` lives there."""
    wanted = {node.name for node in client.get_primaries()}
    tags: dict[str, str] = {}
    number = 0
    # About as many tries as there are primaries (each holds a share of the slots); bounded,
    # in case the slot map changes meanwhile.
    while len(tags) < len(wanted) and number < 4 * REDIS_CLUSTER_HASH_SLOTS:
        tag = str(number)
        name = client.get_node_from_key(f"{{{tag}}}").name
        if name in wanted:
            tags.setdefault(name, tag)
        number += 1
    return list(tags.values())
