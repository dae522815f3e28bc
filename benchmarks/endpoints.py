"""What is measured: each endpoint with the key it sends and the floor it is compared to."""

from dataclasses import dataclass
from pathlib import Path

from benchmarks.seed import KeyHolder

# wrk's Lua for POST /api/v1/projects followed by the DELETE of what it made.
CREATE_DELETE_SCRIPT = Path(__file__).with_name("create_delete.lua")


@dataclass
class Endpoint:
    name: str
    path: str
    key: str | None  # the API key it sends; None: no Authorization (the floor)
    floor: str | None = None  # the endpoint its ratio is taken against
    script: Path | None = None  # wrk's Lua script, for more than a GET of `path`

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.key is None else {"Authorization": f"Bearer {self.key}"}


def endpoints(scale: dict[str, int], holders: dict[str, KeyHolder]) -> list[Endpoint]:
    from projects.models import Project  # after django.setup(), as seed's models are

    reader, writer = holders["bench-1"], holders["bench-writer"]
    project = Project.objects.filter(owner_id=reader.user_id).order_by("-created_at", "-id")[0].pk
    listed = [
        Endpoint("floor projects", f"/bench/floor/projects?owner={reader.user_id}&limit=20", None),
        Endpoint("GET /projects", "/api/v1/projects?limit=20", reader.key, "floor projects"),
        Endpoint("GET /projects/{id}", f"/api/v1/projects/project-{project}", reader.key,
                 "floor projects"),
        Endpoint("floor user", f"/bench/floor/users/{reader.user_id}", None),
        Endpoint("GET /users/{own id}", f"/api/v1/users/{reader.user_id}", reader.key,
                 "floor user"),
        Endpoint("GET /users/me", "/api/v1/users/me", reader.key, "floor user"),
        Endpoint("POST+DELETE /projects", "/api/v1/projects", writer.key,
                 script=CREATE_DELETE_SCRIPT),
    ]  # fmt: skip
    if scale["big"]:
        for holder, owned in ((reader, scale["projects"]), (holders["bench-big"], scale["big"])):
            for page in (1, 500):
                listed.append(
                    Endpoint(
                        f"page {page} of {owned} projects",
                        f"/api/v1/projects?page={page}&limit=20",
                        holder.key,
                    )
                )
    return listed


def selected(listed: list[Endpoint], only: str | None) -> list[Endpoint]:
    """The endpoints `--only` names (separated by ';') and their floors; all without it."""
    if not only:
        return listed
    wanted = {name.strip() for name in only.split(";")}
    floors = {e.floor for e in listed if e.name in wanted}
    return [e for e in listed if e.name in wanted or e.name in floors]
