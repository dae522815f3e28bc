from pathlib import Path

import pytest

from apiproject.management.commands import devsetup


@pytest.fixture(autouse=True)
def _dev_password_file_outside_the_repository(monkeypatch, tmp_path: Path) -> Path:
    # devsetup keeps the development password beside manage.py; tests keep theirs apart.
    path = tmp_path / "dev-admin-password"
    monkeypatch.setattr(devsetup, "PASSWORD_FILE", path)
    return path
