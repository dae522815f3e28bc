"""Locking the per-owner project total that the database keeps (OwnerProjectTotal) for the
cap; the list reads it through projects.rows."""

from django.db import connection

from projects.models import OwnerProjectTotal
from users.models import User

_TABLE = OwnerProjectTotal._meta.db_table

# Hand-written because the ORM has no "lock this row, creating it if missing, and return it"
# in one statement: an upsert whose update changes nothing still takes the row's lock.
# PostgreSQL and SQLite (3.35+) both read it.
# The table's name is the model's, not input (S608).
_LOCK = (
    f"INSERT INTO {_TABLE} (owner_id, total) VALUES (%s, 0) "  # noqa: S608
    f"ON CONFLICT (owner_id) DO UPDATE SET total = {_TABLE}.total "
    "RETURNING total"
)


def project_total_lock(*, owner: User) -> int:
    """`owner`'s project total, its row locked until the transaction ends: concurrent creates
    of one owner, and the triggers of any other insert of theirs, take turns on it. The lock
    is taken in the order a user's deletion takes it (the total, then the user), so the two
    cannot deadlock."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK, [owner.pk])
        return cursor.fetchone()[0]
