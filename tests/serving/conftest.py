"""Tests of the production stack (nginx, gunicorn, PostgreSQL, Redis): marked `nginx`,
skipped without nginx unless CI=true, where they fail."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.conftest import IN_CI, redis_unavailable_reason
from tests.serving.stack import NGINX, POSTGRESQL_BIN, PrivatePostgreSQL, private_postgresql

SERVING_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's tests: mark only this folder's.
    for item in items:
        if SERVING_TESTS in item.path.parents:
            item.add_marker(pytest.mark.nginx)
            item.add_marker(pytest.mark.postgresql)
            item.add_marker(pytest.mark.redis)


# The markers' rules (and the binaries'), session-scoped so that they come before the modules'
# stack fixtures: those would otherwise start a whole stack for tests that then skip.
@pytest.fixture(scope="session", autouse=True)
def _what_the_stack_needs() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://...")
    missing = [str(path) for path in (NGINX, POSTGRESQL_BIN / "initdb") if not path.exists()]
    reason = redis_unavailable_reason()
    if missing:
        reason = f"needs {', '.join(missing)} (apt-get install -y nginx postgresql-15)"
    if reason:
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
