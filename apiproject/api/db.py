"""What the database says when it refuses a write."""

import re

from django.db import IntegrityError

# SQLite names the index of a refused unique constraint in its message only.
_SQLITE_UNIQUE_INDEX = re.compile(r"UNIQUE constraint failed: index '([^']+)'")


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint or unique index the database refused, where it says it."""
    diag = getattr(exc.__cause__, "diag", None)  # psycopg names the constraint
    if diag is not None and diag.constraint_name:
        return diag.constraint_name
    match = _SQLITE_UNIQUE_INDEX.search(str(exc))
    return match.group(1) if match else None
