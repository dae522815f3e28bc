"""The floor: what plain Django does for the same answers, with no key, no rate limit and no
DRF. `floor_projects` runs the same count and page of 20 as GET /api/v1/projects (a COUNT over
the owner's projects, as a plain view would), `floor_user` one query for one user."""

from django.http import HttpRequest, JsonResponse

from projects.models import Project
from users.models import User


def floor_projects(request: HttpRequest) -> JsonResponse:
    owner = int(request.GET["owner"])
    limit = int(request.GET.get("limit", "20"))
    projects = Project.objects.filter(owner_id=owner).order_by("-created_at", "-id")
    total = projects.count()
    data = list(projects.values("id", "name", "description", "created_at")[:limit])
    return JsonResponse({"total": total, "page": 1, "limit": limit, "data": data})


def floor_user(request: HttpRequest, user_id: int) -> JsonResponse:
    user = User.objects.filter(pk=user_id).values("id", "username", "email", "date_joined").first()
    return JsonResponse(user or {}, status=200 if user else 404)
