from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from apikeys.views import APIKeyViewSet
from apiproject.api.docs import SchemaView
from apiproject.api.views import api_not_found
from projects.views import ProjectViewSet
from users.views import UserViewSet


class OptionalSlashRouter(SimpleRouter):
    """Serves `/users` and `/users/` alike, with no redirect (contract section 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("users", UserViewSet, basename="user")
router.register("projects", ProjectViewSet, basename="project")
router.register("keys", APIKeyViewSet, basename="apikey")

urlpatterns = [
    path("api/v1/", include(router.urls)),
    path("api/schema", SchemaView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    # Last: every other /api/ path is the envelope's 404, before any other check.
    re_path(r"^api/", api_not_found),
]
