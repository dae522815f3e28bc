"""The cache on a Redis Cluster (docs/operations.md, "Redis Cluster"): django-redis on redis-py's
cluster client (apiproject.api.rediscluster), in this process, against the tests' private
cluster of three primaries. A node that cannot be reached is a cache fault that costs one socket
timeout, whatever the batch, and the same client works again once the node answers; a cluster
that cannot be reached at all is a cache fault too; a script whose keys span slots is a bug.

What the service does on it (keys, limits, usage, login limits through two gunicorn servers) is
tests/apikeys/test_redis_cluster.py's."""

import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
from django.core.cache import cache
from django_redis import get_redis_connection
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from apiproject.api.cache import CACHE_ERRORS
from apiproject.api.rediscluster import ClusterUnreachable, NodeResting, pipelined, run_ids
from tests.kit import REFUSING_REDIS_URL, redis_cache

pytestmark = pytest.mark.rediscluster

SOCKET_TIMEOUT = 0.25  # production's, which redis_cache() sets
BATCH = 6


@pytest.fixture
def cluster(settings, redis_cluster):
    """The cache is the private cluster, as REDIS_CLUSTER=1 with its nodes as seeds makes it."""
    settings.REDIS_CLUSTER = True
    settings.CACHES = redis_cache(redis_cluster.url)
    cache.clear()
    return redis_cluster


def names_on(cluster, port: int, count: int, stem: str = "cluster-test") -> list[str]:
    """`count` key names whose hash tags put them on the node of `port`, one slot each."""
    names: list[str] = []
    number = 0
    while len(names) < count:
        name = f"{stem}:{{{number}}}"
        if cluster.port_of(name) == port:
            names.append(name)
        number += 1
    return names


def elapsed(operation) -> tuple[float, Exception | None]:
    started = time.monotonic()
    try:
        operation()
    except Exception as exc:  # what it raised is the test's to check
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


def set_calls(cluster) -> dict[int, int]:
    """How many SETs each node has served."""
    return {
        port: cluster.node(port).info("commandstats").get("cmdstat_set", {}).get("calls", 0)
        for port in cluster.ports
    }


# --- the client ---------------------------------------------------------------------------------


def test_get_redis_connection_is_redis_pys_cluster_client(cluster):
    assert isinstance(get_redis_connection("default"), RedisCluster)


def test_every_thread_shares_one_cluster_client(cluster):
    with ThreadPoolExecutor(max_workers=4) as pool:
        clients = set(pool.map(lambda _: id(get_redis_connection("default")), range(8)))

    assert clients == {id(get_redis_connection("default"))}


def test_get_many_reads_keys_of_every_node(cluster):
    names = [name for port in cluster.ports for name in names_on(cluster, port, 2)]
    cache.set_many({name: index for index, name in enumerate(names)})

    assert cache.get_many([*names, "cluster-test:absent"]) == {
        name: index for index, name in enumerate(names)
    }


def test_a_batch_across_nodes_answers_in_order(cluster):
    names = [name for port in cluster.ports for name in names_on(cluster, port, 2)]
    client = get_redis_connection("default")

    replies = pipelined(client, [("INCRBY", name, index) for index, name in enumerate(names)])

    assert replies == list(range(len(names)))
    assert pipelined(client, [("GET", name) for name in names]) == [
        str(index).encode() for index in range(len(names))
    ]


def test_the_run_ids_are_every_primarys(cluster):
    expected = {cluster.node(port).info("server")["run_id"] for port in cluster.ports}

    assert run_ids(get_redis_connection("default")) == expected


def test_a_script_whose_keys_span_slots_is_a_bug_not_a_cache_fault(cluster):
    first = names_on(cluster, cluster.ports[0], 1)[0]
    second = names_on(cluster, cluster.ports[1], 1)[0]
    script = get_redis_connection("default").register_script("return redis.call('GET', KEYS[2])")

    with pytest.raises(RedisClusterException) as raised:
        script(keys=[first, second])

    assert not isinstance(raised.value, CACHE_ERRORS)


# --- a node that cannot be reached --------------------------------------------------------------


def test_a_stopped_node_costs_one_command_one_socket_timeout_and_no_more(cluster):
    port = cluster.ports[1]
    name = names_on(cluster, port, 1)[0]
    cache.add(name, 0)  # a live connection to that node in the pool: the worst case

    with cluster.stopped(port):
        took, error = elapsed(lambda: cache.incr(name))

    assert isinstance(error, CACHE_ERRORS)
    assert SOCKET_TIMEOUT <= took < 2 * SOCKET_TIMEOUT


def test_a_node_that_did_not_answer_rests_its_next_commands_fail_at_once(cluster):
    port = cluster.ports[1]
    first, second = names_on(cluster, port, 2)
    cache.add(first, 0)

    with cluster.stopped(port):
        elapsed(lambda: cache.incr(first))
        took, error = elapsed(lambda: cache.incr(second))
        batch_took, batch_error = elapsed(
            lambda: pipelined(get_redis_connection("default"), [("GET", first)])
        )

    assert isinstance(error, CACHE_ERRORS)
    assert isinstance(batch_error, NodeResting)
    assert took < SOCKET_TIMEOUT / 5 and batch_took < SOCKET_TIMEOUT / 5


def test_a_stopped_node_costs_a_batch_one_socket_timeout_not_one_per_command(cluster):
    port = cluster.ports[2]
    names = names_on(cluster, port, BATCH)
    client = get_redis_connection("default")
    pipelined(client, [("SET", name, 1) for name in names])  # live connections, as above

    with cluster.stopped(port):
        took, error = elapsed(lambda: pipelined(client, [("GET", name) for name in names]))

    assert isinstance(error, CACHE_ERRORS)
    assert SOCKET_TIMEOUT <= took < 2 * SOCKET_TIMEOUT


def test_the_other_nodes_answer_while_one_is_stopped(cluster):
    stopped, working = cluster.ports[0], cluster.ports[1]
    name = names_on(cluster, working, 1)[0]

    with cluster.stopped(stopped):
        cache.add(name, 0)
        counts = [cache.incr(name) for _ in range(3)]

    assert counts == [1, 2, 3]


def test_the_same_client_counts_again_once_the_node_answers_and_its_rest_is_over(cluster):
    port = cluster.ports[0]
    name = names_on(cluster, port, 1)[0]
    client = get_redis_connection("default")
    with cluster.stopped(port):  # resumed NODE_REST_SECONDS ago once it returns
        assert isinstance(elapsed(lambda: cache.add(name, 0))[1], CACHE_ERRORS)

    cache.add(name, 0)

    assert [cache.incr(name) for _ in range(3)] == [1, 2, 3]
    assert get_redis_connection("default") is client


def test_a_cluster_that_cannot_be_reached_is_a_cache_fault(settings, redis_cluster):
    settings.REDIS_CLUSTER = True
    settings.CACHES = redis_cache(REFUSING_REDIS_URL)

    with pytest.raises(ClusterUnreachable) as raised:
        get_redis_connection("default")

    assert isinstance(raised.value, CACHE_ERRORS)


def test_a_cluster_whose_seed_never_answers_costs_one_socket_timeout_then_rests(
    settings, redis_cluster, silent_redis
):
    settings.REDIS_CLUSTER = True
    settings.CACHES = redis_cache(settings.CACHES["default"]["LOCATION"])  # the silent one

    first, first_error = elapsed(lambda: get_redis_connection("default"))
    again, again_error = elapsed(lambda: get_redis_connection("default"))

    assert isinstance(first_error, ClusterUnreachable)
    assert isinstance(again_error, ClusterUnreachable)
    assert SOCKET_TIMEOUT <= first < 2 * SOCKET_TIMEOUT
    assert again < SOCKET_TIMEOUT / 5


# --- /readyz ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_writes_and_reads_on_every_primary(anonymous_client, cluster):
    before = set_calls(cluster)

    response = anonymous_client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    after = set_calls(cluster)
    assert all(after[port] == before[port] + 1 for port in cluster.ports), (before, after)


@pytest.mark.django_db
def test_readyz_is_503_while_a_primary_is_stopped_and_200_once_it_answers(
    anonymous_client, cluster
):
    anonymous_client.get("/readyz")  # live connections to every node

    with cluster.stopped(cluster.ports[2]):
        started = time.monotonic()
        stopped = anonymous_client.get("/readyz")
        took = time.monotonic() - started

    assert stopped.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert took < 2 * SOCKET_TIMEOUT
    assert anonymous_client.get("/readyz").status_code == HTTPStatus.OK
