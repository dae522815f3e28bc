"""The project's URLs with the floor views in front of them (benchmark settings only)."""

from django.urls import path

from apiproject.urls import urlpatterns as project_urlpatterns
from benchmarks.views import floor_projects, floor_user

urlpatterns = [
    path("bench/floor/projects", floor_projects),
    path("bench/floor/users/<int:user_id>", floor_user),
    *project_urlpatterns,
]
