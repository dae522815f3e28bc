from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "projects"

    def ready(self) -> None:
        from apiproject.api.scopes import declare_scopes
        from projects.scopes import PROJECTS_READ, PROJECTS_WRITE

        declare_scopes(self.label, PROJECTS_READ, PROJECTS_WRITE)
