from http import HTTPStatus

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from apiproject.api.schema import error_responses
from apiproject.api.views import APIViewSet
from projects.models import Project
from projects.representations import project_representation_of_row
from projects.rows import project_row, project_rows_of
from projects.scopes import PROJECTS_READ, PROJECTS_WRITE
from projects.selectors import project_get, project_list, project_public_id
from projects.serializers import ProjectSerializer, ProjectWriteSerializer
from projects.services import project_create, project_delete, project_update

PROJECT_ID_DESCRIPTION = "The project's `id`, `project-<number>`."


class ProjectViewSet(APIViewSet):
    """The key user's own projects (docs/api.md, "Projects"): another user's project is
    answered exactly like one that does not exist."""

    required_scopes = {
        "list": PROJECTS_READ,
        "retrieve": PROJECTS_READ,
        "create": PROJECTS_WRITE,
        "partial_update": PROJECTS_WRITE,
        "destroy": PROJECTS_WRITE,
    }
    serializer_class = ProjectSerializer
    lookup_url_kwarg = "project_id"
    # Only this shape is an operation's path; /projects/anything-else is an unknown path.
    lookup_value_regex = "project-[0-9]+"

    def get_queryset(self) -> QuerySet[Project]:
        return project_list(owner=self.request.user)

    def get_own_project(self, project_id: str) -> Project:
        project = project_get(owner=self.request.user, project_id=project_id)
        if project is None:
            raise exceptions.NotFound(f"You have no project '{project_id}'")
        return project

    @extend_schema(
        summary="List your projects",
        description="The projects of the key's user, newest first, page by page. The `Link` "
        "header points to the first, previous, next and last pages.",
        responses={200: ProjectSerializer(many=True), **error_responses(400)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(project_rows_of(owner=request.user))
        return self.get_paginated_response([project_representation_of_row(row) for row in page])

    @extend_schema(
        summary="Get one of your projects",
        description="Another user's project is answered exactly like one that does not exist "
        "(404).",
        responses={200: ProjectSerializer, **error_responses(404)},
    )
    def retrieve(self, request: Request, project_id: str) -> Response:
        row = project_row(owner=request.user, project_id=project_id)
        if row is None:
            raise exceptions.NotFound(f"You have no project '{project_id}'")
        return Response(project_representation_of_row(row))

    @extend_schema(
        summary="Create a project",
        description="Answers 201 with the project and `Location: /api/v1/projects/{id}`. The "
        "name is trimmed and unique among your projects ignoring case; you may own at most "
        "`API_PROJECTS_PER_USER` projects (10,000 by default).",
        request=ProjectWriteSerializer,
        responses={
            201: OpenApiResponse(ProjectSerializer, description="The new project."),
            **error_responses(400, 413, 415),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = ProjectWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(owner=request.user, **serializer.validated_data)
        location = reverse("project-detail", kwargs={"project_id": project_public_id(project)})
        return Response(
            ProjectSerializer(project).data,
            status=HTTPStatus.CREATED,
            headers={"Location": location},
        )

    @extend_schema(
        summary="Change a project",
        description="Any of `name` and `description`, with the rules of creation; an empty "
        "object changes nothing. Answers with the whole project.",
        request=ProjectWriteSerializer(partial=True),
        responses={200: ProjectSerializer, **error_responses(400, 404, 413, 415)},
    )
    def partial_update(self, request: Request, project_id: str) -> Response:
        # The body is judged before the project is looked up: 400 comes before the
        # operation's own 404 (docs/api.md, "Order of checks").
        serializer = ProjectWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project = project_update(
            project=self.get_own_project(project_id), **serializer.validated_data
        )
        return Response(ProjectSerializer(project).data)

    @extend_schema(
        summary="Delete a project",
        description="The project is gone: 204 with no body. Deleting it again is 404.",
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)},
    )
    def destroy(self, request: Request, project_id: str) -> Response:
        project_delete(project=self.get_own_project(project_id))
        return Response(status=HTTPStatus.NO_CONTENT)
