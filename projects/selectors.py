from django.db.models import QuerySet

from projects.models import Project
from users.models import User


def project_list(*, owner: User) -> QuerySet[Project]:
    """The owner's projects, newest first: a stable order for paging."""
    return Project.objects.filter(owner=owner).order_by("-created_at", "-id")
