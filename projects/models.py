from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apiproject.api.text import validate_multiline_text, validate_single_line_text

NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 10_000
OWNER_NAME_CI_UNIQUE = "project_owner_name_ci_unique"


class Project(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="projects",
        # The (owner, -created_at, -id) index below serves every lookup by owner.
        db_index=False,
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_single_line_text])
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[validate_multiline_text]
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # "This owner's projects, newest first" reads only this owner's rows, in order.
            models.Index(
                "owner",
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="project_owner_newest_idx",
            ),
            # Everyone's projects, newest first: the admin's list.
            models.Index(
                models.F("created_at").desc(), models.F("id").desc(), name="project_newest_idx"
            ),
        ]
        constraints = [
            # One owner's project names are unique ignoring case (docs/api.md, "Projects").
            models.UniqueConstraint(
                "owner",
                Lower("name"),
                name=OWNER_NAME_CI_UNIQUE,
                violation_error_message="This owner already has a project with that name.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class OwnerProjectTotal(models.Model):
    """How many projects a user owns: the list's `total` and the cap (docs/api.md, "Projects")
    without counting a user's projects on every request.

    Kept by the database itself, by triggers on the project table (migration 0004), in the
    transaction of every insert, delete and change of owner, whatever makes it: the API, the
    admin (its add, change and bulk delete), a user's deletion cascading to their projects, a
    command, bulk_create, raw SQL. Django's own means (model methods, signals) miss bulk and
    cascading deletes or would turn them into a query per row; only TRUNCATE passes by.
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    total = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.owner_id}: {self.total}"
