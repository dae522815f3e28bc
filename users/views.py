from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apiproject.api.views import APIViewSet
from users.permissions import CanCreateUser, CanReadUser
from users.representations import user_representation
from users.scopes import USERS_READ, USERS_WRITE
from users.selectors import user_get
from users.serializers import UserCreateSerializer, UserSerializer
from users.services import user_create


class UserViewSet(APIViewSet):
    """Read a user (the key's own, or anyone for staff); create users (staff)."""

    required_scopes = {"retrieve": USERS_READ, "me": USERS_READ, "create": USERS_WRITE}
    operation_errors = {
        "retrieve": (403, 404),
        "create": (400, 403, 413, 415),
    }
    serializer_class = UserSerializer
    lookup_url_kwarg = "user_id"
    # Anything up to the next slash: "1.5" must reach the permission check, not become a
    # format suffix or a router 404.
    lookup_value_regex = "[^/]+"

    def get_permissions(self) -> list:
        if self.action == "create":
            return [CanCreateUser()]
        if self.action == "me":
            return []  # any valid key reads its own user
        return [CanReadUser()]

    @extend_schema(
        summary="Get the key's own user",
        description="The user the API key belongs to, in the same shape as `GET /users/{id}`.",
        responses={200: UserSerializer},
    )
    @action(detail=False, methods=["get"])
    def me(self, request: Request) -> Response:
        # The router lists this route before /users/{user_id}: `me` is never taken for an id.
        return Response(user_representation(user=request.user))

    @extend_schema(
        summary="Get a user",
        description="The key's own user, or any user for staff "
        "(`is_staff` and the `users.view_user` permission).",
    )
    def retrieve(self, request: Request, user_id: str) -> Response:
        # The key's own user is loaded already (with its key): no second query.
        own = user_id == str(request.user.pk)
        user = request.user if own else user_get(user_id=user_id)
        user = self.found(user, missing=f"No user has the id '{user_id}'")
        return Response(user_representation(user=user))

    @extend_schema(
        summary="Create a user",
        description="Staff only (`is_staff` and the `users.add_user` permission). Answers 201 "
        "with the user and `Location: /api/v1/users/{id}`.",
        request=UserCreateSerializer,
        responses={201: OpenApiResponse(UserSerializer, description="The new user.")},
    )
    def create(self, request: Request) -> Response:
        user = user_create(**self.valid_body(UserCreateSerializer).validated_data)
        location = reverse("user-detail", kwargs={"user_id": user.pk})
        return self.created(UserSerializer(user).data, location=location)
