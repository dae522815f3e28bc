"""The in-process tests of authentication and the key cache, the limits, key usage, the failure
budgets and the admin's login limits, and /readyz, run again on the tests' private Redis Cluster
(docs/operations.md, "Redis Cluster"): the same files, unchanged, in a pytest of their own with
REDIS_CLUSTER=1 and REDIS_URL naming the cluster's nodes, as an operator configures it.

A process of their own rather than parametrized fixtures: the service reads the cache from its
settings when it starts, and so do these tests, every fixture included; there, the Redis that
refuses or never answers of their fault cases becomes a cluster that cannot be reached."""

import re
import subprocess
import sys

import pytest

from tests.processes import PROJECT_DIR, project_environment
from tests.servers import database_for_a_test_run

pytestmark = pytest.mark.rediscluster

SUITES = [
    "tests/apikeys/test_authentication.py",
    "tests/apikeys/test_key_cache.py",
    "tests/apikeys/test_key_cache_changes.py",
    "tests/apikeys/test_key_usage.py",
    "tests/apikeys/test_throttling.py",
    "tests/apiproject/test_failure_budgets.py",
    "tests/apiproject/test_admin_login.py",
    "tests/apiproject/test_admin_login_failures.py",
    "tests/apiproject/test_admin_login_simultaneous.py",
    "tests/apiproject/test_health.py",
]
RUN_TIMEOUT = 900
COMMANDS_PER_NODE = 1000  # each node did real work, not one PING


def commands_processed(cluster) -> dict[int, int]:
    return {
        port: cluster.node(port).info("stats")["total_commands_processed"] for port in cluster.ports
    }


def test_the_key_cache_limits_usage_and_login_limits_pass_on_a_cluster(
    redis_cluster, django_db_blocker
):
    before = commands_processed(redis_cluster)
    with django_db_blocker.unblock(), database_for_a_test_run() as database:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *SUITES],
            cwd=PROJECT_DIR,
            env=project_environment(REDIS_CLUSTER="1", REDIS_URL=redis_cluster.url, **database),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    output = result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""

    assert result.returncode == 0, output[-8000:]
    assert re.match(r"\d+ passed", summary) and "failed" not in summary, summary
    assert "needs Redis" not in output  # no test skipped for want of the cache
    after = commands_processed(redis_cluster)
    assert all(after[port] - before[port] > COMMANDS_PER_NODE for port in redis_cluster.ports)
