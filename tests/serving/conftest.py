"""Tests of the production stack (nginx, gunicorn, PostgreSQL, Redis): marked `nginx`,
skipped without nginx unless CI=true, where they fail."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.conftest import IN_CI
from tests.serving.stack import NGINX, POSTGRESQL_BIN, PrivatePostgreSQL, private_postgresql

SERVING_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's tests: mark only this folder's.
    for item in items:
        if SERVING_TESTS in item.path.parents:
            item.add_marker(pytest.mark.nginx)
            item.add_marker(pytest.mark.postgresql)
            item.add_marker(pytest.mark.redis)


# Session-scoped so that it comes before the modules' stack fixtures, which would otherwise
# start (and fail) first.
@pytest.fixture(scope="session", autouse=True)
def _nginx_and_postgresql_binaries() -> None:
    missing = [str(path) for path in (NGINX, POSTGRESQL_BIN / "initdb") if not path.exists()]
    if missing:
        reason = f"needs {', '.join(missing)} (apt-get install -y nginx postgresql-15)"
        if IN_CI:
            pytest.fail(f"CI requires the serving stack: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def stack_postgresql() -> Iterator[PrivatePostgreSQL]:
    with private_postgresql() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_url() -> str:
    return django_settings.REDIS_URL
