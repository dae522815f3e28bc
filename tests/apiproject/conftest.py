import pytest


@pytest.fixture
def failing_project_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """GET /api/v1/projects fails with an unhandled exception (a bug's 500)."""

    def explode(**kwargs: object) -> None:
        raise RuntimeError("boom: secret internals")

    monkeypatch.setattr("projects.views.project_list", explode)
