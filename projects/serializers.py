from rest_framework import serializers

from projects.models import Project


class ProjectSerializer(serializers.ModelSerializer):
    id = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "created_at"]
        read_only_fields = fields

    def get_id(self, project: Project) -> str:
        return f"project-{project.pk}"
