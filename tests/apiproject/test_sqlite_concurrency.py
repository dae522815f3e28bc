"""The embedded SQLite default under the threaded development server (`make run`):
concurrent writes wait for the lock instead of answering "database is locked"."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest

from tests.processes import manage_py, serving

WRITERS = 30
CLIENTS = 8
KEYS_SCRIPT = f"""
from apikeys.services import apikey_issue
from users.models import User
staff = User.objects.create_superuser("staff", "staff@example.com", "unused-passw0rd")
for _ in range({WRITERS} + 1):
    print(apikey_issue(owner=staff).plaintext)
"""


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A threaded runserver on a fresh SQLite file, as `make run` serves, and fresh keys."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'db.sqlite3'}"
    env = {"DJANGO_DEBUG": "1", "DATABASE_URL": database_url}
    manage_py("migrate", "-v0", **env)
    printed = manage_py("shell", "-c", KEYS_SCRIPT, **env)
    keys = [line for line in printed.split() if line.startswith("ak_")]
    with serving(["manage.py", "runserver", "127.0.0.1:{port}", "--noreload"], **env) as url:
        yield url, keys


def send(url: str, key: str, body: dict | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_concurrent_writes_all_succeed(dev_server):
    base_url, (staff_key, *fresh_keys) = dev_server
    jobs = [
        (
            f"{base_url}/api/v1/users",
            staff_key,
            {
                "username": f"writer{n}",
                "email": f"writer{n}@example.com",
                "password": "x-Long-passw0rd",
            },
        )
        for n in range(WRITERS)
    ]
    # A key's first use writes its last_used_at: as many writers again.
    jobs += [(f"{base_url}/api/v1/projects", key, None) for key in fresh_keys]

    # runserver's listen backlog is short: more clients at once are reset by the socket,
    # before Django (or SQLite) sees them.
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        statuses = list(pool.map(lambda job: send(*job), jobs))

    assert statuses == [HTTPStatus.CREATED] * WRITERS + [HTTPStatus.OK] * len(fresh_keys)
