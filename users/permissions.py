from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from users.models import User


def is_staff_with(user: User, permission: str) -> bool:
    """ "Staff" as the API's rules mean it (docs/api.md, "Authentication"): is_staff and the
    Django model permission."""
    return user.is_staff and user.has_perm(permission)


class CanReadUser(BasePermission):
    """The key's own user (by canonical id) or staff with users.view_user.

    Decided on the raw path segment, before the id is parsed or looked up, so the answer
    tells nothing about which ids exist.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        return view.kwargs[view.lookup_url_kwarg] == str(request.user.pk) or is_staff_with(
            request.user, "users.view_user"
        )


class CanCreateUser(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return is_staff_with(request.user, "users.add_user")
