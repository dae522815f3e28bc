import re

from django.db.models import QuerySet

from projects.models import Project
from users.models import User

# `project-` and the number in canonical decimal that fits the database's 64-bit integer.
_PROJECT_ID = re.compile(r"project-([1-9][0-9]{0,18})")
_MAX_ID = 2**63 - 1


def project_list(*, owner: User) -> QuerySet[Project]:
    """The owner's projects, newest first: a stable order for paging."""
    return Project.objects.filter(owner=owner).order_by("-created_at", "-id")


def project_get(*, owner: User, project_id: str) -> Project | None:
    """The owner's project with this public id (`project-123`); None for any other spelling,
    an unknown id and another owner's project alike, in one query or none."""
    pk = project_pk(project_id)
    if pk is None:
        return None
    return Project.objects.filter(owner=owner, pk=pk).first()


def project_pk(project_id: str) -> int | None:
    """The number of a public id (`project-123`); None for any other spelling."""
    match = _PROJECT_ID.fullmatch(project_id)
    if match is None or int(match.group(1)) > _MAX_ID:
        return None
    return int(match.group(1))


def project_public_id(project: Project) -> str:
    return f"project-{project.pk}"
