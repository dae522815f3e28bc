from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apiproject.api.serializers import StrictSerializer, StringField
from apiproject.api.text import validate_multiline_text, validate_single_line_text
from projects.models import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, Project
from projects.selectors import project_public_id


class ProjectSerializer(serializers.ModelSerializer):
    id = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "created_at"]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "pattern": "^project-[1-9][0-9]*$"})
    def get_id(self, project: Project) -> str:
        return project_public_id(project)


class ProjectWriteSerializer(StrictSerializer):
    """A project's name (trimmed) and description (kept as sent; null means empty)."""

    name = StringField(max_length=NAME_MAX_LENGTH, validators=[validate_single_line_text])
    description = StringField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        validators=[validate_multiline_text],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Creating: a null name counts as missing, as for users. Changing: null is invalid.
        self.null_as_absent = () if self.partial else ("name",)

    def validate_description(self, description: str | None) -> str:
        return description or ""
