"""`make run` for a person developing: the admin password of `dev` made once and kept, so a
restart logs nobody out; `/` leads to the docs; the docs and schema answer with a trailing
slash too; and the development server logs each 4xx once."""

import queue
import re
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http import HTTPStatus

import pytest
from django.test import Client

from tests.kit import found, run_command
from tests.processes import PROJECT_DIR, free_port, project_environment
from users.models import User

PASSWORD_LINE = re.compile(r"user dev\s+password (\S+)")


def devsetup() -> str:
    """Runs devsetup; the admin password it prints."""
    return found(PASSWORD_LINE, run_command("devsetup")[0])


# --- The kept password ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_devsetup_prints_the_same_password_on_every_run(
    debug, _dev_password_file_outside_the_repository
):
    first, second = devsetup(), devsetup()

    assert first == second
    assert _dev_password_file_outside_the_repository.read_text().strip() == first
    assert Client().login(username="dev", password=first)


@pytest.mark.django_db
def test_devsetup_again_keeps_dev_logged_in(debug):
    password = devsetup()
    browser = Client()
    assert browser.login(username="dev", password=password)

    devsetup()

    assert browser.get("/admin/").status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_the_password_file_is_readable_by_its_owner_only(
    debug, _dev_password_file_outside_the_repository
):
    devsetup()

    mode = stat.S_IMODE(_dev_password_file_outside_the_repository.stat().st_mode)
    assert mode == 0o600


@pytest.mark.django_db
def test_a_removed_password_file_gets_a_new_password(
    debug, _dev_password_file_outside_the_repository
):
    first = devsetup()
    _dev_password_file_outside_the_repository.unlink()

    second = devsetup()

    assert second != first
    assert Client().login(username="dev", password=second)


@pytest.mark.django_db
def test_dev_is_a_superuser(debug):
    devsetup()

    assert User.objects.get(username="dev").is_superuser


def test_the_password_file_is_git_ignored():
    assert ".dev-admin-password" in (PROJECT_DIR / ".gitignore").read_text().splitlines()


# --- Addresses ------------------------------------------------------------------------------------


def test_the_root_redirects_to_the_docs(client):
    response = client.get("/")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/api/docs"


@pytest.mark.parametrize("path", ["/api/docs", "/api/docs/"])
def test_the_docs_answer_with_or_without_a_trailing_slash(client, path):
    response = client.get(path)

    assert response.status_code == HTTPStatus.OK
    assert "swagger-ui" in response.content.decode().lower()


@pytest.mark.parametrize("path", ["/api/schema", "/api/schema/"])
def test_the_schema_answers_with_or_without_a_trailing_slash(client, path):
    response = client.get(path)

    assert response.status_code == HTTPStatus.OK
    assert "openapi" in response.content.decode()


# --- One console line per 4xx -------------------------------------------------------------------


def test_the_development_server_logs_a_4xx_once(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=PROJECT_DIR,
        env=project_environment(
            DJANGO_DEBUG="1",
            DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
            PYTHONUNBUFFERED="1",  # each line as it is written, as on a terminal
        ),
        # The console a developer sees: both streams ("Quit the server with" is on stdout).
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in server.stdout], daemon=True
    ).start()
    seen: list[str] = []

    def wait_for(text: str) -> None:
        # The access line is written just after the answer is sent: wait for it, not a while.
        deadline = time.monotonic() + 20
        while not any(text in line for line in seen):
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))

    try:
        wait_for("Quit the server with")
        for path in ["/api/v1/no-such-thing", "/api/v1/projects"]:  # 404, 401
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
            wait_for(f"GET {path} 40")  # our access line (django.server is quiet)
    finally:
        server.terminate()
        server.wait(timeout=10)
    while not lines.empty():
        seen.append(lines.get())

    assert len([line for line in seen if "no-such-thing" in line]) == 1, seen
    assert len([line for line in seen if "/api/v1/projects" in line]) == 1, seen
