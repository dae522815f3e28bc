from http import HTTPStatus

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apiproject.api.views import APIViewSet
from projects.models import Project
from projects.representations import project_representation_of_row
from projects.rows import project_row, project_rows_of
from projects.scopes import PROJECTS_READ, PROJECTS_WRITE
from projects.selectors import project_get, project_public_id
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
    operation_errors = {
        "list": (400,),
        "retrieve": (404,),
        "create": (400, 413, 415),
        "partial_update": (400, 404, 413, 415),
        "destroy": (404,),
    }
    serializer_class = ProjectSerializer
    lookup_url_kwarg = "project_id"
    # Only this shape is an operation's path; /projects/anything-else is an unknown path.
    lookup_value_regex = "project-[0-9]+"

    def get_own_project(self, project_id: str) -> Project:
        project = project_get(owner=self.request.user, project_id=project_id)
        return self.found(project, missing=f"You have no project '{project_id}'")

    @extend_schema(
        summary="List your projects",
        description="The projects of the key's user, newest first, page by page. The `Link` "
        "header points to the first, previous, next and last pages.",
        responses={200: ProjectSerializer(many=True)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(project_rows_of(owner=request.user))
        return self.get_paginated_response([project_representation_of_row(row) for row in page])

    @extend_schema(
        summary="Get one of your projects",
        description="Another user's project is answered exactly like one that does not exist "
        "(404).",
    )
    def retrieve(self, request: Request, project_id: str) -> Response:
        row = project_row(owner=request.user, project_id=project_id)
        row = self.found(row, missing=f"You have no project '{project_id}'")
        return Response(project_representation_of_row(row))

    @extend_schema(
        summary="Create a project",
        description="Answers 201 with the project and `Location: /api/v1/projects/{id}`. The "
        "name is trimmed and unique among your projects ignoring case; you may own at most "
        "`API_PROJECTS_PER_USER` projects (10,000 by default).",
        request=ProjectWriteSerializer,
        responses={
            201: OpenApiResponse(ProjectSerializer, description="The new project."),
        },
    )
    def create(self, request: Request) -> Response:
        body = self.valid_body(ProjectWriteSerializer).validated_data
        project = project_create(owner=request.user, **body)
        location = reverse("project-detail", kwargs={"project_id": project_public_id(project)})
        return self.created(ProjectSerializer(project).data, location=location)

    @extend_schema(
        summary="Change a project",
        description="Any of `name` and `description`, with the rules of creation; an empty "
        "object changes nothing. Answers with the whole project.",
        request=ProjectWriteSerializer(partial=True),
        responses={200: ProjectSerializer},
    )
    def partial_update(self, request: Request, project_id: str) -> Response:
        # The body is judged before the project is looked up: 400 comes before the
        # operation's own 404 (docs/api.md, "Order of checks").
        body = self.valid_body(ProjectWriteSerializer, partial=True).validated_data
        project = project_update(project=self.get_own_project(project_id), **body)
        return Response(ProjectSerializer(project).data)

    @extend_schema(
        summary="Delete a project",
        description="The project is gone: 204 with no body. Deleting it again is 404.",
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def destroy(self, request: Request, project_id: str) -> Response:
        project_delete(project=self.get_own_project(project_id))
        return Response(status=HTTPStatus.NO_CONTENT)
