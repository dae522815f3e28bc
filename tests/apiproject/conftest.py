import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.backends import ModelBackend
from django.test import Client
from django.urls import reverse

from apiproject.management.commands import devsetup
from tests.factories import DEFAULT_PASSWORD

LOGIN_URL = reverse("admin:login")
INDEX_URL = reverse("admin:index")


@pytest.fixture
def failing_project_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """GET /api/v1/projects fails with an unhandled exception (a bug's 500)."""

    def explode(**kwargs: object) -> None:
        raise RuntimeError("boom: secret internals")

    monkeypatch.setattr("projects.views.project_rows_of", explode)
    monkeypatch.setattr("projects.views.project_rows_of", explode)  # the list's own read


@pytest.fixture(autouse=True)
def _dev_password_file_outside_the_repository(monkeypatch, tmp_path: Path) -> Path:
    # devsetup keeps the development password beside manage.py; tests keep theirs apart.
    path = tmp_path / "dev-admin-password"
    monkeypatch.setattr(devsetup, "PASSWORD_FILE", path)
    return path


@pytest.fixture
def debug(settings):
    settings.DEBUG = True
    return settings


@pytest.fixture
def log_in() -> Callable[..., object]:
    """POST the login form from `ip`, a fresh client each time (no session carried over)."""

    def attempt(username: str, password: str = DEFAULT_PASSWORD, *, ip: str = "10.0.0.1"):
        client = Client(REMOTE_ADDR=ip)
        response = client.post(
            LOGIN_URL, {"username": username, "password": password, "next": INDEX_URL}
        )
        response.client_session = client.session
        return response

    return attempt


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The usernames whose password the authentication backend checked, one per check (from
    every thread)."""
    checked: list[str] = []
    lock = threading.Lock()
    real_authenticate = ModelBackend.authenticate

    def authenticate(self, request, username=None, password=None, **kwargs):
        with lock:
            checked.append(username)
        return real_authenticate(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", authenticate)
    return checked
