"""The layout of docs/architecture.md, read off the import statements of every module: the
kernel (apiproject.api) imports no app and no configuration; apps import only the kernel of
apiproject, and each other only along the allowed edges (apikeys and projects may use users;
nothing else); nothing imports the configuration modules."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import PROJECT_DIR

KERNEL = "apiproject.api"
APPS = ("apikeys", "projects", "users")
# The app graph: which other apps each app may import. No cycle: users knows nothing of keys
# or projects, and projects and apikeys know nothing of each other.
ALLOWED_APP_EDGES = {"users": set(), "projects": {"users"}, "apikeys": {"users"}}
CONFIGURATION = (
    "apiproject.settings",
    "apiproject.urls",
    "apiproject.wsgi",
    "apiproject.gunicorn_worker",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> list[Path]:
    return sorted((PROJECT_DIR / package.replace(".", "/")).rglob("*.py"))


def imported_names(path: Path) -> Iterator[str]:
    """Every module an import statement in `path` may name (`from a import b`: a and a.b)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def imports_of(packages: tuple[str, ...]) -> list[tuple[str, str]]:
    return [
        (module_name(path), name)
        for package in packages
        for path in modules(package)
        for name in imported_names(path)
    ]


def test_the_walk_sees_imports():
    # Guards the tests below against passing because nothing was read.
    assert ("users.views", "apiproject.api.views.APIViewSet") in imports_of(("users",))


def test_the_kernel_imports_no_app_and_no_configuration():
    offending = [
        (module, name)
        for module, name in imports_of((KERNEL,))
        if any(within(name, app) for app in APPS)
        or (within(name, "apiproject") and not within(name, KERNEL))
    ]
    assert offending == []


@pytest.mark.parametrize("app", APPS)
def test_an_app_imports_only_the_kernel_of_apiproject(app):
    offending = [
        (module, name)
        for module, name in imports_of((app,))
        if within(name, "apiproject") and not within(name, KERNEL)
    ]
    assert offending == []


def test_nothing_imports_the_configuration_modules():
    offending = [
        (module, name)
        for module, name in imports_of(("apiproject", *APPS))
        if any(within(name, configuration) for configuration in CONFIGURATION)
    ]
    assert offending == []


@pytest.mark.parametrize("app", APPS)
def test_an_app_imports_only_the_apps_it_may_use(app):
    offending = [
        (module, name)
        for module, name in imports_of((app,))
        for other in APPS
        if other != app and other not in ALLOWED_APP_EDGES[app] and within(name, other)
    ]
    assert offending == []


def test_the_allowed_app_edges_have_no_cycle():
    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            other == goal or (other not in seen and reaches(other, goal, seen | {other}))
            for other in ALLOWED_APP_EDGES[start]
        )

    assert [app for app in APPS if reaches(app, app)] == []
