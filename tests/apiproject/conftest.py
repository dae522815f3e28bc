from pathlib import Path

import pytest

from apiproject.management.commands import devsetup


@pytest.fixture
def failing_project_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """GET /api/v1/projects fails with an unhandled exception (a bug's 500)."""

    def explode(**kwargs: object) -> None:
        raise RuntimeError("boom: secret internals")

    monkeypatch.setattr("projects.views.project_list", explode)


@pytest.fixture(autouse=True)
def _dev_password_file_outside_the_repository(monkeypatch, tmp_path: Path) -> Path:
    # devsetup keeps the development password beside manage.py; tests keep theirs apart.
    path = tmp_path / "dev-admin-password"
    monkeypatch.setattr(devsetup, "PASSWORD_FILE", path)
    return path
