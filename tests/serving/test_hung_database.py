"""A database that hangs (stopped, not refusing) gets 503 envelopes within the time limits,
never a dropped connection, and the stack recovers by itself (docs/operations.md, "Time
limits"), leaving no Idempotency-Key claim behind; through PgBouncer too (docs/operations.md,
"Through PgBouncer")."""

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from apikeys import keys
from benchmarks.private_servers import private_pgbouncer
from tests.processes import manage_py
from tests.serving.stack import fetch, private_postgresql, serving_stack

API_DEADLINE = 6.0  # connect 3 s, health check 3 s, statement 5 s (+0.25 s)
READYZ_DEADLINE = 4.0


@pytest.fixture
def frozen_stack(redis_url):
    # A cluster of its own: this test stops it, and no other test may depend on it.
    with private_postgresql() as cluster:
        with serving_stack(DATABASE_URL=cluster.url, REDIS_URL=redis_url) as stack:
            yield cluster, stack


@pytest.fixture
def frozen_stack_through_pgbouncer(redis_url):
    # PgBouncer stays up: the service's connections to it are answered, the server is not.
    with private_postgresql() as cluster, private_pgbouncer(cluster.url) as bouncer:
        with serving_stack(
            DATABASE_URL=bouncer.url(cluster.url),
            DATABASE_TRANSACTION_POOLING="1",
            REDIS_URL=redis_url,
        ) as stack:
            yield cluster, stack


@pytest.mark.parametrize(
    "frozen",
    [
        pytest.param("frozen_stack", id="direct"),
        pytest.param("frozen_stack_through_pgbouncer", id="pgbouncer", marks=pytest.mark.pgbouncer),
    ],
)
def test_a_hung_database_gets_503_in_time_and_recovers(request, frozen):
    cluster, stack = request.getfixturevalue(frozen)

    def made_up() -> dict[str, str]:
        # Well formed, checksum right, prefix unknown: its check is a query by prefix. A new
        # prefix each time: a prefix once looked up is answered from the key cache.
        return {"Authorization": f"Bearer {keys.generate(keys.generate_prefix())}"}

    api_url = f"{stack.base_url}/api/v1/projects"
    readyz_url = f"{stack.base_url}/readyz"

    def wave() -> tuple[list, list]:
        with ThreadPoolExecutor(max_workers=10) as pool:
            api = [pool.submit(fetch, api_url, headers=made_up()) for _ in range(6)]
            ready = [pool.submit(fetch, readyz_url) for _ in range(2)]
            return [f.result() for f in api], [f.result() for f in ready]

    # Every worker thread holds a kept connection to the live database first.
    api, ready = wave()
    assert {a.status for a in api} == {401}
    assert {a.status for a in ready} == {200}

    cluster.signal_all(signal.SIGSTOP)
    try:
        frozen_waves = [wave(), wave()]  # the second on connections opened while frozen
    finally:
        cluster.signal_all(signal.SIGCONT)

    for api, ready in frozen_waves:
        assert [a.status for a in api] == [503] * len(api), [a.status for a in api]
        assert all(a.json()["error"]["code"] == "service_unavailable" for a in api)
        assert all(a.headers.get("x-request-id") for a in api)
        assert max(a.seconds for a in api) < API_DEADLINE, [a.seconds for a in api]
        assert [a.status for a in ready] == [503] * len(ready)
        assert max(a.seconds for a in ready) < READYZ_DEADLINE, [a.seconds for a in ready]

    wait_until_ready(readyz_url)
    api, ready = wave()
    assert {a.status for a in api} == {401}
    assert {a.status for a in ready} == {200}
    assert "WORKER TIMEOUT" not in stack.log()


def wait_until_ready(readyz_url: str) -> None:
    deadline = time.monotonic() + 20
    while fetch(readyz_url, timeout=5).status != 200:
        assert time.monotonic() < deadline, "the stack did not recover"
        time.sleep(0.2)


def test_a_post_cut_off_by_a_hung_database_can_be_retried_with_its_key_at_once(frozen_stack):
    cluster, stack = frozen_stack
    environment = {"DATABASE_URL": cluster.url, "DJANGO_SECRET_KEY": "tests-only-not-a-secret"}
    manage_py("createsuperuser", "--noinput", "--username", "ada", "--email", "a@example.com",
              **environment)  # fmt: skip
    key = manage_py("createapikey", "ada", **environment).splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "cut-off"}
    projects_url = f"{stack.base_url}/api/v1/projects"

    # Another transaction holds the projects table, so the POST is still at its work (its
    # Idempotency-Key taken) when the database stops answering.
    with psycopg.connect(cluster.url) as holder, psycopg.connect(cluster.url) as observer:
        holder.execute("LOCK TABLE projects_project IN SHARE MODE")
        with ThreadPoolExecutor(max_workers=1) as pool:
            cut_off = pool.submit(fetch, projects_url, headers=headers, json_body={"name": "A"})
            deadline = time.monotonic() + 10
            waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted"
            while observer.execute(waiting).fetchone()[0] == 0:
                assert time.monotonic() < deadline, "the POST never reached its work"
                time.sleep(0.05)
            cluster.signal_all(signal.SIGSTOP)
            try:
                answer = cut_off.result()
            finally:
                cluster.signal_all(signal.SIGCONT)
        holder.rollback()

    assert answer.status == 503, answer.body
    assert answer.json()["error"]["code"] == "service_unavailable"
    wait_until_ready(f"{stack.base_url}/readyz")

    retry = fetch(projects_url, headers=headers, json_body={"name": "A"})

    assert retry.status == 201, retry.body
    assert "idempotent-replayed" not in retry.headers
    replay = fetch(projects_url, headers=headers, json_body={"name": "A"})
    assert replay.headers.get("idempotent-replayed") == "true"
    listed = fetch(projects_url, headers={"Authorization": f"Bearer {key}"})
    assert listed.json()["total"] == 1
