from django.conf import settings
from django.db import models
from django.utils import timezone

from apiproject.api.text import validate_multiline_text, validate_single_line_text


class Project(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="projects",
        # The (owner, -created_at, -id) index below serves every lookup by owner.
        db_index=False,
    )
    name = models.CharField(max_length=200, validators=[validate_single_line_text])
    description = models.TextField(blank=True, validators=[validate_multiline_text])
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

    def __str__(self) -> str:
        return self.name
