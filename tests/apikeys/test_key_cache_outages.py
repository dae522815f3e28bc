"""A key stopped while Redis is stopped (SIGSTOP) stays stopped on every server: refused while Redis
is stopped (the servers verify against the database) and after it resumes, whatever Redis still
holds (docs/operations.md, "The key cache, through faults"). The same for a change made by a command
without REDIS_URL, and for a Redis restarted from a snapshot that holds the key's record.

Two gunicorn servers of two workers each share a fresh database and a private Redis of this
module's own; every door changes a key of its own: the API, the admin and the command, in
processes of their own as in production.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus

import pytest

from apikeys.keycache.store import record_key
from tests.processes import Server, python_output
from tests.servers import (
    PrivateRedis,
    Reply,
    get,
    gunicorn_servers,
    issue_server_key,
    migrated_database_for_servers,
    private_redis,
    require_redis,
    send,
)

pytestmark = pytest.mark.redis

PROJECTS_PATH = "/api/v1/projects"
SUPERUSER = "alice"  # the operator's first account; its keys are the ones stopped
USER = "bob"  # an account that staff deactivate
# The bound under test: refused within 2 s of Redis answering again; polled a while longer.
BOUND_SECONDS = 2.0
POLL_SECONDS = 3.0


@dataclass
class Door:
    """One way to stop a key, and what the servers answered for that key."""

    name: str
    stop: Callable[["Stage", str], None]
    key: str = ""
    while_stopped: list[Reply] = field(default_factory=list)
    after_resume: list[tuple[float, Reply]] = field(default_factory=list)  # (seconds after, reply)


@dataclass
class Stage:
    database_url: str
    redis: PrivateRedis
    servers: list[Server]
    actor_key: str  # another key of SUPERUSER's, for the API doors

    def environment(self, **overrides: str) -> dict[str, str]:
        return {
            "DJANGO_SECRET_KEY": "x",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "DJANGO_ALLOWED_HOSTS": "testserver",
            **overrides,
        }

    def in_a_process(self, script: str, **overrides: str) -> list[str]:
        """`script` run by a fresh process of ours, Django set up, configured as a server."""
        environment = self.environment(**overrides)
        return python_output(f"import django\ndjango.setup()\n{script}", **environment)


def prefix_of(key: str) -> str:
    return key.split("_")[1]


# --- the doors ------------------------------------------------------------------------------------


def revoke_through_the_api(stage: Stage, key: str) -> None:
    reply = send(stage.servers[0], "DELETE", f"/api/v1/keys/{prefix_of(key)}", stage.actor_key)
    assert reply.status == HTTPStatus.NO_CONTENT, reply.body


def roll_through_the_api_without_grace(stage: Stage, key: str) -> None:
    path = f"/api/v1/keys/{prefix_of(key)}/roll"
    reply = send(stage.servers[1], "POST", path, stage.actor_key, {"grace_seconds": 0})
    assert reply.status == HTTPStatus.CREATED, reply.body


ADMIN_CLIENT = f"""
from django.test import Client
from users.models import User
client = Client()
client.force_login(User.objects.get(username={SUPERUSER!r}))
"""


def revoke_in_admin(stage: Stage, key: str) -> None:
    printed = stage.in_a_process(
        ADMIN_CLIENT
        + f"""
from apikeys.models import APIKey
api_key = APIKey.objects.get(prefix={prefix_of(key)!r})
print(client.post(f"/admin/apikeys/apikey/{{api_key.pk}}/revoke/").status_code)
"""
    )
    assert printed[-1] == "302", printed


def deactivate_the_user_in_admin(stage: Stage, key: str) -> None:
    printed = stage.in_a_process(
        ADMIN_CLIENT
        + f"""
from tests.users.admin_pages import change_form, change_url, keys_inline
user = User.objects.get(username={USER!r})
data = change_form(user, **keys_inline(user))
del data["is_active"]
print(client.post(change_url(user), data).status_code)
"""
    )
    assert printed[-1] == "302", printed


def revoke_with_the_command(stage: Stage, key: str, **overrides: str) -> None:
    printed = stage.in_a_process(
        "from django.core.management import call_command\n"
        f"call_command('revokeapikey', {prefix_of(key)!r})\n",
        **overrides,
    )
    assert any("Revoked" in line for line in printed), printed


DOORS = [
    revoke_through_the_api,
    revoke_in_admin,
    revoke_with_the_command,
    deactivate_the_user_in_admin,
    roll_through_the_api_without_grace,
]


# --- the outage -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stage(tmp_path_factory, django_db_blocker) -> Iterator[Stage]:
    require_redis()
    with (
        django_db_blocker.unblock(),
        migrated_database_for_servers(
            tmp_path_factory.mktemp("outages"), SUPERUSER
        ) as database_url,
        private_redis() as redis,
    ):
        python_output(
            "import django\ndjango.setup()\nfrom users.models import User\n"
            f"User.objects.create_user({USER!r}, {USER + '@example.com'!r})\n",
            DJANGO_SECRET_KEY="x",
            DATABASE_URL=database_url,
        )
        with gunicorn_servers(
            database_url,
            redis.url,
            tmp_path_factory.mktemp("outage-servers"),
            count=2,
            workers=2,
            # Every refused request is a failed authentication: no 429 instead of the 401.
            API_FAILED_AUTH_RATE_LIMIT="1000000/m",
        ) as servers:
            actor_key = issue_server_key(database_url, SUPERUSER)
            yield Stage(database_url, redis, servers, actor_key)


def ask_every_server(stage: Stage, key: str, rounds: int = 2) -> list[Reply]:
    """`rounds` requests with `key` to each server (its two workers take turns, or not)."""
    return [get(server, PROJECTS_PATH, key) for _ in range(rounds) for server in stage.servers]


def warmed(stage: Stage, key: str) -> str:
    """`key`, used on every server so that Redis holds its record."""
    assert {reply.status for reply in ask_every_server(stage, key)} == {HTTPStatus.OK}
    assert stage.redis.client().exists(record_key(prefix_of(key)))
    return key


def poll_after(stage: Stage, keys: list[str], since: float) -> dict[str, list[tuple[float, Reply]]]:
    """Every key on every server, round after round, for POLL_SECONDS after `since`."""
    replies: dict[str, list[tuple[float, Reply]]] = {key: [] for key in keys}
    while time.monotonic() - since < POLL_SECONDS:
        for key in keys:
            for server in stage.servers:
                sent = time.monotonic() - since
                replies[key].append((sent, get(server, PROJECTS_PATH, key)))
    return replies


@pytest.fixture(scope="module")
def doors(stage: Stage) -> dict[str, Door]:
    """Each door stops its own key while the private Redis is stopped; then Redis resumes."""
    found = {door.__name__: Door(door.__name__, door) for door in DOORS}
    for door in found.values():
        owner = USER if door.stop is deactivate_the_user_in_admin else SUPERUSER
        door.key = warmed(stage, issue_server_key(stage.database_url, owner))

    stage.redis.stop()
    try:
        for door in found.values():
            door.stop(stage, door.key)
        for door in found.values():
            door.while_stopped = ask_every_server(stage, door.key)
    finally:
        stage.redis.resume()
    resumed = time.monotonic()

    after = poll_after(stage, [door.key for door in found.values()], resumed)
    for door in found.values():
        door.after_resume = after[door.key]
    return found


def statuses(replies: list[Reply]) -> set[int]:
    return {reply.status for reply in replies}


@pytest.mark.parametrize("door", [door.__name__ for door in DOORS])
def test_a_key_stopped_while_redis_is_stopped_is_refused_by_every_server_meanwhile(doors, door):
    assert statuses(doors[door].while_stopped) == {HTTPStatus.UNAUTHORIZED}


@pytest.mark.parametrize("door", [door.__name__ for door in DOORS])
def test_a_key_stopped_while_redis_was_stopped_is_refused_within_2_s_of_its_resuming(
    stage, doors, door
):
    replies = doors[door].after_resume
    late = [reply for sent, reply in replies if sent >= BOUND_SECONDS]

    assert late, "the poll ended too soon"
    assert statuses(late) == {HTTPStatus.UNAUTHORIZED}
    assert {reply.server for reply in late} == {server.port for server in stage.servers}
    assert all(reply.status < HTTPStatus.INTERNAL_SERVER_ERROR for _, reply in replies)


# --- with Redis up: a command without REDIS_URL, a Redis restarted from a snapshot -------------


def test_a_key_revoked_by_a_command_without_redis_url_is_refused_within_2_s(stage):
    key = warmed(stage, issue_server_key(stage.database_url, SUPERUSER))

    revoke_with_the_command(stage, key, REDIS_URL="")
    revoked = time.monotonic()
    replies = poll_after(stage, [key], revoked)[key]

    late = [reply for sent, reply in replies if sent >= BOUND_SECONDS]
    assert late and statuses(late) == {HTTPStatus.UNAUTHORIZED}


def test_a_redis_restarted_from_a_snapshot_holding_a_revoked_keys_record_refuses_it_within_2_s(
    stage,
):
    key = warmed(stage, issue_server_key(stage.database_url, SUPERUSER))
    stage.redis.client().save()  # the snapshot holds the key's record
    revoke_with_the_command(stage, key)  # delivered at once: Redis is up
    assert statuses(ask_every_server(stage, key)) == {HTTPStatus.UNAUTHORIZED}

    stage.redis.restart_from_snapshot()
    restarted = time.monotonic()
    assert stage.redis.client().exists(record_key(prefix_of(key)))  # back again
    replies = poll_after(stage, [key], restarted)[key]

    late = [reply for sent, reply in replies if sent >= BOUND_SECONDS]
    assert late and statuses(late) == {HTTPStatus.UNAUTHORIZED}
    assert all(reply.status < HTTPStatus.INTERNAL_SERVER_ERROR for _, reply in replies)
