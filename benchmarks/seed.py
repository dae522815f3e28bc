"""The benchmark's data: a database of its own, seeded with `INSERT ... SELECT generate_series`,
an empty Redis database, and a fresh key for each user the endpoints send requests as.

Everything but `ensure_database` and `flush_redis` runs after `django.setup()`, with the
benchmark's settings; that is why the models are imported inside the functions."""

import json
import re
import sys
import time
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

KEY_RATE_LIMIT = "1000000/m"  # counted and given headers like any key, never refused
# The users the endpoints send requests as (see benchmarks/endpoints.py).
KEY_HOLDERS = ["bench-1", "bench-big", "bench-writer"]


# As many projects as the parameter says for each user the WHERE clause that follows picks.
# Newest first is created_at descending: the projects are spread over distinct seconds.
PROJECTS_OF = (
    "INSERT INTO projects_project (owner_id, name, description, created_at) "
    "SELECT u.id, 'Project ' || g, 'Seeded for the benchmark', now() - g * interval '1 second' "
    "FROM users_user u CROSS JOIN generate_series(1, %s) AS g WHERE "
)


class KeyHolder(NamedTuple):
    user_id: int
    key: str  # the plaintext, sent as a bearer token


def ensure_database(database_url: str, *, fresh: bool = False) -> None:
    """The benchmark's own database, made if missing (made again if `fresh`)."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]+", name) or name.startswith("test_"):
        sys.exit(f"Refusing database {name!r}: the benchmark needs one of its own")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if fresh:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')


def seed(scale: dict[str, int], database_url: str) -> None:
    """Users bench-1..N with `projects` projects each, bench-big with `big`, bench-writer
    with none (POST + DELETE), unless the database holds exactly that already."""
    from django.core.management import call_command
    from django.db import DatabaseError, connection
    from django.db.migrations.exceptions import InconsistentMigrationHistory

    try:
        call_command("migrate", verbosity=0)
    except (DatabaseError, InconsistentMigrationHistory) as exc:
        # Migrated by another layout of the migrations (squashed since, say): the data is the
        # benchmark's own, generated, so the database is made again.
        print(f"data: the database does not migrate ({exc}); making it again")
        connection.close()
        ensure_database(database_url, fresh=True)
        call_command("migrate", verbosity=0)
    wanted = json.dumps(scale, sort_keys=True)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS benchmark_seed (scale text NOT NULL)")
        cursor.execute("SELECT scale FROM benchmark_seed")
        row = cursor.fetchone()
        if row is not None and row[0] == wanted:
            print(f"data: already seeded {wanted}")
            return
        started = time.monotonic()
        cursor.execute("DELETE FROM benchmark_seed")
        # Everything that hangs off the users (projects, their totals, keys, kept answers).
        cursor.execute("TRUNCATE users_user CASCADE")
        names = [f"bench-{n}" for n in range(1, scale["users"] + 1)]
        cursor.execute(
            "INSERT INTO users_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) "
            "SELECT '!', false, name, '', '', name || '@example.com', false, true, now() "
            "FROM unnest(%s::text[]) AS name",
            [[*names, "bench-big", "bench-writer"]],
        )
        cursor.execute(
            PROJECTS_OF + "u.username LIKE 'bench-%%' "
            "AND u.username NOT IN ('bench-big', 'bench-writer')",
            [scale["projects"]],
        )
        if scale["big"]:
            cursor.execute(PROJECTS_OF + "u.username = 'bench-big'", [scale["big"]])
        cursor.execute("INSERT INTO benchmark_seed (scale) VALUES (%s)", [wanted])
    connection.close()
    # VACUUM runs outside a transaction, on a connection of its own.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"data: seeded {wanted} in {time.monotonic() - started:.1f} s")


def flush_redis(nodes: list[redis.Redis]) -> None:
    """Empties the service's database on each Redis server: the one Redis's (database 9 by
    default, never the others), or database 0 of every primary of the private cluster."""
    for node in nodes:
        node.flushdb()


def issue_keys() -> dict[str, KeyHolder]:
    """A fresh key (every scope, a limit it never reaches) for each user the endpoints use."""
    from apikeys.models import APIKey, KeyEvent, KeyUsageDay
    from apikeys.services import apikey_issue
    from users.models import User

    # The benchmark's own database: its keys go, with what records them.
    earlier = APIKey.objects.filter(owner__username__in=KEY_HOLDERS)
    KeyEvent.objects.filter(api_key__in=earlier).delete()
    KeyUsageDay.objects.filter(api_key__in=earlier).delete()
    earlier.delete()
    holders = {}
    for user in User.objects.filter(username__in=KEY_HOLDERS):
        issued = apikey_issue(owner=user, name="benchmark", rate_limit=KEY_RATE_LIMIT)
        holders[user.username] = KeyHolder(user.pk, issued.plaintext)
    return holders
