"""The embedded SQLite default under the threaded development server (`make run`):
concurrent writes wait for the lock instead of answering "database is locked", and duplicates
of a POST with one Idempotency-Key wait for the first and get its answer."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest

from tests.processes import manage_py, migrate, serving

WRITERS = 30
CLIENTS = 8
# The writers' user has no usable password: hashing one per write would cost the test seconds
# of CPU and test nothing about the lock.
KEYS_SCRIPT = f"""
from apikeys.services import apikey_issue
from users.models import User
staff = User.objects.create_superuser("staff", "staff@example.com", "unused-passw0rd")
writer = User.objects.create_user("writer", "writer@example.com")
print(apikey_issue(owner=staff).plaintext)
for _ in range({WRITERS}):
    print(apikey_issue(owner=writer).plaintext)
"""


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A threaded runserver on a fresh SQLite file, as `make run` serves, and fresh keys."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'db.sqlite3'}"
    env = {"DJANGO_DEBUG": "1", "DATABASE_URL": database_url}
    migrate(**env)
    printed = manage_py("shell", "-c", KEYS_SCRIPT, **env)
    keys = [line for line in printed.split() if line.startswith("ak_")]
    with serving(["manage.py", "runserver", "127.0.0.1:{port}", "--noreload"], **env) as url:
        yield url, keys


def send(url: str, key: str, body: dict | None = None, **headers: str) -> int:
    return exchange(url, key, body, **headers)[0]


def exchange(
    url: str, key: str, body: dict | None = None, **headers: str
) -> tuple[int, dict[str, str], dict]:
    """The status, headers and JSON body of the answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_concurrent_writes_all_succeed(dev_server):
    base_url, (_, *writer_keys) = dev_server
    # Each key's first use also writes its last_used_at: two writes a request.
    jobs = [
        (f"{base_url}/api/v1/projects", key, {"name": f"project {n}"})
        for n, key in enumerate(writer_keys)
    ]

    # runserver's listen backlog is short: more clients at once are reset by the socket,
    # before Django (or SQLite) sees them.
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        statuses = list(pool.map(lambda job: send(*job), jobs))

    assert statuses == [HTTPStatus.CREATED] * WRITERS


def test_duplicates_of_a_post_with_one_idempotency_key_wait_and_replay(dev_server):
    base_url, (staff_key, *_) = dev_server
    url = f"{base_url}/api/v1/projects"
    body = {"name": "Apollo"}

    # No advisory locks here: each duplicate's transaction begins (IMMEDIATE) once the first
    # has committed, and finds its answer.
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(
            pool.map(
                lambda _: exchange(url, staff_key, body, **{"Idempotency-Key": "sqlite"}),
                range(CLIENTS),
            )
        )

    assert [status for status, _, _ in answers] == [HTTPStatus.CREATED] * CLIENTS
    firsts = [answer for answer in answers if "Idempotent-Replayed" not in answer[1]]
    assert len(firsts) == 1
    assert all(answer[2] == firsts[0][2] for answer in answers)
    _, _, page = exchange(url, staff_key)
    assert page["total"] == 1
