"""Projects as the API shows them (docs/api.md, "Projects"), built without DRF's serializers on the
hot reads: ProjectSerializer builds a field object per field and a model instance per row,
which the profile of GET /projects showed costing more than the query. ProjectSerializer stays
what the OpenAPI document describes and what the writes answer with;
tests/projects/test_project_representations.py holds the two to the same output."""

from datetime import UTC, datetime
from typing import Any

from rest_framework.settings import api_settings

from projects.models import Project


def project_representation_of_row(row: tuple[Any, ...]) -> dict[str, Any]:
    pk, name, description, created_at = row  # projects.rows.COLUMNS
    return {
        "id": f"project-{pk}",
        "name": name,
        "description": description,
        "created_at": _moment(created_at),
    }


def project_representation(project: Project) -> dict[str, Any]:
    return project_representation_of_row(
        (project.pk, project.name, project.description, project.created_at)
    )


def _moment(moment: datetime) -> str:
    # As DRF's DateTimeField with the settings' DATETIME_FORMAT: UTC, whole seconds.
    return moment.astimezone(UTC).strftime(api_settings.DATETIME_FORMAT)
