from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from apikeys.views import APIKeyViewSet, LeakReportViewSet
from apiproject.api.docs import SchemaView
from apiproject.api.views import api_not_found
from projects.views import ProjectViewSet
from users.views import UserViewSet


class OptionalSlashRouter(SimpleRouter):
    """Serves `/users` and `/users/` alike, with no redirect (docs/api.md, "Transport")."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("users", UserViewSet, basename="user")
router.register("projects", ProjectViewSet, basename="project")
router.register("keys", APIKeyViewSet, basename="apikey")
if settings.API_LEAK_REPORT_KEYS_FILE:
    # GitHub's secret scanning reports leaked keys here (docs/api.md, "Leak reports"); without
    # GitHub's keys to check them by, the path is an unknown path like any other.
    router.register("leaked-keys", LeakReportViewSet, basename="leaked-key")

urlpatterns = [
    path("api/v1/", include(router.urls)),
    # With or without a trailing slash, like the API itself (no redirect).
    re_path(r"^api/schema/?$", SchemaView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    # The service has no home page: its documentation is the closest thing.
    path("", RedirectView.as_view(pattern_name="docs"), name="home"),
    # Last: every other /api/ path is the envelope's 404, before any other check.
    re_path(r"^api/", api_not_found),
]
