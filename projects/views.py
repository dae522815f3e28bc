from django.db.models import QuerySet
from rest_framework import mixins

from apiproject.views import APIViewSet
from projects.models import Project
from projects.selectors import project_list
from projects.serializers import ProjectSerializer


class ProjectViewSet(mixins.ListModelMixin, APIViewSet):
    """The key user's own projects, page by page (contract section 4)."""

    serializer_class = ProjectSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return project_list(owner=self.request.user)
