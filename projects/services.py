from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apiproject.api.db import violated_constraint
from projects.models import OWNER_NAME_CI_UNIQUE, Project
from projects.totals import project_total_lock
from users.models import User

NAME_TAKEN = "You already have a project with that name."


def project_create(*, owner: User, name: str, description: str = "") -> Project:
    """Create a project of `owner`, within API_PROJECTS_PER_USER; a name the owner already
    uses (ignoring case), even in a lost race, is a ValidationError, not a 500."""
    with transaction.atomic():
        # Concurrent creates of one owner take turns on the owner's project total, so none of
        # them can read it before another's insert and pass the cap with it.
        limit = settings.API_PROJECTS_PER_USER
        if project_total_lock(owner=owner) >= limit:
            raise ValidationError(
                f"You may own at most {limit:,} projects: delete one to make another.",
                code="project_limit",
            )
        project = Project(owner=owner, name=name, description=description)
        _save(project, force_insert=True)
    return project


def project_update(
    *, project: Project, name: str | None = None, description: str | None = None
) -> Project:
    """Change the project's name and/or description (None: unchanged); no change, no write."""
    changes = {"name": name, "description": description}
    fields = [
        field
        for field, value in changes.items()
        if value is not None and getattr(project, field) != value
    ]
    for field in fields:
        setattr(project, field, changes[field])
    if fields:
        _save(project, update_fields=fields)
    return project


def project_delete(*, project: Project) -> None:
    project.delete()


def _save(project: Project, **options: Any) -> None:
    try:
        with transaction.atomic():
            project.save(**options)
    except IntegrityError as exc:
        if violated_constraint(exc) != OWNER_NAME_CI_UNIQUE:
            raise
        raise ValidationError({"name": [ValidationError(NAME_TAKEN, code="unique")]}) from exc
