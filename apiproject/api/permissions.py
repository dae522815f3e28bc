"""The scope check (docs/api.md, "Scopes"), the first permission of every operation."""

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apiproject.api.errors import InsufficientScope


class HasRequiredScope(BasePermission):
    """The scope the view declares for its action (`required_scopes`) must be one of the
    credentials' (`request.auth.scopes`). Scopes are the key's; permissions are the user's:
    a request needs both, so this runs before the view's own permissions."""

    def has_permission(self, request: Request, view: Any) -> bool:
        try:
            scope = view.required_scopes[view.action]
        except KeyError:
            # Every operation names its scope: a new one without is a mistake, not a default.
            raise ImproperlyConfigured(
                f"{type(view).__name__}.required_scopes names no scope for {view.action!r}"
            ) from None
        if scope not in getattr(request.auth, "scopes", ()):
            raise InsufficientScope(scope)
        return True
