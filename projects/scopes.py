"""The scopes of the projects' operations (declared in ProjectsConfig.ready)."""

PROJECTS_READ = "projects:read"
PROJECTS_WRITE = "projects:write"
