"""The hot reads of projects in SQL written once, as tuples (GET /projects and
GET /projects/{id}).

Hand-written because the ORM compiles each query anew on every request: in the benchmark's
profile that compiling (a QuerySet, its Query, the compiler) cost more CPU than the two queries
themselves (about 0.6 ms a list request). The statements are the ones the ORM would send for
`project_list`/`project_get` and the owner's kept total; tests/projects/test_project_rows.py
holds them to the ORM's answers.
"""

from typing import Any

from django.db import connection

from projects.models import OwnerProjectTotal, Project
from projects.selectors import project_pk
from users.models import User

_PROJECTS = Project._meta.db_table
_TOTALS = OwnerProjectTotal._meta.db_table
COLUMNS = ("id", "name", "description", "created_at")

# Table and column names are the models', not input (S608).
_TOTAL = f"SELECT total FROM {_TOTALS} WHERE owner_id = %s"  # noqa: S608
_PAGE = (
    f"SELECT {', '.join(COLUMNS)} FROM {_PROJECTS} WHERE owner_id = %s "  # noqa: S608
    "ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
)
_ONE = f"SELECT {', '.join(COLUMNS)} FROM {_PROJECTS} WHERE owner_id = %s AND id = %s"  # noqa: S608


class ProjectRows:
    """The owner's projects, newest first, as the pagination reads them: `count()` is the
    total the database keeps (no COUNT over the rows), a slice is one indexed query."""

    def __init__(self, owner: User) -> None:
        self.owner_id = owner.pk

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(_TOTAL, [self.owner_id])
            row = cursor.fetchone()
        return row[0] if row is not None else 0

    def __getitem__(self, window: slice) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(_PAGE, [self.owner_id, window.stop - window.start, window.start])
            return cursor.fetchall()


def project_rows_of(*, owner: User) -> ProjectRows:
    return ProjectRows(owner)


def project_row(*, owner: User, project_id: str) -> tuple[Any, ...] | None:
    """`project_get` as a row: the owner's project with this public id, or None for any other
    spelling, an unknown id and another owner's project alike, in one query or none."""
    pk = project_pk(project_id)
    if pk is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_ONE, [owner.pk, pk])
        return cursor.fetchone()
