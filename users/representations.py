"""A user as the API shows them (docs/api.md, "Users"), without DRF's serializer on the hot reads
(`GET /users/me` and one's own id): UserSerializer stays what the OpenAPI document describes and
what POST /users answers with; tests/users/test_user_representations.py holds the two to the
same output."""

from datetime import UTC
from typing import Any

from rest_framework.settings import api_settings

from users.models import User


def user_representation(*, user: User) -> dict[str, Any]:
    return {
        "id": str(user.pk),
        "username": user.username,
        "email": user.email,
        # As DRF's DateTimeField with the settings' DATETIME_FORMAT: UTC, whole seconds.
        "created_at": user.date_joined.astimezone(UTC).strftime(api_settings.DATETIME_FORMAT),
    }
