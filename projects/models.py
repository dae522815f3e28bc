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
            # One owner's project names are unique ignoring case (contract section 4).
            models.UniqueConstraint(
                "owner",
                Lower("name"),
                name=OWNER_NAME_CI_UNIQUE,
                violation_error_message="This owner already has a project with that name.",
            ),
        ]

    def __str__(self) -> str:
        return self.name
