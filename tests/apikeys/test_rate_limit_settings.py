"""Contract section 6's settings and stored limits: `N/m` rates validated wherever they are
stored or configured, the per-process warning of `check --deploy`, and what /readyz and the
API do when the cache cannot be reached."""

import io
import logging
import re
import secrets
import subprocess
from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from rest_framework.test import APIClient

from apikeys.models import APIKey
from apikeys.services import apikey_issue
from apiproject.api.rates import requests_per_minute
from tests.processes import run_python as run

LOCAL_REDIS_URL = "redis://127.0.0.1:6379/15"  # never connected to: checks only read settings
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
PER_PROCESS_WARNING = "apikeys.W001"
LISTAPIKEYS_RATE_LIMIT_COLUMN = 6
COLUMN_GAP = re.compile(r" {2,}")
BAD_RATES = [
    "0/m",
    "1000001/m",
    "100/",
    "100",
    "5/0m",
    "100/s",
    "100/h",
    "100/M",
    " 100/m",
    "100/m ",
    "-1/m",
    "1e3/m",
    "\uff10/m",  # a fullwidth zero: a digit to str.isdigit, not to the contract
    "",
]


def django_setup(**environment: str) -> subprocess.CompletedProcess:
    return run(["-c", "import django; django.setup()"], **environment)


def deploy_check(**environment: str) -> subprocess.CompletedProcess:
    return run(
        ["manage.py", "check", "--deploy"],
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        **environment,
    )


def create_key(*args: str) -> str:
    """`createapikey` in this process; the key it printed."""
    stdout = io.StringIO()
    call_command("createapikey", *args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue().splitlines()[-1]


def rate_limit_cells() -> dict[str, str]:
    """listapikeys' RATE LIMIT cell of every key, by prefix."""
    stdout = io.StringIO()
    call_command("listapikeys", stdout=stdout)
    _header, *lines = stdout.getvalue().splitlines()
    rows = [COLUMN_GAP.split(line.strip()) for line in lines]
    return {cells[0]: cells[LISTAPIKEYS_RATE_LIMIT_COLUMN] for cells in rows}


# --- N/m rates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "per_minute"), [("1/m", 1), ("100/m", 100), ("1000000/m", 1_000_000)]
)
def test_rate_of_1_to_a_million_per_minute_is_accepted(rate, per_minute):
    assert requests_per_minute(rate) == per_minute


@pytest.mark.parametrize("rate", BAD_RATES)
def test_rate_other_than_n_per_minute_is_refused(rate):
    with pytest.raises(ValueError, match="is not a rate"):
        requests_per_minute(rate)


@pytest.mark.django_db
@pytest.mark.parametrize("rate", ["100/", "0/m", "100/s"])
def test_key_with_a_bad_rate_limit_fails_model_validation(user, issue_key, rate):
    api_key = issue_key(user).api_key
    api_key.rate_limit = rate

    with pytest.raises(ValidationError) as raised:
        api_key.full_clean()

    assert set(raised.value.message_dict) == {"rate_limit"}


@pytest.mark.django_db
@pytest.mark.parametrize("rate", [None, "250/m"])
def test_key_with_no_or_a_good_rate_limit_passes_model_validation(user, issue_key, rate):
    api_key = issue_key(user).api_key
    api_key.rate_limit = rate

    api_key.full_clean()


@pytest.mark.django_db
def test_issuing_a_key_with_a_bad_rate_limit_is_refused_and_creates_nothing(user):
    with pytest.raises(ValidationError):
        apikey_issue(owner=user, rate_limit="100/")

    assert not APIKey.objects.exists()


# --- createapikey --rate-limit and listapikeys --------------------------------------------------


@pytest.mark.django_db
def test_createapikey_stores_the_rate_limit_given(user):
    create_key(user.username, "--rate-limit", "1000/m")

    assert APIKey.objects.get(owner=user).rate_limit == "1000/m"


@pytest.mark.django_db
def test_createapikey_rate_limit_is_the_keys_limit_header(user):
    key = create_key(user.username, "--rate-limit", "1000/m")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    response = client.get(reverse("project-list"))

    assert response.status_code == HTTPStatus.OK
    assert response["X-RateLimit-Limit"] == "1000"


@pytest.mark.django_db
@pytest.mark.parametrize("rate", ["abc", "0/m", "100/"])
def test_createapikey_with_a_bad_rate_limit_is_a_command_error_and_creates_nothing(user, rate):
    with pytest.raises(CommandError, match="--rate-limit"):
        create_key(user.username, "--rate-limit", rate)

    assert not APIKey.objects.exists()


@pytest.mark.django_db
def test_listapikeys_shows_a_keys_own_rate_limit_or_default(user, issue_key):
    own = issue_key(user, rate_limit="1000/m").api_key
    default = issue_key(user).api_key

    cells = rate_limit_cells()

    assert cells == {own.prefix: "1000/m", default.prefix: "default"}


# --- settings at startup ------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["API_RATE_LIMIT", "API_FAILED_AUTH_RATE_LIMIT"])
@pytest.mark.parametrize("rate", ["100/", "5/0m"])
def test_settings_refuse_to_start_with_a_bad_rate(setting, rate):
    result = django_setup(DJANGO_SECRET_KEY="x", **{setting: rate})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert setting in result.stderr


def test_settings_refuse_to_start_with_a_negative_trusted_proxy_count():
    result = django_setup(DJANGO_SECRET_KEY="x", API_TRUSTED_PROXY_COUNT="-1")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "API_TRUSTED_PROXY_COUNT" in result.stderr


def test_settings_start_with_good_rates_and_use_them():
    result = run(
        [
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.API_RATE_LIMIT, s.API_FAILED_AUTH_RATE_LIMIT, s.API_TRUSTED_PROXY_COUNT)",
        ],
        DJANGO_SECRET_KEY="x",
        API_RATE_LIMIT="250/m",
        API_FAILED_AUTH_RATE_LIMIT="1000000/m",
        API_TRUSTED_PROXY_COUNT="2",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["250/m", "1000000/m", "2"]


# --- system checks ------------------------------------------------------------------------------


def test_deploy_check_warns_that_limits_are_per_process_without_redis():
    result = deploy_check()

    assert result.returncode == 0, result.stderr
    assert PER_PROCESS_WARNING in result.stderr


def test_deploy_check_does_not_warn_about_limits_with_redis():
    result = deploy_check(REDIS_URL=LOCAL_REDIS_URL)

    assert result.returncode == 0, result.stderr
    assert "System check identified" in result.stdout + result.stderr
    assert PER_PROCESS_WARNING not in result.stdout + result.stderr


def test_deploy_check_does_not_warn_about_limits_in_debug():
    result = deploy_check(DJANGO_DEBUG="1")

    assert result.returncode == 0, result.stderr
    assert "System check identified" in result.stdout + result.stderr
    assert PER_PROCESS_WARNING not in result.stdout + result.stderr


@pytest.mark.parametrize("redis_url", [None, LOCAL_REDIS_URL], ids=["memory", "redis"])
def test_check_is_clean_with_either_cache(redis_url):
    environment = {"REDIS_URL": redis_url} if redis_url else {}

    result = run(["manage.py", "check"], DJANGO_SECRET_KEY="x", **environment)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert result.stderr == ""


# --- an unreachable cache -----------------------------------------------------------------------


@pytest.fixture
def unreachable_cache(settings):
    """The cache is a Redis that refuses connections (nothing listens on port 1).

    Changing CACHES makes Django close and forget its cache connections (setting_changed).
    """
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        }
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("unreachable_cache")
def test_readyz_is_503_naming_the_cache_when_it_is_unreachable(anonymous_client):
    response = anonymous_client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["error"]["code"] == "service_unavailable"
    assert "cache" in response.json()["error"]["details"]


@pytest.mark.django_db
@pytest.mark.usefixtures("unreachable_cache")
def test_unreachable_cache_still_serves_a_key_without_rate_limit_headers(user_client):
    response = user_client.get(reverse("project-list"))

    assert response.status_code == HTTPStatus.OK
    for header in RATE_LIMIT_HEADERS:
        assert header not in response, header


@pytest.mark.django_db
@pytest.mark.usefixtures("unreachable_cache")
def test_unreachable_cache_logs_one_warning_without_traceback(user_client, caplog):
    with caplog.at_level(logging.WARNING, logger="apiproject.api.ratelimit"):
        user_client.get(reverse("project-list"))

    records = [record for record in caplog.records if record.name == "apiproject.api.ratelimit"]
    assert [record.levelno for record in records] == [logging.WARNING]
    assert records[0].exc_info is None
