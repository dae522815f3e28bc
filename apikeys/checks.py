from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

PROCESS_LOCAL_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


@register(Tags.caches, deploy=True)
def check_rate_limits_are_shared(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """`check --deploy`: outside development, counters in process memory are per process."""
    backend = settings.CACHES["default"]["BACKEND"]
    if settings.DEBUG or backend not in PROCESS_LOCAL_CACHES:
        return []
    return [
        Warning(
            "Rate limits are counted per process: the cache is process memory, so each "
            "worker and host grants every key its whole budget.",
            hint="Set REDIS_URL to a Redis server that every process and host shares.",
            id="apikeys.W001",
        )
    ]
