"""The settings and stored limits of rate limiting (docs/api.md, "Rate limiting"): `N/m` rates
validated wherever they are stored (settings refusing a bad rate at startup: test_settings.py;
createapikey --rate-limit: test_commands.py), the per-process warning of `check --deploy`, and what
/readyz and the API do when the cache cannot be reached."""

import logging
import secrets
import subprocess
from http import HTTPStatus

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apikeys.models import APIKey
from apikeys.services import apikey_issue
from apiproject.api.rates import requests_per_minute
from tests.factories import APIKeyFactory
from tests.processes import run_python

LOCAL_REDIS_URL = "redis://127.0.0.1:6379/15"  # never connected to: checks only read settings
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
PER_PROCESS_WARNING = "apikeys.W001"
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
    "\uff10/m",  # a fullwidth zero: a digit to str.isdigit, not to the API's `N/m` rule
    "",
]


def deploy_check(**environment: str) -> subprocess.CompletedProcess:
    return run_python(
        ["manage.py", "check", "--deploy"],
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        **environment,
    )


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
def test_key_with_a_bad_rate_limit_fails_model_validation(rate):
    api_key = APIKeyFactory()
    api_key.rate_limit = rate

    with pytest.raises(ValidationError) as raised:
        api_key.full_clean()

    assert set(raised.value.message_dict) == {"rate_limit"}


@pytest.mark.django_db
@pytest.mark.parametrize("rate", [None, "250/m"])
def test_key_with_no_or_a_good_rate_limit_passes_model_validation(rate):
    api_key = APIKeyFactory()
    api_key.rate_limit = rate

    api_key.full_clean()


@pytest.mark.django_db
def test_issuing_a_key_with_a_bad_rate_limit_is_refused_and_creates_nothing(user):
    with pytest.raises(ValidationError):
        apikey_issue(owner=user, rate_limit="100/")

    assert not APIKey.objects.exists()


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
