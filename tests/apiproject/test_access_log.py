"""One access line per request, a 4xx logged once at INFO
(docs/operations.md, "Logs and metrics")."""

import json
import logging
from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.factories import APIKeyFactory
from tests.processes import run_python

ACCESS_LOGGER = "apiproject.api.access_log"


def access_lines(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == ACCESS_LOGGER]


def test_one_line_per_request_with_the_key_prefix_never_the_key(caplog, user, client):
    api_key = APIKeyFactory(owner=user)
    caplog.set_level(logging.INFO)

    response = client.get(
        reverse("project-list"),
        HTTP_AUTHORIZATION=f"Bearer {api_key.plaintext}",
        HTTP_X_REQUEST_ID="req-42",
    )

    assert response.status_code == HTTPStatus.OK
    [line] = access_lines(caplog)
    assert line.levelno == logging.INFO
    assert (line.method, line.path, line.status) == ("GET", "/api/v1/projects", 200)
    assert line.key_prefix == api_key.prefix
    assert line.duration_ms >= 0
    assert line.request_id == "req-42"
    assert api_key.plaintext not in caplog.text
    assert api_key.prefix in line.getMessage()


def test_a_4xx_is_logged_once_at_info(caplog, db, client):
    caplog.set_level(logging.INFO)

    response = client.get(reverse("project-list"), HTTP_AUTHORIZATION="Bearer nonsense")

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert [(r.name, r.levelno) for r in caplog.records] == [(ACCESS_LOGGER, logging.INFO)]
    assert access_lines(caplog)[0].key_prefix is None
    assert access_lines(caplog)[0].getMessage().endswith(" key=-")


@pytest.mark.parametrize("path", ["/api/v1/projects", "/admin/", "/no-such-path"])
def test_a_disallowed_host_is_a_400_logged_once_at_info(caplog, db, client, settings, path):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    caplog.set_level(logging.INFO)

    response = client.get(path, HTTP_HOST="evil.example")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert [(r.name, r.levelno) for r in caplog.records] == [(ACCESS_LOGGER, logging.INFO)]
    assert "Traceback" not in caplog.text


def test_a_forged_line_break_in_the_path_stays_on_one_line(caplog, db, client):
    caplog.set_level(logging.INFO)

    client.get("/api/x%0Afake%20line")

    assert "\n" not in access_lines(caplog)[0].getMessage()


def test_json_lines_when_configured(tmp_path):
    code = (
        "import django; django.setup();"
        "from django.test import Client;"
        "Client().get('/healthz', HTTP_X_REQUEST_ID='abc')"
    )

    result = run_python(
        ["-c", code],
        DJANGO_LOG_FORMAT="json",
        DJANGO_SECRET_KEY="x",
        DJANGO_DEBUG="0",
        DJANGO_STATIC_ROOT=str(tmp_path),  # no warning about a missing collectstatic
    )

    assert result.returncode == 0, result.stderr
    [line] = [json.loads(text) for text in result.stderr.splitlines()]
    assert line["logger"] == ACCESS_LOGGER
    assert (line["level"], line["request_id"], line["status"]) == ("INFO", "abc", 200)
    assert (line["method"], line["path"]) == ("GET", "/healthz")
    assert "key_prefix" in line and "duration_ms" in line


def test_an_unknown_log_format_refuses_to_start():
    result = run_python(
        ["-c", "import django; django.setup()"], DJANGO_LOG_FORMAT="xml", DJANGO_DEBUG="1"
    )

    assert result.returncode != 0
    assert "DJANGO_LOG_FORMAT" in result.stderr
