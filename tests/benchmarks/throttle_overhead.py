"""What the API-key rate limit costs a request: prints figures, asserts nothing.

    make bench                                   # the configured cache (process memory)
    REDIS_URL=redis://127.0.0.1:6379/15 make bench   # Redis, as in production

It uses a throwaway SQLite database, whatever DATABASE_URL says: the database is not what is
measured. Counters it leaves in Redis expire within a minute.
"""

import os
import statistics
import tempfile
import time
from collections.abc import Callable

CALLS = 5000
REQUESTS = 2000
ROUNDS = 10


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return (
        f"mean {statistics.fmean(ordered) * 1e6:.0f} us, median "
        f"{statistics.median(ordered) * 1e6:.0f} us, p99 {p99 * 1e6:.0f} us"
    )


def timed(action: Callable[[], object], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="bench-throttle-")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["API_RATE_LIMIT"] = "1000000/m"  # measure counting, never refuse
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apiproject.settings")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from apikeys.services import apikey_issue
    from apikeys.throttling import API_KEY_GROUP
    from apiproject.api.ratelimit import count_request
    from projects.models import Project
    from projects.views import ProjectViewSet
    from users.models import User

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", "bench@example.com", "bench-password-1")
    Project.objects.bulk_create(Project(owner=user, name=f"Project {n}") for n in range(20))
    key = apikey_issue(owner=user).plaintext

    cache = settings.CACHES["default"]
    print(f"cache: {cache['BACKEND']} {cache.get('LOCATION', '')}".rstrip())

    request = Request(APIRequestFactory().get("/api/v1/projects"))
    count_request(request, group=API_KEY_GROUP, key="bench", rate="1000000/m")  # connect
    samples = timed(
        lambda: count_request(request, group=API_KEY_GROUP, key="bench", rate="1000000/m"),
        CALLS,
    )
    print(f"counting one request ({CALLS} calls): {percentiles(samples)}")

    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.get("/api/v1/projects")  # warm up: imports, connections, last_used_at

    def page() -> None:
        assert client.get("/api/v1/projects").status_code == 200

    # Alternating rounds, so that drift in the machine's load hits both sides alike.
    with_throttle: list[float] = []
    without_throttle: list[float] = []
    throttle_classes = ProjectViewSet.throttle_classes
    for _round in range(ROUNDS):
        with_throttle += timed(page, REQUESTS // ROUNDS)
        ProjectViewSet.throttle_classes = []
        try:
            without_throttle += timed(page, REQUESTS // ROUNDS)
        finally:
            ProjectViewSet.throttle_classes = throttle_classes
    median_with = statistics.median(with_throttle) * 1e3
    median_without = statistics.median(without_throttle) * 1e3
    print(
        f"GET /api/v1/projects ({REQUESTS} requests each): median {median_with:.3f} ms with "
        f"the throttle, {median_without:.3f} ms without: "
        f"{(median_with - median_without) * 1e3:+.0f} us per request"
    )


if __name__ == "__main__":
    main()
