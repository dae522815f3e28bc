from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins

from apiproject.api.schema import error_responses
from apiproject.api.views import APIViewSet
from projects.models import Project
from projects.selectors import project_list
from projects.serializers import ProjectSerializer


@extend_schema_view(
    list=extend_schema(
        summary="List your projects",
        description="The projects of the key's user, newest first, page by page. The `Link` "
        "header points to the first, previous, next and last pages.",
        responses={200: ProjectSerializer(many=True), **error_responses(400)},
    )
)
class ProjectViewSet(mixins.ListModelMixin, APIViewSet):
    """The key user's own projects, page by page (contract section 4)."""

    serializer_class = ProjectSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return project_list(owner=self.request.user)
