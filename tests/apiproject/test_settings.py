"""Settings read from the environment, and the public API docs."""

import os
import re
import runpy
from http import HTTPStatus
from typing import Any
from unittest import mock

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.urls import reverse
from rest_framework.test import APIClient

from tests.kit import GITHUB_KEY, github_keys_json, leak_reports_enabled
from tests.processes import PROJECT_DIR, project_environment, run_python

ASSET_URL = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)=["']([^"']+)["']""")
SETTINGS_FILE = PROJECT_DIR / "apiproject" / "settings.py"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/15"  # never connected to: checks only read settings
# (environment, the setting the refusal names), each refused at startup.
BAD_ENVIRONMENTS = {
    "no secret key outside debug": ({}, "DJANGO_SECRET_KEY"),
    "debug neither on nor off": (
        {"DJANGO_DEBUG": "maybe", "DJANGO_SECRET_KEY": "x"},
        "DJANGO_DEBUG",
    ),
    **{
        f"{setting}={rate}": ({"DJANGO_SECRET_KEY": "x", setting: rate}, setting)
        for setting in ["API_RATE_LIMIT", "API_FAILED_AUTH_RATE_LIMIT"]
        for rate in ["100/", "5/0m"]
    },
    "negative trusted proxy count": (
        {"DJANGO_SECRET_KEY": "x", "API_TRUSTED_PROXY_COUNT": "-1"},
        "API_TRUSTED_PROXY_COUNT",
    ),
    "transaction pooling without PostgreSQL": (
        {"DJANGO_SECRET_KEY": "x", "DATABASE_TRANSACTION_POOLING": "1"},
        "DATABASE_TRANSACTION_POOLING",
    ),
    "a redis cluster without seeds": (
        {"DJANGO_SECRET_KEY": "x", "REDIS_CLUSTER": "1"},
        "REDIS_URL",
    ),
    **{
        f"a redis cluster seeded with {seeds}": (
            {"DJANGO_SECRET_KEY": "x", "REDIS_CLUSTER": "1", "REDIS_URL": seeds},
            "REDIS_URL",
        )
        for seeds in [
            "redis://127.0.0.1:7000/1",  # a cluster has database 0 only
            "http://127.0.0.1:7000",
            "redis://127.0.0.1:port",
            "redis://:one@127.0.0.1:7000,redis://:two@127.0.0.1:7001",  # two clusters' passwords
            "rediss://127.0.0.1:7000,redis://127.0.0.1:7001",
        ]
    },
}


def settings_from(**environment: str) -> dict[str, Any]:
    """The settings a fresh process configured by `environment` alone reads: the settings
    module run anew in this process on that environment. (A process costs a second of CPU; what
    it adds, django.setup() and the checks, the `manage.py check` tests run in processes.)"""
    with mock.patch.dict(os.environ, project_environment(**environment), clear=True):
        return runpy.run_path(str(SETTINGS_FILE))


# --- settings from the environment ----------------------------------------------------------


@pytest.mark.parametrize("bad", list(BAD_ENVIRONMENTS))
def test_settings_refuse_to_start_naming_a_bad_setting(bad):
    environment, setting = BAD_ENVIRONMENTS[bad]

    with pytest.raises(ImproperlyConfigured, match=setting):
        settings_from(**environment)


def test_a_bad_setting_stops_the_process_at_startup():
    result = run_python(["-c", "import django; django.setup()"], DJANGO_DEBUG="maybe")

    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_DEBUG" in result.stderr


def test_settings_start_without_a_secret_key_in_debug():
    assert settings_from(DJANGO_DEBUG="1")["SECRET_KEY"]


def test_settings_start_with_good_rates_and_use_them():
    configured = settings_from(
        DJANGO_SECRET_KEY="x",
        API_RATE_LIMIT="250/m",
        API_FAILED_AUTH_RATE_LIMIT="1000000/m",
        API_TRUSTED_PROXY_COUNT="2",
    )

    assert configured["API_RATE_LIMIT"] == "250/m"
    assert configured["API_FAILED_AUTH_RATE_LIMIT"] == "1000000/m"
    assert configured["API_TRUSTED_PROXY_COUNT"] == 2


@pytest.mark.parametrize("redis_url", [None, LOCAL_REDIS_URL], ids=["memory", "redis"])
def test_manage_check_is_clean_with_a_secret_key_and_either_cache(redis_url):
    environment = {"REDIS_URL": redis_url} if redis_url else {}

    result = run_python(["manage.py", "check"], DJANGO_SECRET_KEY="x", **environment)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert result.stderr == ""


def test_a_redis_cluster_is_django_redis_on_our_cluster_client_with_every_seed():
    cache = settings_from(
        DJANGO_SECRET_KEY="x",
        REDIS_CLUSTER="1",
        REDIS_URL="rediss://:pw@10.0.0.1:7000/0, rediss://:pw@10.0.0.2:7000/0",
    )["CACHES"]["default"]

    assert cache["LOCATION"] == "rediss://:pw@10.0.0.1:7000/0,rediss://:pw@10.0.0.2:7000/0"
    assert cache["OPTIONS"]["CLIENT_CLASS"] == "apiproject.api.rediscluster.RedisClusterClient"
    assert cache["OPTIONS"]["SOCKET_TIMEOUT"] == 0.25


def test_database_url_selects_postgresql():
    database = settings_from(
        DJANGO_SECRET_KEY="x", DATABASE_URL="postgres://someone:pw@db.example:5432/somedb"
    )["DATABASES"]["default"]

    # Django's PostgreSQL backend with client-side deadlines (apiproject/postgresql/base.py).
    assert (database["ENGINE"], database["NAME"]) == ("apiproject.postgresql", "somedb")


@pytest.mark.parametrize(
    ("pooling", "expected"),
    [
        # A session setting, sent at connection (libpq's startup `options`).
        ("0", ("-c statement_timeout=2500", None, "unset", False)),
        # PgBouncer refuses `options`: set by the backend in each transaction instead, and
        # nothing that outlives a transaction (apiproject/postgresql/base.py).
        ("1", (None, 2500, None, True)),
    ],
    ids=["direct", "transaction-pooling"],
)
def test_where_the_statement_limit_is_set(pooling, expected):
    database = settings_from(
        DJANGO_SECRET_KEY="x",
        DATABASE_URL="postgres://someone:pw@db.example:5432/somedb",
        DATABASE_STATEMENT_TIMEOUT="2.5",
        DATABASE_TRANSACTION_POOLING=pooling,
    )["DATABASES"]["default"]
    options = database["OPTIONS"]

    assert (
        options.get("options"),
        options.get("transaction_statement_timeout"),
        options.get("prepare_threshold", "unset"),
        database.get("DISABLE_SERVER_SIDE_CURSORS", False),
    ) == expected


def test_default_database_is_sqlite_beside_manage_py():
    database = settings_from(DJANGO_SECRET_KEY="x")["DATABASES"]["default"]

    assert (database["ENGINE"], database["NAME"]) == (
        "django.db.backends.sqlite3",
        str(PROJECT_DIR / "db.sqlite3"),
    )


# --- /api/schema and /api/docs are public ---------------------------------------------------


@pytest.fixture(scope="module")
def schema_response(tmp_path_factory: pytest.TempPathFactory) -> HttpResponse:
    # Generated once: every test below reads the same document (a second each otherwise). With
    # leak reports on, the schema holds every operation (docs/api.md, "Leak reports").
    keys_file = tmp_path_factory.mktemp("leak-reports") / "github-keys.json"
    keys_file.write_text(github_keys_json(GITHUB_KEY))
    with leak_reports_enabled(keys_file):
        return APIClient().get(reverse("schema"))


@pytest.fixture(scope="module")
def schema(schema_response) -> dict:
    return yaml.safe_load(schema_response.content)


@pytest.fixture
def docs_response(anonymous_client):
    return anonymous_client.get(reverse("docs"))


@pytest.fixture
def docs_asset_urls(docs_response) -> list[str]:
    return ASSET_URL.findall(docs_response.content.decode())


def test_schema_is_served_without_a_key(schema_response):
    assert schema_response.status_code == HTTPStatus.OK


def test_schema_is_an_openapi_3_document(schema):
    assert str(schema["openapi"]).startswith("3.")


def test_schema_describes_projects_and_users(schema):
    assert {"/api/v1/projects", "/api/v1/users/{user_id}"} <= set(schema["paths"])


def test_schema_declares_a_bearer_security_scheme(schema):
    schemes = schema["components"]["securitySchemes"].values()

    assert any(s["type"] == "http" and s["scheme"].lower() == "bearer" for s in schemes)


def test_schema_paths_are_written_without_a_trailing_slash(schema):
    assert set(schema["paths"]) == {
        "/api/v1/keys",
        "/api/v1/keys/{key_id}",
        "/api/v1/keys/{key_id}/events",
        "/api/v1/keys/{key_id}/roll",
        "/api/v1/keys/{key_id}/usage",
        "/api/v1/leaked-keys",
        "/api/v1/projects",
        "/api/v1/projects/{project_id}",
        "/api/v1/users",
        "/api/v1/users/me",
        "/api/v1/users/{user_id}",
    }


def test_schema_says_user_creation_refuses_unknown_fields(schema):
    assert schema["components"]["schemas"]["UserCreate"]["additionalProperties"] is False


def test_schema_says_usernames_are_ascii_and_passwords_at_least_8_characters(schema):
    fields = schema["components"]["schemas"]["UserCreate"]["properties"]

    assert fields["username"]["pattern"] == "^[A-Za-z0-9.@+_-]+$"
    assert fields["password"]["minLength"] == 8


def test_schema_documents_the_error_envelope_for_each_operation(schema):
    create = schema["paths"]["/api/v1/users"]["post"]["responses"]

    assert {"400", "401", "403", "406", "413", "415", "429"} <= set(create)
    assert create["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationError"
    }
    for status in ["401", "403", "406", "413", "415", "429"]:
        assert create[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


def test_schema_lists_fields_only_in_the_validation_error(schema):
    components = schema["components"]["schemas"]

    assert "fields" in components["ValidationErrorDetail"]["properties"]
    assert "fields" not in components["ErrorDetail"]["properties"]


def test_schema_documents_the_rate_limit_headers(schema):
    responses = schema["paths"]["/api/v1/projects"]["get"]["responses"]
    rate_headers = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}

    assert rate_headers <= set(responses["200"]["headers"])
    assert rate_headers | {"Retry-After"} <= set(responses["429"]["headers"])
    # A 401 has no valid key to count against: its headers are the challenge alone.
    assert set(responses["401"]["headers"]) == {"WWW-Authenticate"}


def test_schema_ignores_a_bogus_authorization_header(anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-key")

    response = anonymous_client.get(reverse("schema"))

    assert response.status_code == HTTPStatus.OK


def test_docs_are_a_swagger_ui_page_served_without_a_key(docs_response):
    assert docs_response.status_code == HTTPStatus.OK
    assert docs_response["Content-Type"].startswith("text/html")
    assert b"swagger-ui" in docs_response.content


def test_docs_ignore_a_bogus_authorization_header(anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-key")

    response = anonymous_client.get(reverse("docs"))

    assert response.status_code == HTTPStatus.OK


def test_docs_load_their_assets_from_this_project(docs_asset_urls):
    assert any(url.endswith(".js") for url in docs_asset_urls)
    assert any(url.endswith(".css") for url in docs_asset_urls)
    for url in docs_asset_urls:
        assert url.startswith("/static/"), url
        assert "://" not in url and not url.startswith("//"), url


def test_docs_assets_exist_among_the_static_files(docs_asset_urls):
    for url in docs_asset_urls:
        assert finders.find(url.removeprefix("/static/")), url
